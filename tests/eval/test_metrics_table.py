"""The demo's closing table of an evaluation's metrics JSON."""

import json

import numpy as np

from ava_tx.core.standard_fields import DetectionFields
from ava_tx.core.standard_fields import InputFields
from ava_tx.data.label_map_util import LabelMapEntry
from ava_tx.eval import metrics_table
from ava_tx.eval.evaluator import AvaEvaluator

REPORT = {
  "global_step": 3000,
  "mean_ap": 0.4,
  "class_names": {"1": "bend/bow", "12": "stand", "80": "watch"},
  "per_class_ap": {"1": 0.2, "12": 0.75, "80": None},
  "num_groundtruth": {"1": 7, "12": 40, "80": 0},
  "baselines": {
    "constant": {"mean_ap": 0.15, "per_class_ap": {"1": 0.1, "12": 0.3}},
    "class_prior": {"mean_ap": 0.21},
  },
  "localization_ap": {"0.5": 0.9, "0.75": 0.5},
  "cap": "50-detections-per-keyframe cap: applied",
  "detections_csv": "model/eval/detections_step_3000.csv",
}


def test_table_lists_headline_then_classes_best_first():
  lines = metrics_table.format_table(REPORT, "model/eval/metrics_step_3000.json")
  assert lines[0] == (
    "step 3000: frame-mAP@0.5 0.400 | constant baseline 0.150 | "
    "class-prior baseline 0.210 | person AP@0.5 0.900"
  )
  assert lines[1] == (
    "mean over 2 of 3 classes (those with ground truth); 50-detections-per-keyframe cap: applied"
  )
  assert lines[2].split() == ["class", "AP", "constant", "boxes"]
  assert lines[3].split() == ["stand", "0.750", "0.300", "40"]
  assert lines[4].split() == ["bend/bow", "0.200", "0.100", "7"]
  # "watch" has no ground truth: no row. Then where the files are.
  assert lines[5:] == [
    "metrics JSON   model/eval/metrics_step_3000.json",
    "detections CSV model/eval/detections_step_3000.csv",
  ]


def test_command_reads_the_file(tmp_path, capsys):
  path = tmp_path / "metrics.json"
  path.write_text(json.dumps(REPORT))
  assert metrics_table.main(["metrics_table", str(path)]) == 0
  printed = capsys.readouterr().out.splitlines()
  assert printed[0].startswith("step 3000: frame-mAP@0.5 0.400")
  assert printed[-2] == "metrics JSON   %s" % path
  assert metrics_table.main(["metrics_table", str(tmp_path / "missing.json")]) == 1


def test_table_of_a_file_the_evaluator_wrote(tmp_path):
  """The fields the table reads are the ones AvaEvaluator writes."""
  evaluator = AvaEvaluator(
    label_map=[LabelMapEntry(1, "stand"), LabelMapEntry(4, "dance")], max_detections_per_keyframe=50
  )
  box = [[0.1, 0.1, 0.6, 0.5]]
  evaluator.process(
    {
      InputFields.source_id: np.array([b"v,0902"]),
      InputFields.groundtruth_boxes: np.array([box]),
      InputFields.groundtruth_classes: np.array([[[1.0, 0.0]]]),
      InputFields.num_groundtruth_boxes: np.array([1]),
    },
    {
      DetectionFields.detection_boxes: np.array([box]),
      DetectionFields.detection_scores: np.array([[0.9]]),
      DetectionFields.detection_action_scores: np.array([[[0.8, 0.3]]]),
      DetectionFields.num_detections: np.array([1]),
    },
  )
  csv_path, json_path = evaluator.write_files(evaluator.compute(), str(tmp_path), global_step=7)
  lines = metrics_table.format_table(json.loads(open(json_path).read()), json_path)
  assert lines[0] == (
    "step 7: frame-mAP@0.5 1.000 | constant baseline 1.000 | "
    "class-prior baseline 1.000 | person AP@0.5 1.000"
  )
  assert lines[1] == (
    "mean over 1 of 2 classes (those with ground truth); 50-detections-per-keyframe cap: applied"
  )
  assert lines[3].split() == ["stand", "1.000", "1.000", "1"]
  assert lines[4:] == ["metrics JSON   %s" % json_path, "detections CSV %s" % csv_path]
