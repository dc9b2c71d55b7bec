"""The predict and visualize_attention commands on a tiny exported model (random weights).

One export (the export tests' tiny model: 8 frames of 64x64, attention outputs) serves every
test; the commands run as subprocesses, as a user runs them, and the in-process checkpoint path
is compared with the SavedModel. This checks that the commands work end to end and write valid
files, not the model's quality.
"""

from pathlib import Path
import re
import subprocess
import sys

import av
from PIL import Image
import pytest

from ava_tx.data import ava_annotations
from ava_tx.eval import ava_eval
from tests.data import video_fixtures

REPO = Path(__file__).resolve().parents[2]
GIF = REPO / ".." / "shared" / "data" / "video" / "v_CricketShot_g04_c01_rgb.gif"
pytestmark = pytest.mark.slow  # One export and three command runs: about a minute on 2 cores.


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
  from ava_tx.builders import export_builder
  from ava_tx.core.tf_setup import keras
  from ava_tx.export import exporter_lib
  from tests.export import export_fixtures as fx

  out = tmp_path_factory.mktemp("tiny_export")
  fx.write_label_map(out / "label_map.pbtxt")
  config = exporter_lib.load_config(
    str(REPO / "configs" / "tiny_synthetic_cpu.config"),
    fx.TINY_OVERRIDE % (out / "label_map.pbtxt"),
  )
  keras.utils.set_random_seed(0)
  module = export_builder.build_inference_module(
    config, input_type="video_tensor", attention_outputs=True
  )
  exporter_lib.build_variables(module)
  info = export_builder.export_info(
    config, input_type="video_tensor", attention_outputs=True, checkpoint_step=0
  )
  exporter_lib.write_export(module, config, info, str(out / "export"))
  return out / "export" / "saved_model"


def _run(module, args):
  run = subprocess.run(
    [sys.executable, "-m", module] + [str(a) for a in args],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert run.returncode == 0, run.stderr[-3000:]
  return run.stdout


def _frame_count(path):
  with av.open(str(path)) as container:
    return sum(1 for _ in container.decode(video=0))


def _boxes_csv(path, video_id, timestamps):
  path.write_text(
    "".join(
      "%s,%04d,0.10,0.20,0.45,0.90,,0.95\n%s,%04d,0.55,0.45,0.70,0.85,,0.9\n"
      % (video_id, t, video_id, t)
      for t in timestamps
    )
  )
  return path


@pytest.mark.skipif(not GIF.exists(), reason="shared sample video not found at %s" % GIF)
def test_predict_on_the_real_cricket_clip(export_dir, tmp_path):
  boxes = _boxes_csv(tmp_path / "boxes.csv", GIF.stem, range(4))
  out = tmp_path / "out"
  stdout = _run(
    "ava_tx.predict",
    [
      "--saved_model_dir=%s" % export_dir,
      "--output_dir=%s" % out,
      "--person_boxes_csv=%s" % boxes,
      GIF,
    ],
  )
  assert "1 of 1 videos done, 4 clips" in stdout
  read = ava_annotations.read_detections(str(out / "detections.csv"))
  assert sorted(read.annotations) == [(GIF.stem, t) for t in range(4)]
  assert all(len(b.action_ids) == 11 for boxes in read.annotations.values() for b in boxes)
  assert _frame_count(out / (GIF.stem + ".mp4")) == 79  # The GIF's frames, at its 25 fps.
  assert Image.open(out / GIF.stem / "keyframe_0002.png").size == (448, 448)  # Drawn 2x.


def test_predict_csv_evaluates_and_attention_figure(export_dir, tmp_path):
  video = tmp_path / "held_out.mp4"
  video_fixtures.write_video(video, video_fixtures.noise_frames(50, height=72, width=96))
  boxes = _boxes_csv(tmp_path / "boxes.csv", "held_out", [0, 1])
  out = tmp_path / "predict"
  _run(
    "ava_tx.predict",
    [
      "--saved_model_dir=%s" % export_dir,
      "--output_dir=%s" % out,
      "--person_boxes_csv=%s" % boxes,
      video,
    ],
  )
  (tmp_path / "gt.csv").write_text("held_out,0001,0.20,0.10,0.90,0.45,12,0\n")
  result, _ = ava_eval.evaluate_csv_files(
    str(export_dir.parent.parent / "label_map.pbtxt"),
    str(tmp_path / "gt.csv"),
    str(out / "detections.csv"),
  )
  assert result.num_classes_with_groundtruth == 1 and 0.0 <= result.mean_ap <= 1.0
  assert _frame_count(out / "held_out.mp4") == 50
  figure_dir = tmp_path / "attention"
  stdout = _run(
    "ava_tx.visualize_attention",
    [
      "--saved_model_dir=%s" % export_dir,
      "--video=%s" % video,
      "--output_dir=%s" % figure_dir,
      "--person_boxes_csv=%s" % boxes,
      "--timestamp=1",
      "--person=1",
    ],
  )
  assert "attention of person 1" in stdout and "layer 2" in stdout
  assert re.search(r"^head 1: own box 0\.\d\d \(area 0\.\d\d\); ", stdout, re.MULTILINE)
  # 8 frames -> 2 feature time steps; frames shown 160 high (96x72 -> 213x160); 2 heads.
  assert Image.open(figure_dir / "figure.png").size == (96 + 2 * (213 + 4) + 4, 5 * 164 + 4)
  assert Image.open(figure_dir / "attention_head1.png").size == (2 * 213, 160)
  assert len(list((figure_dir / "frames").glob("*.png"))) == 8
  assert "figure.png" in (figure_dir / "index.html").read_text()


def test_checkpoint_detector_equals_the_saved_model(export_dir):
  """The in-process path (--pipeline_config_path + --checkpoint_dir) gives the export's outputs."""
  import numpy as np

  from ava_tx.inference import detector as detector_lib

  export = export_dir.parent
  saved = detector_lib.SavedModelDetector(str(export_dir))
  in_process = detector_lib.CheckpointDetector(
    str(export / "pipeline.config"), str(export / "checkpoint"), attention_outputs=True
  )
  assert in_process.info == saved.info
  clip = np.random.default_rng(0).integers(0, 256, [2, 8, 48, 80, 3], dtype=np.uint8)
  boxes = np.array([[[0.1, 0.1, 0.8, 0.5], [0.2, 0.5, 0.9, 0.9]]] * 2, np.float32)
  counts = np.array([2, 1], np.int32)
  expected, actual = saved(clip, boxes, counts), in_process(clip, boxes, counts)
  assert set(actual) == set(expected)
  for name in expected:
    np.testing.assert_allclose(actual[name], expected[name], atol=1e-5, err_msg=name)


def test_raw_video_without_a_csv_gets_the_fetched_person_detectors_boxes(export_dir, tmp_path):
  """No --person_boxes_csv: the default person detector (workspace/pretrained/person_detector,
  what setup_env.sh fetches) finds the people of the real cricket clip for both commands."""
  from ava_tx.inference import person_detector
  from tests.trunks import kinetics_files

  gif = kinetics_files.require(kinetics_files.CRICKET_GIF, "the cricket clip")
  if person_detector.read_manifest(str(REPO / person_detector.DEFAULT_DIR)) is None:
    pytest.skip(
      "no fetched person detector in workspace/pretrained/person_detector (run `python -m "
      "data_tools.fetch_person_detector --output_dir workspace/pretrained/person_detector`)"
    )
  out = tmp_path / "out"
  stdout = _run(
    "ava_tx.predict",
    ["--saved_model_dir=%s" % export_dir, "--output_dir=%s" % out, "--no_video", gif],
  )
  assert "1 of 1 videos done, 4 clips" in stdout
  read = ava_annotations.read_detections(str(out / "detections.csv")).annotations
  assert sorted(read) == [(gif.stem, t) for t in range(4)]
  # Two to five of the clip's five people at each keyframe: boxes 0.1-0.5 of the frame high and
  # taller than wide. NanoDet also marks the odd letter of the banner (0.15 boxes per frame,
  # docs/INFERENCE.md): small and wide, not counted, but at most one per keyframe.
  for keyframe, rows in read.items():
    boxes = {b.box for b in rows}  # A box has one row per action class.
    people = {b for b in boxes if 0.1 < b[2] - b[0] < 0.5 and b[2] - b[0] > b[3] - b[1]}
    assert 2 <= len(people) <= 6 and len(boxes - people) <= 1, (keyframe, sorted(boxes))
  stdout = _run(
    "ava_tx.visualize_attention",
    [
      "--saved_model_dir=%s" % export_dir,
      "--video=%s" % gif,
      "--output_dir=%s" % (tmp_path / "attention"),
      "--timestamp=1",
    ],
  )
  assert "attention of person 0" in stdout
  assert (tmp_path / "attention" / "figure.png").exists()
