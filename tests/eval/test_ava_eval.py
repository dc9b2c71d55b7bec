"""End-to-end tests of the CSV command line (ava_tx.eval.ava_eval)."""

import json
import math
from pathlib import Path
import subprocess
import sys

import pytest

from ava_tx.eval import ava_eval

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_AVA = REPO_ROOT / ".." / "shared" / "data" / "ava"

LABEL_MAP = """item {
  name: "stand"
  id: 1
}
item {
  name: "sit"
  id: 2
}
item {
  name: "walk"
  id: 3
}
"""
# Keyframe 0902: one person (stand + sit); 0903: one person (stand), excluded below;
# 0904: one person with label 9 only (outside the label map).
GROUNDTRUTH = """vid_a,0902,0.1,0.1,0.5,0.9,1,0
vid_a,0902,0.1,0.1,0.5,0.9,2,0
vid_a,0903,0.2,0.2,0.6,0.8,1,0
vid_a,0904,0.2,0.2,0.6,0.8,9,0
"""
DETECTIONS = """vid_a,0902,0.1,0.1,0.5,0.9,1,0.9
vid_a,0902,0.1,0.1,0.5,0.9,2,0.2
vid_a,0902,0.6,0.1,0.9,0.9,2,0.8
vid_a,0902,0.1,0.1,0.5,0.9,3,0.7
vid_a,903,0.7,0.7,0.9,0.9,1,0.95
vid_a,0904,0.1,0.1,0.5,0.9,1,0.1
vid_b,0902,0.1,0.1,0.5,0.9,1,0.99
"""


@pytest.fixture
def files(tmp_path):
  paths = {}
  for name, text in (
    ("labelmap.pbtxt", LABEL_MAP),
    ("gt.csv", GROUNDTRUTH),
    ("det.csv", DETECTIONS),
    ("excluded.csv", "vid_a,0903\n"),
  ):
    (tmp_path / name).write_text(text)
    paths[name] = str(tmp_path / name)
  return paths


def run_main(argv, capsys):
  code = ava_eval.main(argv)
  captured = capsys.readouterr()
  return code, captured.out, captured.err


def test_cli_prints_per_class_ap_and_map_line(files, capsys, tmp_path):
  json_path = tmp_path / "out.json"
  code, out, _ = run_main(
    [
      "-l",
      files["labelmap.pbtxt"],
      "-g",
      files["gt.csv"],
      "-d",
      files["det.csv"],
      "-e",
      files["excluded.csv"],
      "--output_json",
      str(json_path),
    ],
    capsys,
  )
  assert code == 0
  lines = out.splitlines()
  # stand: TP 0.9 (0902), FP 0.1 (0904 is annotated, with a class outside the map); the 0.95 FP
  # on 0903 is excluded; vid_b,0902 has no ground truth -> ignored. AP = 1.
  assert "PascalBoxes_PerformanceByCategory/AP@0.5IOU/stand: 1.000000" in lines
  # sit: FP 0.8 then TP 0.2 -> AP 1/2.
  assert "PascalBoxes_PerformanceByCategory/AP@0.5IOU/sit: 0.500000" in lines
  assert "PascalBoxes_PerformanceByCategory/AP@0.5IOU/walk: nan (no ground truth)" in lines
  assert lines[-1] == (
    "PascalBoxes_Precision/mAP@0.5IOU: 0.750000 (mean over 2 classes with "
    "ground truth; detections-per-keyframe cap: not applied)"
  )
  assert "# 1 detection keyframes without ground truth ignored." in lines
  data = json.loads(json_path.read_text())
  assert data["mean_ap"] == 0.75 and data["per_class_ap"]["3"] is None
  assert data["max_detections_per_keyframe"] is None and data["class_names"]["2"] == "sit"


def test_cli_without_exclusions_and_with_cap(files, capsys):
  code, out, _ = run_main(
    ["-l", files["labelmap.pbtxt"], "-g", files["gt.csv"], "-d", files["det.csv"], "--cap50"],
    capsys,
  )
  assert code == 0
  # stand now has 2 boxes: FP 0.95 (0903), TP 0.9, FP 0.1 -> recall 1/2 at precision 1/2.
  assert "PascalBoxes_PerformanceByCategory/AP@0.5IOU/stand: 0.250000" in out
  assert out.splitlines()[-1].endswith("50-detections-per-keyframe cap: applied)")


def test_cli_bad_input_exits_nonzero_with_file_and_line(files, capsys, tmp_path):
  bad = tmp_path / "bad_gt.csv"
  bad.write_text("vid_a,0902,0.1,0.1,0.5,0.9,1,0\nvid_a,09x2,0.1,0.1,0.5,0.9,1,0\n")
  code, out, err = run_main(
    ["-l", files["labelmap.pbtxt"], "-g", str(bad), "-d", files["det.csv"]], capsys
  )
  assert code == 1 and out == ""
  assert "bad_gt.csv:2" in err and "timestamp" in err
  code, _, err = run_main(
    ["-l", files["labelmap.pbtxt"], "-g", str(tmp_path / "missing.csv"), "-d", files["det.csv"]],
    capsys,
  )
  assert code == 1 and "missing.csv" in err


def test_cli_as_module_without_tensorflow(files):
  arguments = ["-l", files["labelmap.pbtxt"], "-g", files["gt.csv"], "-d", files["det.csv"]]
  arguments += ["-e", files["excluded.csv"]]
  run = lambda command: subprocess.run(
    [sys.executable] + command + arguments,
    cwd=REPO_ROOT,
    capture_output=True,
    text=True,
    timeout=120,
  )
  completed = run(
    [
      "-c",
      "import sys; from ava_tx.eval import ava_eval, evaluator;"
      "code = ava_eval.main(sys.argv[1:]);"
      "assert 'tensorflow' not in sys.modules, 'evaluation imported TensorFlow';"
      "sys.exit(code)",
    ]
  )
  assert completed.returncode == 0, completed.stderr
  assert "PascalBoxes_Precision/mAP@0.5IOU: 0.750000" in completed.stdout
  module = run(["-m", "ava_tx.eval.ava_eval"])
  assert module.returncode == 0, module.stderr
  assert module.stdout.splitlines()[-1].startswith("PascalBoxes_Precision/mAP@0.5IOU: 0.750000")


@pytest.mark.skipif(
  not SHARED_AVA.is_dir(), reason="shared AVA sample files absent: %s" % SHARED_AVA
)
@pytest.mark.parametrize("cap", [None, 50])
def test_real_sample_groundtruth_as_its_own_detections(cap):
  label_map_path = SHARED_AVA / "ava_action_list_v2.1_for_activitynet_2018.pbtxt"
  sample = SHARED_AVA / "ava_train_sample.csv"
  result, label_map = ava_eval.evaluate_csv_files(
    label_map_path, sample, sample, max_detections_per_keyframe=cap
  )
  assert len(label_map) == 60
  # Sample labels: 12, 17, 79 (0f39OWEqJ24) and 12, 74, 80 (_-Z6wFjXtGQ), all in the 60-class map.
  with_gt = {k: v for k, v in result.per_class_ap.items() if not math.isnan(v)}
  assert with_gt == {12: 1.0, 17: 1.0, 74: 1.0, 79: 1.0, 80: 1.0}
  assert result.mean_ap == 1.0
  assert result.num_groundtruth[12] == 3 and result.stats["num_groundtruth_keyframes"] == 3
  excluded = SHARED_AVA / "ava_excluded_timestamps_sample.csv"
  result, _ = ava_eval.evaluate_csv_files(
    label_map_path, sample, sample, excluded, max_detections_per_keyframe=cap
  )
  with_gt = {k: v for k, v in result.per_class_ap.items() if not math.isnan(v)}
  assert with_gt == {12: 1.0, 17: 1.0, 79: 1.0}  # Only 0f39OWEqJ24,0902 is left.
  assert result.stats["num_excluded_groundtruth_keyframes"] == 2
