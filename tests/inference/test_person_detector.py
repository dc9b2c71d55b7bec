"""Tests of the person detector box source (ava_tx.inference.person_detector and
person_boxes.DetectorPersonBoxes): letterboxing, decoding, the mapping back to the frame, the
flags' choice of box source, and the fetched detector on the real cricket clip."""

import json

import numpy as np
from PIL import Image
import pytest

from ava_tx.core import errors
from ava_tx.core.tf_setup import tf
from ava_tx.data import ava_annotations
from ava_tx.inference import person_boxes
from ava_tx.inference import person_detector
from ava_tx.inference import predict_lib
from tests.data import video_fixtures
from tests.inference import fakes
from tests.trunks import kinetics_files

FETCHED = kinetics_files.PRETRAINED / "person_detector"

# MoveNet's layout: per person 17 x (y, x, score), then ymin, xmin, ymax, xmax, score.
_PEOPLE = [
  ([0.1, 0.2, 0.5, 0.6], 0.9),
  ([0.11, 0.21, 0.5, 0.6], 0.8),  # Overlaps the first (IoU 0.95): suppressed.
  ([0.0, 0.5, 0.25, 0.75], 0.2),  # Below min_score 0.3.
  ([0.2, 0.0, 0.3, 0.1], 0.5),
  ([0.3, 0.3, 0.3, 0.4], 0.95),  # No height.
  ([0.0, 0.0, 0.0, 0.0], 0.0),
]


def _movenet_output():
  rows = np.zeros([1, 6, 56], np.float32)
  for i, (box, score) in enumerate(_PEOPLE):
    rows[0, i, 51:55], rows[0, i, 55] = box, score
  return rows


def _write_fake_detector(directory, *, default="movenet-multipose"):
  """A SavedModel with MoveNet's signature that returns `_PEOPLE` whatever it sees."""
  module = tf.Module()
  output = tf.constant(_movenet_output())
  module.serve = tf.function(
    lambda images: {"Identity": output + 0.0 * tf.reduce_sum(tf.cast(images, tf.float32))},
    input_signature=[tf.TensorSpec([1, None, None, 3], tf.int32, name="images")],
  )
  tf.saved_model.save(module, str(directory / "movenet-multipose"))
  (directory / "source.json").write_text(
    json.dumps({"default": default, "models": {"movenet-multipose": {}}})
  )


def test_letterbox_keeps_the_aspect_ratio_and_pads_below_and_right():
  frame = np.full([2, 4, 3], 200, np.uint8)
  square, scale = person_detector.letterbox(frame, 8)
  assert scale == 2.0 and square.shape == (8, 8, 3)
  assert (square[:4] == 200).all() and (square[4:] == 0).all()
  square, scale = person_detector.letterbox(np.full([6, 3, 3], 9, np.uint8), 4)
  assert scale == pytest.approx(4 / 6) and (square[:, :2] == 9).all() and (square[:, 2:] == 0).all()


def test_decoders():
  movenet = person_detector.DECODERS["movenet-multipose"]
  boxes, scores = movenet.decode({"Identity": _movenet_output()})
  np.testing.assert_allclose(boxes[0], [0.1, 0.2, 0.5, 0.6], rtol=1e-6)
  np.testing.assert_allclose(scores, [p[1] for p in _PEOPLE], rtol=1e-6)
  square = np.arange(256 * 256 * 3).reshape(256, 256, 3).astype(np.uint8)
  assert movenet.prepare(square).dtype == np.int32
  np.testing.assert_array_equal(movenet.prepare(square)[0], square)
  centernet = person_detector.DECODERS["centernet"]
  rows = np.array(
    [[[51.2, 102.4, 256.0, 512.0, 0.7, 0.0], [0, 0, 10, 10, 0.9, 2.0], [0, 0, 5, 5, 0.4, 80.0]]]
  )
  # x1, y1, x2, y2 pixels of 512; class 0 (or 80) is a person.
  boxes, scores = centernet.decode({"tower_0_detections": rows})
  np.testing.assert_allclose(boxes, [[0.2, 0.1, 1.0, 0.5], [0, 0, 5 / 512, 5 / 512]])
  np.testing.assert_allclose(scores, [0.7, 0.4])


def test_nanodet_decoder():
  nanodet = person_detector.DECODERS["nanodet"]
  pixel = np.zeros([416, 416, 3], np.uint8)
  pixel[0, 0] = [123, 116, 104]  # RGB; NanoDet takes BGR minus its means, over its deviations.
  prepared = nanodet.prepare(pixel)
  assert prepared.shape == (1, 3, 416, 416) and prepared.dtype == np.float32
  np.testing.assert_allclose(
    prepared[0, :, 0, 0],
    [(104 - 103.53) / 57.375, (116 - 116.28) / 57.12, (123 - 123.675) / 58.395],
    rtol=1e-6,
  )
  outputs = {}
  for level, cells in enumerate((52 * 52, 26 * 26, 13 * 13)):
    outputs["Identity" + ("_%d" % level if level else "")] = np.zeros([1, cells, 80])
    outputs["Identity_%d" % (level + 3)] = np.zeros([1, cells, 44])
  # Stride 8, row 10, column 20: the centre (x 164, y 84). Left 2 strides, top 1, right 3,
  # bottom 0.5 (logits that put all weight on one bin, or half on bins 0 and 1).
  cell = 10 * 52 + 20
  outputs["Identity"][0, cell, 0], outputs["Identity"][0, cell, 1] = 0.9, 0.99
  logits = np.full([4, 11], -100.0)
  logits[0, 2] = logits[1, 1] = logits[2, 3] = logits[3, 0] = logits[3, 1] = 0.0
  outputs["Identity_3"][0, cell] = logits.reshape(-1)
  # Stride 32, the last cell (row 12, column 12: the centre 400, 400), all sides 1 stride.
  logits = np.full([4, 11], -100.0)
  logits[:, 1] = 0.0
  outputs["Identity_5"][0, -1] = logits.reshape(-1)
  outputs["Identity_2"][0, -1, 0] = 0.6
  boxes, scores = nanodet.decode(outputs)
  assert boxes.shape == (52 * 52 + 26 * 26 + 13 * 13, 4)
  np.testing.assert_allclose(boxes[cell] * 416, [84 - 8, 164 - 16, 84 + 4, 164 + 24], atol=1e-9)
  np.testing.assert_allclose(boxes[-1] * 416, [368, 368, 432, 432], atol=1e-9)
  assert scores[cell] == 0.9 and scores[-1] == 0.6  # Person scores only (class 0).
  assert np.count_nonzero(scores) == 2


def test_boxes_are_mapped_back_to_the_frame_thresholded_and_suppressed(tmp_path):
  _write_fake_detector(tmp_path)
  assert person_detector.PersonDetector(str(tmp_path)).min_score == 0.3  # MoveNet's default.
  detector = person_detector.PersonDetector(str(tmp_path), min_score=0.3)
  assert detector.model == "movenet-multipose"
  # 100 x 200: scaled by 1.28 to 128 x 256 at the top of the 256 square, so a fraction y of
  # the square is 2 y of the frame's height and x stays x.
  boxes, scores = detector.detect(np.zeros([100, 200, 3], np.uint8))
  np.testing.assert_allclose(boxes, [[0.2, 0.2, 1.0, 0.6], [0.4, 0.0, 0.6, 0.1]], atol=1e-6)
  np.testing.assert_allclose(scores, [0.9, 0.5], rtol=1e-6)
  assert boxes.dtype == np.float32 and scores.dtype == np.float32


def test_a_missing_detector_names_the_fetch_command(tmp_path, monkeypatch):
  with pytest.raises(
    errors.InputError,
    match=r"--person_detector .*nowhere: no person detector there .*"
    r"`python -m data_tools.fetch_person_detector --output_dir .*nowhere`",
  ):
    person_detector.PersonDetector(str(tmp_path / "nowhere"))
  _write_fake_detector(tmp_path)
  with pytest.raises(
    errors.InputError, match=r"has no model 'centernet' \(it has movenet-multipose\)"
  ):
    person_detector.PersonDetector(str(tmp_path), model="centernet")
  # Without a CSV or --person_detector, a model without an RPN looks in the default directory.
  monkeypatch.setattr(person_detector, "DEFAULT_DIR", str(tmp_path / "absent"))
  with pytest.raises(
    errors.InputError,
    match=r"it has no RPN\): give --person_boxes_csv or --person_detector, or fetch the default "
    r"person detector with `python -m data_tools.fetch_person_detector --output_dir .*absent`",
  ):
    person_boxes.make_box_source(uses_person_boxes=True)
  monkeypatch.setattr(person_detector, "DEFAULT_DIR", str(tmp_path))
  source = person_boxes.make_box_source(uses_person_boxes=True)
  assert isinstance(source, person_boxes.DetectorPersonBoxes) and source.needs_frames
  # A model with an RPN runs without detector boxes unless --person_detector is given.
  assert isinstance(
    person_boxes.make_box_source(uses_person_boxes=True, has_rpn=True), person_boxes.NoPersonBoxes
  )
  source = person_boxes.make_box_source(
    uses_person_boxes=True, has_rpn=True, detector_dir=str(tmp_path)
  )
  assert isinstance(source, person_boxes.DetectorPersonBoxes)


class _StubDetector:
  """One fixed box; records the shape and grey level (rows below the moving square) of each
  frame it saw."""

  def __init__(self):
    self.shapes, self.levels = [], []

  def detect(self, frame):
    self.shapes.append(frame.shape)
    self.levels.append(float(frame[20:].mean()))
    return np.array([[0.1, 0.2, 0.3, 0.4]], np.float32), np.array([0.8], np.float32)


def test_predict_runs_the_detector_on_each_keyframes_full_frame(tmp_path):
  video = tmp_path / "walk.mp4"
  # 25 fps: keyframes 0, 1, 2 s are frames 0, 25, 50, whose grey levels differ (at 30 fps
  # frames 0, 30 and 60 share one: the levels repeat every 30 frames).
  video_fixtures.write_video(video, video_fixtures.signature_frames(75), fps=25)
  stub = _StubDetector()
  detector = fakes.FakeDetector(fakes.fake_info(uses_person_boxes=True))
  options = predict_lib.PredictOptions(output_dir=str(tmp_path), write_video=False, batch_size=8)
  [result] = predict_lib.predict_videos(
    detector,
    [str(video)],
    options,
    box_source=person_boxes.DetectorPersonBoxes(stub),
    log=lambda _: None,
  )
  assert result.error is None
  assert stub.shapes == [(48, 64, 3)] * 3  # Keyframes 0, 1, 2 at the video's own size.
  # Each is the keyframe's own frame, not another frame of its clip: the signature frames' grey
  # level encodes their index (neighbours differ by 7).
  assert len({video_fixtures.gray_level(i) for i in (0, 25, 50)}) == 3
  for level, index in zip(stub.levels, (0, 25, 50)):
    assert abs(level - video_fixtures.gray_level(index)) < 3, (stub.levels, index)
  read = ava_annotations.read_detections(str(tmp_path / "detections.csv")).annotations
  assert sorted(read) == [("walk", 0), ("walk", 1), ("walk", 2)]
  assert [b.box for b in read[("walk", 1)]] == [(0.1, 0.2, 0.3, 0.4)]  # ymin, xmin, ymax, xmax


def _cricket_frames():
  gif = kinetics_files.require(kinetics_files.CRICKET_GIF, "the cricket clip")
  with Image.open(gif) as image:
    frames = []
    for index in range(image.n_frames):
      image.seek(index)
      frames.append(np.asarray(image.convert("RGB")))
  return frames


def test_the_fetched_detector_finds_the_cricket_players():
  frames = _cricket_frames()
  if person_detector.read_manifest(str(FETCHED)) is None:
    pytest.skip(
      f"no fetched person detector at {FETCHED} (run `python -m data_tools.fetch_person_detector "
      "--output_dir workspace/pretrained/person_detector`; scripts/setup_env.sh does)"
    )
  source = person_boxes.make_box_source(uses_person_boxes=True, detector_dir=str(FETCHED))
  assert source.detector.model == "nanodet" and source.detector.min_score == 0.4
  # Frame 52 (of 79, 224 x 224) shows five people: two umpires, bowler, batsman, fielder.
  boxes, scores = source.boxes("cricket", 0.0, frames[52])
  heights = (boxes[:, 2] - boxes[:, 0]) * 224
  widths = (boxes[:, 3] - boxes[:, 1]) * 224
  assert len(boxes) >= 3, scores
  assert (scores >= 0.4).all()
  # Standing people here are 30 to 100 px tall and taller than wide.
  assert ((heights > 30) & (heights < 110)).all(), heights
  assert (heights > widths).all(), (heights, widths)
  counts = [len(source.boxes("cricket", 0.0, frames[i])[0]) for i in range(0, 79, 13)]
  assert min(counts) >= 2 and np.mean(counts) >= 3, counts
