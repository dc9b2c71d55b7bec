"""Tests of predict on real (small) videos with a fake detector: CSV, annotated video, errors."""

from pathlib import Path

import av
import numpy as np
from PIL import Image
import pytest

from ava_tx.core import errors
from ava_tx.data import ava_annotations
from ava_tx.eval import ava_eval
from ava_tx.inference import person_detector
from ava_tx.inference import predict_lib
from ava_tx.inference import rendering
from tests.data import video_fixtures
from tests.inference import fakes

GIF = (
  Path(__file__).resolve().parents[2]
  / ".."
  / "shared"
  / "data"
  / "video"
  / "v_CricketShot_g04_c01_rgb.gif"
)


def _count_frames(path):
  with av.open(str(path)) as container:
    return sum(1 for _ in container.decode(video=0))


@pytest.fixture(scope="module")
def clip_mp4(tmp_path_factory):
  """2.5 s at 30 fps (keyframes 0, 1, 2), 48x64, frame means encoding the frame index."""
  path = tmp_path_factory.mktemp("videos") / "walk.mp4"
  video_fixtures.write_video(path, video_fixtures.signature_frames(75))
  return path


def test_csv_video_and_keyframe_images(clip_mp4, tmp_path):
  detector = fakes.FakeDetector()
  options = predict_lib.PredictOptions(output_dir=str(tmp_path), batch_size=2, warm_up=False)
  [result] = predict_lib.predict_videos(detector, [str(clip_mp4)], options, log=lambda _: None)
  assert result.error is None and result.num_keyframes == 3 and result.num_frames == 75
  # Frames reach the model with the short side reduced to the model's 16 (AREA), aspect kept.
  assert [c.shape for c in detector.calls] == [(2, 4, 16, 21, 3), (1, 4, 16, 21, 3)]
  read = ava_annotations.read_detections(str(tmp_path / "detections.csv"))
  assert sorted(read.annotations) == [("walk", 0), ("walk", 1), ("walk", 2)]
  for (_, timestamp), boxes in read.annotations.items():
    np.testing.assert_allclose([b.box for b in boxes], fakes.BOXES, atol=1e-6)
    assert all(b.action_ids == (11, 12) for b in boxes)
    # The keyframe frame's mean encodes its index (lossy codec: within 2 grey levels).
    expected = video_fixtures.signature_frames(75)[30 * timestamp].mean() / 255.0
    assert boxes[0].scores[0] == pytest.approx(expected, abs=2.5 / 255)
    assert boxes[0].scores[0] + boxes[0].scores[1] == pytest.approx(1.0, abs=1e-6)
  assert _count_frames(tmp_path / "walk.mp4") == 75
  pngs = sorted(p.name for p in (tmp_path / "walk").iterdir())
  assert pngs == ["keyframe_0000.png", "keyframe_0001.png", "keyframe_0002.png"]
  # 48 rows are drawn 8x larger (the smallest integer factor reaching 360 rows).
  assert Image.open(tmp_path / "walk" / "keyframe_0001.png").size == (512, 384)


def test_csv_round_trip_through_ava_eval(clip_mp4, tmp_path):
  options = predict_lib.PredictOptions(output_dir=str(tmp_path), write_video=False)
  predict_lib.predict_videos(fakes.FakeDetector(), [str(clip_mp4)], options, log=lambda _: None)
  assert not (tmp_path / "walk.mp4").exists()
  ymin, xmin, ymax, xmax = fakes.BOXES[0]
  (tmp_path / "gt.csv").write_text(
    "".join(
      "walk,%04d,%f,%f,%f,%f,%d,0\n" % (t, xmin, ymin, xmax, ymax, c)
      for t in range(3)
      for c in (11, 12)
    )
  )
  (tmp_path / "labels.pbtxt").write_text(
    'item { name: "sit" id: 11 }\nitem { name: "stand" id: 12 }\n'
  )
  result, _ = ava_eval.evaluate_csv_files(
    str(tmp_path / "labels.pbtxt"), str(tmp_path / "gt.csv"), str(tmp_path / "detections.csv")
  )
  # Box 0 matches each keyframe's ground truth; box 1 (IoU < 0.5) has the same class score, and
  # ties between a true and a false detection put AP between 1/2 and 1.
  assert result.stats["num_groundtruth_keyframes"] == 3
  assert 0.5 <= result.mean_ap <= 1.0


def test_person_boxes_from_csv_reach_the_model(clip_mp4, tmp_path):
  detector = fakes.FakeDetector(fakes.fake_info(uses_person_boxes=True))
  (tmp_path / "boxes.csv").write_text(
    "walk,0001,0.100,0.200,0.300,0.400,,0.95\nwalk,0001,0.5,0.5,0.9,0.9,,0.8\n"
    "walk,0002,0.0,0.0,1.0,1.0,,0.7\n"
  )
  box_source = predict_lib.person_boxes_lib.CsvPersonBoxes(str(tmp_path / "boxes.csv"))
  options = predict_lib.PredictOptions(output_dir=str(tmp_path), write_video=False, batch_size=8)
  [result] = predict_lib.predict_videos(
    detector, [str(clip_mp4)], options, box_source=box_source, log=lambda _: None
  )
  assert result.error is None
  read = ava_annotations.read_detections(str(tmp_path / "detections.csv")).annotations
  assert sorted(read) == [("walk", 1), ("walk", 2)]  # Keyframe 0 has no boxes.
  assert [b.box for b in read[("walk", 1)]] == [(0.2, 0.1, 0.4, 0.3), (0.5, 0.5, 0.9, 0.9)]
  assert [b.box for b in read[("walk", 2)]] == [(0.0, 0.0, 1.0, 1.0)]


def test_box_source_without_a_csv_depends_on_the_rpn(clip_mp4, tmp_path, monkeypatch):
  boxes_lib = predict_lib.person_boxes_lib
  assert boxes_lib.make_box_source(uses_person_boxes=False) is None
  # No fetched person detector (test_person_detector.py covers the one found there).
  monkeypatch.setattr(person_detector, "DEFAULT_DIR", str(tmp_path / "no_detector"))
  with pytest.raises(errors.InputError, match="it has no RPN.*--person_boxes_csv"):
    boxes_lib.make_box_source(uses_person_boxes=True)
  # RPN_AND_PERSON_DETECTOR without a CSV: zero detector boxes at every keyframe, so the
  # model's RPN proposes alone.
  source = boxes_lib.make_box_source(uses_person_boxes=True, has_rpn=True)
  detector = fakes.FakeDetector(fakes.fake_info(uses_person_boxes=True, has_rpn=True))
  options = predict_lib.PredictOptions(output_dir=str(tmp_path), write_video=False, batch_size=8)
  [result] = predict_lib.predict_videos(
    detector, [str(clip_mp4)], options, box_source=source, log=lambda _: None
  )
  assert result.error is None and detector.calls[-1].shape[0] == 3  # The 3 keyframes ran.
  assert ava_annotations.read_detections(str(tmp_path / "detections.csv")).annotations == {}


def test_failures_are_named_and_the_other_videos_still_run(clip_mp4, tmp_path):
  broken = tmp_path / "broken.mp4"
  broken.write_bytes(b"not a video" * 20)
  empty = tmp_path / "empty_frames"
  empty.mkdir()
  short = tmp_path / "short.mkv"
  video_fixtures.write_video(
    short, video_fixtures.signature_frames(5), codec="ffv1", pix_fmt="bgr0"
  )
  folder = tmp_path / "folder_video"
  video_fixtures.write_frame_folder(folder, video_fixtures.signature_frames(40))
  out = tmp_path / "out"
  paths = [
    str(broken),
    str(empty),
    str(clip_mp4),
    str(short),
    str(folder),
    str(tmp_path / "missing.avi"),
    str(tmp_path / "again" / "walk.mp4"),
  ]
  (tmp_path / "again").mkdir()
  video_fixtures.write_video(tmp_path / "again" / "walk.mp4", video_fixtures.signature_frames(3))
  options = predict_lib.PredictOptions(output_dir=str(out), batch_size=3)
  results = predict_lib.predict_videos(fakes.FakeDetector(), paths, options, log=lambda _: None)
  failed = {r.video_id: r.error for r in results if r.error}
  assert sorted(failed) == ["broken", "empty_frames", "missing", "walk"]
  assert "broken.mp4" in failed["broken"] and "cannot open video" in failed["broken"]
  assert "empty_frames: frame folder holds no" in failed["empty_frames"]
  assert "video not found" in failed["missing"] and "missing.avi" in failed["missing"]
  assert "same video id 'walk'" in failed["walk"]
  summary = predict_lib.format_summary(results, str(out))
  assert summary.splitlines()[-1].startswith("3 of 7 videos done, 6 clips")
  keys = ava_annotations.read_detections(str(out / "detections.csv")).annotations
  assert sorted({video for video, _ in keys}) == ["folder_video", "short", "walk"]
  assert _count_frames(out / "short.mp4") == 5
  assert _count_frames(out / "folder_video.mp4") == 40


def test_short_video_warns_and_box_csv_for_another_video_fails(clip_mp4, tmp_path):
  short = tmp_path / "short.mkv"
  video_fixtures.write_video(
    short, video_fixtures.signature_frames(5), codec="ffv1", pix_fmt="bgr0"
  )
  (tmp_path / "boxes.csv").write_text("short,0000,0.1,0.1,0.5,0.5,,0.9\n")
  detector = fakes.FakeDetector(
    fakes.fake_info(uses_person_boxes=True, num_frames=8, frame_stride=4)
  )
  logs = []
  results = predict_lib.predict_videos(
    detector,
    [str(clip_mp4), str(short)],
    predict_lib.PredictOptions(output_dir=str(tmp_path / "out"), write_video=False),
    box_source=predict_lib.person_boxes_lib.CsvPersonBoxes(str(tmp_path / "boxes.csv")),
    log=logs.append,
  )
  assert "has no boxes for video id 'walk'" in results[0].error
  assert str(clip_mp4) in results[0].error
  assert results[1].error is None and results[1].num_keyframes == 1
  assert any("short.mkv: 5 frames" in line and "shorter than one clip" in line for line in logs)


def test_draw_detections_and_labels():
  frame = np.zeros([200, 300, 3], np.uint8)
  detections = rendering.KeyframeDetections(
    np.array([[0.25, 0.25, 0.75, 0.75]], np.float32),
    np.array([0.8], np.float32),
    np.array([[0.2, 0.7]], np.float32),
  )
  drawn = rendering.draw_detections(frame, detections, fakes.LABEL_MAP)
  assert drawn.shape == frame.shape and not frame.any()
  assert tuple(drawn[120, 224]) == rendering.PALETTE[0]  # The right edge: x = 0.75 * 299.
  assert not drawn[120, 226].any() and not drawn[120, 150].any()
  assert drawn[52:62, 76:130].any()  # The labels, inside the box's top-left corner.
  assert rendering.top_labels(np.array([0.2, 0.7]), fakes.LABEL_MAP) == [
    ("stand", 0.7),
    ("sit", 0.2),
  ]
  assert rendering.top_labels(np.array([0.2, 0.7]), fakes.LABEL_MAP, min_score=0.5) == [
    ("stand", 0.7)
  ]
  assert rendering.even_frame(np.zeros([5, 7, 3], np.uint8)).shape == (6, 8, 3)
  assert rendering.short_name("bend/bow (at the waist)") == "bend/bow"
  small = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
  assert rendering.upscaled(small, 5).shape == (6, 9, 3)
  assert rendering.upscaled(small, 2) is small and rendering.upscaled(small, 0) is small


@pytest.mark.skipif(not GIF.exists(), reason="shared sample video not found at %s" % GIF)
def test_real_gif_with_the_fake_detector(tmp_path):
  options = predict_lib.PredictOptions(output_dir=str(tmp_path))
  [result] = predict_lib.predict_videos(
    fakes.FakeDetector(), [str(GIF)], options, log=lambda _: None
  )
  assert result.error is None and result.num_keyframes == 4  # 79 frames at 25 fps: 3.16 s.
  assert _count_frames(tmp_path / "v_CricketShot_g04_c01_rgb.mp4") == 79


class _RecordingWriter:
  """Stands in for AnnotatedVideoWriter: keeps the frames."""

  instances = []

  def __init__(self, path, fps):
    self.path, self.fps, self.frames = path, fps, []
    _RecordingWriter.instances.append(self)

  def write(self, frame):
    self.frames.append(frame.copy())

  def close(self):
    pass


def test_boxes_carried_from_each_keyframe_for_one_interval(clip_mp4, tmp_path, monkeypatch):
  monkeypatch.setattr(rendering, "AnnotatedVideoWriter", _RecordingWriter)
  _RecordingWriter.instances = []
  options = predict_lib.PredictOptions(
    output_dir=str(tmp_path),
    timestamps=(1.0, 0.5),
    min_person_score=0.0,
    batch_size=1,
    min_output_height=0,
  )
  [result] = predict_lib.predict_videos(
    fakes.FakeDetector(), [str(clip_mp4)], options, log=lambda _: None
  )
  assert result.num_keyframes == 2
  frames = _RecordingWriter.instances[0].frames
  assert len(frames) == 75 and _RecordingWriter.instances[0].fps == 30
  with av.open(str(clip_mp4)) as container:
    decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
  drawn = [not np.array_equal(a, b) for a, b in zip(frames, decoded)]
  # Nothing before the first keyframe (0.5 s: frame 15); 0.5 s -> frames 15..29, 1.0 s ->
  # 30..59 (with explicit timestamps boxes stay at most 1 s); nothing after.
  assert drawn == [False] * 15 + [True] * 45 + [False] * 15
  assert sorted(p.name for p in (tmp_path / "walk").iterdir()) == [
    "keyframe_0000.500.png",
    "keyframe_0001.png",
  ]
  rows = ava_annotations.read_detections(str(tmp_path / "detections.csv")).annotations
  assert sorted(rows) == [("walk", 1)]  # 0.5 s is not a whole second: not in the AVA CSV.


def test_command_line_errors_are_one_line(tmp_path):
  """The command itself (a subprocess: its flags are absl globals) on inputs it must refuse."""
  import subprocess
  import sys

  repo = Path(__file__).resolve().parents[2]
  base = [sys.executable, "-m", "ava_tx.predict"]
  cases = [
    (["--output_dir=%s" % tmp_path], "no VIDEO given"),
    (
      ["--saved_model_dir=%s" % tmp_path, "--output_dir=%s" % tmp_path, "v.mp4"],
      "export_info.json not found",
    ),
    (["--output_dir=%s" % tmp_path, "v.mp4"], "give --saved_model_dir, or --pipeline_config"),
    (["--output_dir=%s" % tmp_path, "--timestamps=1,x", "v.mp4"], "--timestamps: not numbers"),
  ]
  for args, message in cases:
    run = subprocess.run(base + args, cwd=repo, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("predict: error: "), run.stderr
    assert message in lines[0], run.stderr


def test_stated_rate_and_duration(clip_mp4, tmp_path):
  from ava_tx.data import video_frames
  from ava_tx.inference import video_source

  assert video_frames.native_frame_rate(str(clip_mp4)) == 30
  assert video_frames.stated_duration_seconds(str(clip_mp4)) == pytest.approx(2.5)
  slow = tmp_path / "slow.mkv"
  video_fixtures.write_video(
    slow, video_fixtures.signature_frames(10), fps=25, codec="ffv1", pix_fmt="bgr0"
  )
  video = video_source.open_video(str(slow), folder_fps=30)
  assert (video.video_id, video.native_fps) == ("slow", 25)
  assert video_source.duration_seconds(video) == pytest.approx(0.4)
