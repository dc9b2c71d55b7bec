"""Hand-computed cases for the official AVA frame-level AP (ava_tx.eval.ava_frame_map)."""

import math

import numpy as np
import pytest

from ava_tx.eval import ap_ops
from ava_tx.eval import ava_frame_map as fm

FULL = [0.0, 0.0, 1.0, 1.0]


def gt(*rows):
  """rows: (box, label) pairs."""
  return fm.make_groundtruth([r[0] for r in rows], [r[1] for r in rows])


def det(*rows):
  """rows: (box, label, score) triples."""
  return fm.make_detections([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])


# ---- Elementary pieces ---------------------------------------------------------------------


def test_iou_without_plus_one_convention():
  overlaps = ap_ops.iou(np.array([FULL, [0, 0, 2, 2]]), np.array([[0, 0, 0.5, 1], [1, 1, 3, 3]]))
  assert overlaps.shape == (2, 2)
  assert overlaps[0, 0] == 0.5
  assert overlaps[0, 1] == 0.0
  # (intersection 1) / (4 + 4 - 1); the "+1" pixel convention would give 4 / 14.
  assert overlaps[1, 1] == pytest.approx(1.0 / 7.0, abs=1e-15)


def test_all_point_interpolation_on_known_sequence():
  # Ranked TP, FP, TP, FP, TP with 4 ground-truth boxes:
  # precision 1, 1/2, 2/3, 1/2, 3/5; recall 1/4, 1/4, 1/2, 1/2, 3/4.
  # Monotone precision at the recall steps 1/4, 1/2, 3/4: 1, 2/3, 3/5 -> AP = (1 + 2/3 + 3/5)/4
  # = 17/30 (the 11-point VOC2007 AP would be 6.2/11 = 0.5636).
  precision, recall = ap_ops.precision_recall([0.9, 0.8, 0.7, 0.6, 0.5], [1, 0, 1, 0, 1], 4)
  np.testing.assert_allclose(precision, [1, 1 / 2, 2 / 3, 1 / 2, 3 / 5])
  np.testing.assert_allclose(recall, [1 / 4, 1 / 4, 1 / 2, 1 / 2, 3 / 4])
  assert ap_ops.average_precision(precision, recall) == pytest.approx(17 / 30, abs=1e-12)


def test_precision_recall_sorts_by_score():
  precision, recall = ap_ops.precision_recall([0.5, 0.9, 0.7], [True, True, False], 2)
  np.testing.assert_allclose(precision, [1, 1 / 2, 2 / 3])
  np.testing.assert_allclose(recall, [1 / 2, 1 / 2, 1])


def test_average_precision_empty_is_zero_and_bad_input_raises():
  assert ap_ops.average_precision([], []) == 0.0
  with pytest.raises(ValueError, match="non-decreasing"):
    ap_ops.average_precision([1, 1], [0.5, 0.25])
  with pytest.raises(ValueError, match=r"\[0, 1\]"):
    ap_ops.average_precision([1.5], [0.5])


def test_greedy_match_does_not_fall_back_to_second_best_box():
  # D0 takes G0; D1 overlaps G0 best (0.9) and G1 (0.667): G0 is taken -> false positive.
  overlaps = ap_ops.iou(np.array([FULL, [0, 0, 0.9, 1]]), np.array([FULL, [0, 0, 0.6, 1]]))
  is_tp, hit = ap_ops.greedy_match(overlaps)
  assert is_tp.tolist() == [True, False]
  assert hit.tolist() == [0, 0]


def test_official_row_order_cap_keeps_highest_and_rejects_ties_at_the_minimum():
  scores = np.array([0.1, 0.5, 0.9, 0.5, 0.7])
  labels = np.array([1, 2, 3, 4, 5])
  boxes = np.tile(FULL, (5, 1))
  assert ap_ops.official_row_order(labels, scores, boxes).tolist() == [2, 4, 1, 3, 0]
  # Capacity 3: rows 0 (0.1) evicted; the second 0.5 row enters because the minimum is then
  # 0.1; the 0.7 row evicts the 0.5 row with the smaller tuple (label 2).
  assert ap_ops.official_row_order(labels, scores, boxes, capacity=3).tolist() == [2, 4, 3]
  # A row equal to the minimum of a full heap does not enter (strict >).
  assert ap_ops.official_row_order(
    [1, 2], [0.5, 0.5], np.tile(FULL, (2, 1)), capacity=1
  ).tolist() == [0]


# ---- The whole metric ----------------------------------------------------------------------


def evaluate(groundtruth, detections, label_ids=(1, 2, 3), **kwargs):
  return fm.evaluate_frame_map(groundtruth, detections, label_ids=list(label_ids), **kwargs)


def test_groundtruth_as_detections_gives_ap_one():
  g = {("v", 902): gt((FULL, 1), (FULL, 2), ([0.1, 0.1, 0.4, 0.4], 1))}
  d = {("v", 902): det((FULL, 1, 1.0), (FULL, 2, 1.0), ([0.1, 0.1, 0.4, 0.4], 1, 1.0))}
  result = evaluate(g, d)
  assert result.per_class_ap[1] == 1.0 and result.per_class_ap[2] == 1.0
  assert math.isnan(result.per_class_ap[3])
  assert result.mean_ap == 1.0 and result.num_classes_with_groundtruth == 2
  assert result.num_groundtruth == {1: 2, 2: 1, 3: 0}


def test_multi_label_boxes_are_independent_rows():
  small = [0.0, 0.0, 0.5, 0.5]
  g = {("v", 902): gt((FULL, 1), (FULL, 2), (small, 2))}
  d = {
    ("v", 902): det(
      (FULL, 1, 0.9), (FULL, 2, 0.3), (FULL, 3, 0.8), (small, 2, 0.5), (small, 1, 0.95)
    )
  }
  result = evaluate(g, d)
  # Class 1: FP (small, 0.95) then TP (0.9): precision 1/2 at recall 1 -> AP 1/2.
  assert result.per_class_ap[1] == pytest.approx(0.5)
  # Class 2: TP (small, 0.5), TP (FULL, 0.3) -> AP 1.
  assert result.per_class_ap[2] == 1.0
  # Class 3 has detections but no ground truth: NaN, not in the mean.
  assert math.isnan(result.per_class_ap[3])
  assert result.mean_ap == pytest.approx(0.75)
  assert result.num_detections == {1: 2, 2: 2, 3: 1}


def test_duplicate_detection_of_same_groundtruth_is_false_positive():
  g = {("v", 902): gt((FULL, 1)), ("v", 903): gt((FULL, 1))}
  d = {("v", 902): det((FULL, 1, 0.9), ([0, 0, 0.9, 1], 1, 0.8)), ("v", 903): det((FULL, 1, 0.7))}
  # TP, FP, TP over 2 boxes: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 -> 1/2 + 1/3.
  assert evaluate(g, d).per_class_ap[1] == pytest.approx(5 / 6, abs=1e-12)
  del d[("v", 902)]
  d[("v", 902)] = det((FULL, 1, 0.9))
  assert evaluate(g, d).per_class_ap[1] == 1.0


def test_iou_just_below_threshold_is_not_matched_and_exactly_at_threshold_is():
  g = {("v", 902): gt((FULL, 1))}
  below = evaluate(g, {("v", 902): det(([0.0, 0.0, 0.4999, 1.0], 1, 0.9))})
  assert below.per_class_ap[1] == 0.0
  at = evaluate(g, {("v", 902): det(([0.0, 0.0, 0.5, 1.0], 1, 0.9))})
  assert at.per_class_ap[1] == 1.0


def test_classes_outside_label_map_are_ignored():
  g = {("v", 902): gt((FULL, 1), (FULL, 7))}
  d = {("v", 902): det((FULL, 1, 0.5), (FULL, 7, 0.9), ([0.5, 0.5, 0.6, 0.6], 7, 0.99))}
  result = evaluate(g, d, label_ids=(1, 2))
  assert set(result.per_class_ap) == {1, 2}
  assert result.mean_ap == 1.0
  assert result.stats["num_detection_rows_outside_label_map"] == 2
  assert result.stats["num_groundtruth_rows_outside_label_map"] == 1


def test_groundtruth_class_without_detections_has_ap_zero_and_counts_in_mean():
  g = {("v", 902): gt((FULL, 1), (FULL, 2))}
  result = evaluate(g, {("v", 902): det((FULL, 1, 0.9))})
  assert result.per_class_ap[1] == 1.0
  assert result.per_class_ap[2] == 0.0
  assert result.mean_ap == 0.5


def test_excluded_keyframes_dropped_from_groundtruth_and_detections():
  g = {("v", 902): gt((FULL, 1)), ("v", 903): gt((FULL, 1))}
  d = {("v", 902): det((FULL, 1, 0.9)), ("v", 903): det(([0, 0, 0.1, 0.1], 1, 0.95))}
  # Without exclusion: FP (0.95), TP (0.9) over 2 boxes -> AP = 1/2 * 1/2.
  assert evaluate(g, d).per_class_ap[1] == pytest.approx(0.25)
  result = evaluate(g, d, excluded_keys={("v", 903)})
  assert result.per_class_ap[1] == 1.0
  assert result.num_groundtruth[1] == 1
  assert result.stats["num_excluded_groundtruth_keyframes"] == 1
  assert result.stats["num_excluded_detection_keyframes"] == 1


def test_detections_on_keyframes_without_groundtruth_are_ignored():
  g = {("v", 902): gt((FULL, 1))}
  d = {("v", 902): det((FULL, 1, 0.5)), ("w", 1000): det((FULL, 1, 0.99))}
  result = evaluate(g, d)
  assert result.per_class_ap[1] == 1.0
  assert result.stats["num_detection_keyframes_without_groundtruth"] == 1
  # A keyframe whose ground truth has only classes outside the label map IS annotated: its
  # detections are false positives.
  g[("w", 1000)] = gt((FULL, 9))
  assert evaluate(g, d).per_class_ap[1] == pytest.approx(0.5)


def test_cap_drops_the_51st_row_but_not_rows_outside_label_map():
  g = {("v", 902): gt((FULL, 1))}
  other = [([0.5, 0.5, 0.6, 0.6], 2, 0.5 + i * 0.001) for i in range(50)]
  outside = [([0.5, 0.5, 0.6, 0.6], 9, 0.9)] * 10  # Not in the label map: never capped.
  d = {("v", 902): det(*(other + outside + [(FULL, 1, 0.4)]))}
  uncapped = evaluate(g, d)
  capped = evaluate(g, d, max_detections_per_keyframe=50)
  assert uncapped.per_class_ap[1] == 1.0
  assert capped.per_class_ap[1] == 0.0  # The TP is the 51st label-map row by score.
  assert capped.stats["num_detection_rows_removed_by_cap"] == 1
  assert capped.max_detections_per_keyframe == 50 and uncapped.max_detections_per_keyframe is None
  assert "50-detections-per-keyframe cap: applied" in capped.cap_description
  assert "not applied" in uncapped.cap_description
  # With 49 other rows the TP is the 50th row and survives.
  d = {("v", 902): det(*(other[1:] + outside + [(FULL, 1, 0.4)]))}
  assert evaluate(g, d, max_detections_per_keyframe=50).per_class_ap[1] == 1.0


def test_detections_without_area_are_dropped_not_counted():
  g = {("v", 902): gt((FULL, 1))}
  d = {("v", 902): det(([0.2, 0.2, 0.2, 0.9], 1, 0.99), (FULL, 1, 0.5))}
  result = evaluate(g, d)
  assert result.per_class_ap[1] == 1.0
  assert result.stats["num_detection_rows_without_area"] == 1


def test_no_groundtruth_at_all_gives_nan_map():
  result = evaluate({}, {("v", 902): det((FULL, 1, 0.5))})
  assert math.isnan(result.mean_ap) and result.num_classes_with_groundtruth == 0


def test_bad_shapes_raise_clear_errors():
  with pytest.raises(ValueError, match=r"\[num_rows, 4\]"):
    fm.make_groundtruth([[0, 0, 1]], [1])
  with pytest.raises(ValueError, match="equal counts"):
    fm.make_detections([FULL], [1, 2], [0.5])


def _reference_map(groundtruth, detections, label_ids, cap):
  """A loop-by-loop restatement of the definition, for random cross-checks (no score ties)."""
  aps = {}
  for label in label_ids:
    scored, num_gt = [], 0
    for key, g in groundtruth.items():
      gt_boxes = [tuple(b) for b, l in zip(g.boxes, g.labels) if l == label]
      num_gt += len(gt_boxes)
      if key not in detections:
        continue
      d = detections[key]
      rows = sorted(
        [(s, l, tuple(b)) for b, l, s in zip(d.boxes, d.labels, d.scores) if l in label_ids],
        key=lambda r: -r[0],
      )
      rows = rows[:cap] if cap else rows
      rows = [r for r in rows if r[2][0] < r[2][2] and r[2][1] < r[2][3] and r[1] == label]
      taken = set()
      for score, _, box in rows:
        best, best_iou = None, -1.0
        for j, gbox in enumerate(gt_boxes):
          value = ap_ops.iou(np.array([box]), np.array([gbox]))[0, 0]
          if value > best_iou:
            best, best_iou = j, value
        tp = best is not None and best_iou >= 0.5 and best not in taken
        if tp:
          taken.add(best)
        scored.append((score, tp))
    if num_gt == 0:
      continue
    scored.sort(key=lambda r: -r[0])
    ap = 0.0
    precisions = [sum(t for _, t in scored[: i + 1]) / (i + 1) for i in range(len(scored))]
    for i, (_, tp) in enumerate(scored):
      if tp:  # Recall rises by 1/num_gt here; monotone precision = max precision from here on.
        ap += max(precisions[i:]) / num_gt
    aps[label] = ap
  return aps


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("cap", [None, 6])
def test_random_cases_agree_with_loop_reference(seed, cap):
  rng = np.random.default_rng(seed)
  groundtruth, detections = {}, {}
  for k in range(6):
    n = int(rng.integers(1, 4))
    corner = rng.uniform(0, 0.6, (n, 2))
    boxes = np.concatenate([corner, corner + rng.uniform(0.1, 0.4, (n, 2))], axis=1)
    labels = rng.integers(1, 5, n)  # Label 4 is outside the label map {1, 2, 3}.
    groundtruth[k] = fm.make_groundtruth(boxes, labels)
    m = 8
    det_boxes = np.repeat(boxes, 3, axis=0)[:m] + rng.normal(0, 0.05, (min(3 * n, m), 4))
    det_boxes = np.concatenate([det_boxes, rng.uniform(0, 1, (m - len(det_boxes), 4))])
    detections[k] = fm.make_detections(det_boxes, rng.integers(1, 5, m), rng.uniform(size=m))
  result = evaluate(groundtruth, detections, max_detections_per_keyframe=cap)
  expected = _reference_map(groundtruth, detections, [1, 2, 3], cap)
  assert {k: v for k, v in result.per_class_ap.items() if not math.isnan(v)} == pytest.approx(
    expected, abs=1e-12
  )


def test_match_result_indexes_rows_across_dropped_keyframes_and_labels():
  box_a, box_b = [0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0]
  groundtruth = {
    "X": fm.make_groundtruth([box_a], [1]),  # Excluded.
    "A": fm.make_groundtruth([box_a, box_a], [99, 1]),  # 99: not in the label map.
    "C": fm.make_groundtruth(np.zeros((0, 4)), []),  # No rows: not a ground-truth keyframe.
    "B": fm.make_groundtruth([box_b], [2]),
  }
  detections = {
    "X": fm.make_detections([box_a], [1], [0.9]),
    "B": fm.make_detections([box_b, box_b, box_a], [2, 2, 7], [0.8, 0.7, 0.95]),
    "A": fm.make_detections([box_a], [1], [0.9]),
    "Z": fm.make_detections([box_a], [1], [0.9]),
  }
  m = fm.match_detections(groundtruth, detections, label_ids=[1, 2], excluded_keys=["X"])
  assert m.keys == ["A", "B"] and m.num_people.tolist() == [1, 1]
  assert m.gt_label.tolist() == [1, 2] and m.gt_keyframe.tolist() == [0, 1]
  # Detections in input keyframe order (B before A), then descending score.
  assert m.det_keyframe.tolist() == [1, 1, 0]
  assert m.det_is_true_positive.tolist() == [True, False, True]
  assert m.det_hit_groundtruth.tolist() == [1, 1, 0]
  assert (
    m.stats["num_excluded_groundtruth_keyframes"],
    m.stats["num_excluded_detection_keyframes"],
    m.stats["num_detection_keyframes_without_groundtruth"],
    m.stats["num_groundtruth_rows_outside_label_map"],
    m.stats["num_detection_rows_outside_label_map"],
  ) == (1, 1, 1, 1, 1)
