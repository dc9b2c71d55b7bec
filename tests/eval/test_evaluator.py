"""Tests of the training-loop evaluator (ava_tx.eval.evaluator)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from ava_tx.core.standard_fields import DetectionFields
from ava_tx.core.standard_fields import InputFields
from ava_tx.data.label_map_util import LabelMapEntry
from ava_tx.eval import ava_eval
from ava_tx.eval.evaluator import AvaEvaluator

LABEL_MAP = [LabelMapEntry(1, "stand"), LabelMapEntry(4, "dance"), LabelMapEntry(9, "run")]


def make_batch(seed, batch_size=4, max_boxes=3, num_classes=3, quality=1.0, video="v"):
  """Random keyframes; detections = jittered ground-truth boxes, action scores mixing the
  ground truth (weight `quality`) with noise."""
  rng = np.random.default_rng(seed)
  corner = rng.uniform(0.0, 0.5, (batch_size, max_boxes, 2))
  boxes = np.concatenate([corner, corner + rng.uniform(0.1, 0.45, corner.shape)], axis=-1)
  classes = (rng.uniform(size=(batch_size, max_boxes, num_classes)) > 0.5).astype(np.float32)
  num_gt = rng.integers(1, max_boxes + 1, batch_size)
  inputs = {
    InputFields.source_id: np.array(
      [("%s,%04d" % (video, 902 + seed * 10 + i)).encode() for i in range(batch_size)]
    ),
    InputFields.groundtruth_boxes: boxes.astype(np.float32),
    InputFields.groundtruth_classes: classes,
    InputFields.num_groundtruth_boxes: num_gt,
  }
  outputs = {
    DetectionFields.detection_boxes: np.clip(boxes + rng.normal(0, 0.01, boxes.shape), 0, 1),
    DetectionFields.detection_scores: rng.uniform(0.5, 1.0, (batch_size, max_boxes)),
    DetectionFields.detection_action_scores: quality * classes
    + (1 - quality) * rng.uniform(size=classes.shape),
    DetectionFields.num_detections: num_gt.copy(),
  }
  return inputs, outputs


def test_perfect_detections_give_map_one_and_beat_the_baseline(tmp_path):
  evaluator = AvaEvaluator(
    label_map=LABEL_MAP, output_dir=str(tmp_path), max_detections_per_keyframe=50
  )
  num_boxes = 0
  for seed in range(3):
    inputs, outputs = make_batch(seed)
    evaluator.process(inputs, outputs)
    num_boxes += int(outputs[DetectionFields.num_detections].sum())
  metrics = evaluator.evaluate(global_step=12)
  assert metrics["AVA/mAP@0.5IOU"] == 1.0
  assert metrics["AVA/max_detections_per_keyframe"] == 50.0
  assert metrics["AVA/num_keyframes"] == 12.0
  assert metrics["AVA/PerformanceByCategory/AP@0.5IOU/dance"] == 1.0
  assert 0.0 < metrics["AVA/Baseline/class_prior_mAP@0.5IOU"] < 0.9
  assert 0.0 < metrics["AVA/Baseline/constant_mAP@0.5IOU"] < 0.9
  assert metrics["AVA/Localization/AP@0.5IOU"] == pytest.approx(1.0)
  assert any(k.startswith("AVA/ByBoxArea/mAP@0.5IOU/area[") for k in metrics)
  assert "AVA/ByNumPeople/mAP@0.5IOU/people[1,1]" in metrics
  report = json.loads((tmp_path / "metrics_step_12.json").read_text())
  assert report["mean_ap"] == 1.0 and report["max_detections_per_keyframe"] == 50
  assert "cap: applied" in report["cap"]
  assert sorted(report["baselines"]) == ["class_prior", "constant"]
  assert report["baselines"]["constant"]["mean_ap"] == metrics["AVA/Baseline/constant_mAP@0.5IOU"]
  rows = (tmp_path / "detections_step_12.csv").read_text().splitlines()
  assert len(rows) == 3 * num_boxes  # One row per box and class.
  video, timestamp = rows[0].split(",")[:2]
  assert (video, timestamp) == ("v", "0902") and rows[0].split(",")[6] in ("1", "4", "9")


def _two_people_and_a_false_positive(false_positive_person_score):
  """One keyframe: two people who both stand, detected exactly, plus a false positive."""
  gt = np.array([[[0.1, 0.1, 0.5, 0.3], [0.1, 0.6, 0.5, 0.8], [0, 0, 0, 0]]], np.float32)
  inputs = {
    InputFields.source_id: np.array([b"v,0902"]),
    InputFields.groundtruth_boxes: gt,
    InputFields.groundtruth_classes: np.array([[[1, 0, 0], [1, 0, 0], [0, 0, 0]]], np.float32),
    InputFields.num_groundtruth_boxes: np.array([2]),
  }
  det = gt.copy()
  det[0, 2] = [0.6, 0.4, 0.9, 0.5]
  outputs = {
    DetectionFields.detection_boxes: det,
    DetectionFields.detection_scores: np.array([[0.9, 0.8, false_positive_person_score]]),
    DetectionFields.detection_action_scores: np.full((1, 3, 3), 0.5),
    DetectionFields.num_detections: np.array([3]),
  }
  return inputs, outputs


def test_constant_baseline_ignores_person_scores_and_ranks_ties_at_random():
  # Stand's AP with the false positive ranked 1st, 2nd or 3rd among the three boxes:
  # precision envelope 2/3 over all recall; 1 then 2/3; 1.
  possible = {2 / 3, 5 / 6, 1.0}
  seen = set()
  for seed in range(12):
    values = []
    for fp_score in (0.1, 0.95):
      evaluator = AvaEvaluator(label_map=LABEL_MAP, baseline_seed=seed)
      evaluator.process(*_two_people_and_a_false_positive(fp_score))
      metrics = evaluator.evaluate()
      prior = metrics["AVA/Baseline/class_prior_mAP@0.5IOU"]
      # Only stand has ground truth; the class prior ranks by person score.
      assert prior == pytest.approx(1.0 if fp_score == 0.1 else 2 / 3)
      values.append(metrics["AVA/Baseline/constant_mAP@0.5IOU"])
    assert values[0] == values[1]  # The person scores do not matter.
    assert min(abs(values[0] - p) for p in possible) < 1e-12
    seen.add(round(values[0], 6))
  assert len(seen) >= 2  # The tie order changes with the seed.


def test_csv_written_by_evaluator_gives_the_same_map_through_the_cli(tmp_path):
  evaluator = AvaEvaluator(label_map=LABEL_MAP, output_dir=str(tmp_path))
  gt_lines = []
  for seed in range(4):
    inputs, outputs = make_batch(seed, quality=0.4)
    evaluator.process(inputs, outputs)
    for b, source_id in enumerate(inputs[InputFields.source_id]):
      for box, hot in zip(
        inputs[InputFields.groundtruth_boxes][b][: inputs[InputFields.num_groundtruth_boxes][b]],
        inputs[InputFields.groundtruth_classes][b],
      ):
        ymin, xmin, ymax, xmax = box
        # A person with no evaluated label has, in an AVA CSV, a label outside the map (80).
        for label in [l for l, on in zip((1, 4, 9), hot) if on] or [80]:
          gt_lines.append(
            "%s,%.6f,%.6f,%.6f,%.6f,%d,0" % (source_id.decode(), xmin, ymin, xmax, ymax, label)
          )
  metrics = evaluator.evaluate()
  assert 0.2 < metrics["AVA/mAP@0.5IOU"] < 1.0
  (tmp_path / "gt.csv").write_text("\n".join(gt_lines) + "\n")
  (tmp_path / "labelmap.csv").write_text("1,stand\n4,dance\n9,run\n")
  result, _ = ava_eval.evaluate_csv_files(
    tmp_path / "labelmap.csv", tmp_path / "gt.csv", tmp_path / "detections.csv"
  )
  assert result.mean_ap == pytest.approx(metrics["AVA/mAP@0.5IOU"], abs=1e-6)
  assert (tmp_path / "metrics.json").exists()


def test_compute_writes_nothing_and_write_files_writes_its_result(tmp_path):
  evaluator = AvaEvaluator(label_map=LABEL_MAP, output_dir=str(tmp_path / "configured"))
  inputs, outputs = make_batch(0, quality=0.5)
  evaluator.process(inputs, outputs)
  result = evaluator.compute()
  assert not (tmp_path / "configured").exists()
  assert result.scalars["AVA/mAP@0.5IOU"] == result.frame_map.mean_ap
  assert result.scalars["AVA/num_keyframes"] == result.num_keyframes == 4
  assert set(result.baselines) == {"constant", "class_prior"}
  csv_path, json_path = evaluator.write_files(result, str(tmp_path / "other"), global_step=5)
  assert (csv_path, json_path) == (
    str(tmp_path / "other" / "detections_step_5.csv"),
    str(tmp_path / "other" / "metrics_step_5.json"),
  )
  report = json.loads(Path(json_path).read_text())
  assert sorted(report["scalars"]) == sorted(result.scalars)
  assert report["scalars"]["AVA/mAP@0.5IOU"] == result.frame_map.mean_ap
  assert report["detections_csv"] == csv_path and report["global_step"] == 5
  # evaluate() = compute() + write_files() into output_dir.
  assert evaluator.evaluate(global_step=5) == pytest.approx(result.scalars, nan_ok=True)
  assert (tmp_path / "configured" / "metrics_step_5.json").read_text() == Path(
    json_path
  ).read_text().replace(str(tmp_path / "other"), str(tmp_path / "configured"))


def test_reset_duplicates_empty_keyframes_and_unlabelled_people():
  evaluator = AvaEvaluator(label_map=LABEL_MAP)
  inputs, outputs = make_batch(0, quality=1.0)
  evaluator.process(inputs, outputs)
  evaluator.process(inputs, outputs)  # Same keyframes again: counted once.
  assert evaluator.num_duplicate_keyframes == 4
  # A keyframe without ground truth: its (wrong) detections are ignored, as for a keyframe
  # absent from a ground-truth CSV.
  empty_inputs, empty_outputs = make_batch(5, batch_size=1, video="empty")
  empty_inputs[InputFields.num_groundtruth_boxes] = np.array([0])
  evaluator.process(empty_inputs, empty_outputs)
  metrics = evaluator.evaluate()
  assert metrics["AVA/mAP@0.5IOU"] == 1.0 and metrics["AVA/num_keyframes"] == 4.0
  evaluator.reset()
  assert math.isnan(evaluator.evaluate()["AVA/mAP@0.5IOU"])


def test_person_without_evaluated_labels_still_marks_the_keyframe():
  evaluator = AvaEvaluator(label_map=LABEL_MAP)
  inputs, outputs = make_batch(1, batch_size=1, max_boxes=2)
  inputs[InputFields.num_groundtruth_boxes] = np.array([2])
  outputs[DetectionFields.num_detections] = np.array([2])
  classes = np.zeros((1, 2, 3), np.float32)
  classes[0, 0, 0] = 1.0  # Person 0: stand; person 1: no evaluated label.
  inputs[InputFields.groundtruth_classes] = classes
  action_scores = np.zeros((1, 2, 3))
  action_scores[0, 0, 0] = 0.5
  action_scores[0, 1, 0] = 0.9  # "stand" on person 1: a false positive ranked first.
  outputs[DetectionFields.detection_action_scores] = action_scores
  evaluator.process(inputs, outputs)
  metrics = evaluator.evaluate()
  assert metrics["AVA/PerformanceByCategory/AP@0.5IOU/stand"] == pytest.approx(0.5)
  assert metrics["AVA/ByNumPeople/mAP@0.5IOU/people[2,2]"] == pytest.approx(0.5)


def test_shape_errors_name_the_field():
  evaluator = AvaEvaluator(label_map=LABEL_MAP)
  inputs, outputs = make_batch(0)
  outputs[DetectionFields.detection_action_scores] = np.zeros((4, 3, 5))
  with pytest.raises(ValueError, match="detection_action_scores"):
    evaluator.process(inputs, outputs)
  del inputs[InputFields.source_id]
  with pytest.raises(KeyError, match="source_id"):
    evaluator.process(inputs, make_batch(0)[1])


SHARED_AVA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "ava"


@pytest.mark.skipif(
  not SHARED_AVA.is_dir(), reason="shared AVA sample files absent: %s" % SHARED_AVA
)
def test_from_files_reads_label_map_and_exclusions():
  evaluator = AvaEvaluator.from_files(
    str(SHARED_AVA / "ava_action_list_v2.1_for_activitynet_2018.pbtxt"),
    str(SHARED_AVA / "ava_excluded_timestamps_sample.csv"),
  )
  assert evaluator.num_classes == 60
  num_classes = evaluator.num_classes
  # Keyframe _-Z6wFjXtGQ,0902 is excluded; 0f39OWEqJ24,0902 is kept.
  inputs, outputs = make_batch(0, batch_size=2, num_classes=num_classes)
  inputs[InputFields.source_id] = np.array([b"_-Z6wFjXtGQ,0902", b"0f39OWEqJ24,0902"])
  evaluator.process(inputs, outputs)
  assert evaluator.evaluate()["AVA/num_keyframes"] == 1.0
