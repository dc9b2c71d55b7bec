"""Tests of the class-agnostic person localization AP (ava_tx.eval.localization_ap)."""

import math

import numpy as np
import pytest

from ava_tx.eval import localization_ap


def test_hand_computed_coco_ap_and_threshold_075():
  groundtruth = {"k1": np.array([[0, 0, 0.5, 0.5], [0, 0, 0.5, 0.5], [0.5, 0.5, 1, 1]])}
  detections = {
    "k1": np.array([[0, 0, 0.5, 0.5], [0.2, 0.0, 0.3, 0.1], [0.5, 0.5, 1.0, 0.85]]),
    "no_groundtruth": np.array([[0, 0, 1, 1]]),
  }
  scores = {"k1": np.array([0.9, 0.8, 0.7]), "no_groundtruth": np.array([1.0])}
  ap = localization_ap.localization_average_precision(groundtruth, detections, scores)
  # The repeated ground-truth box is one person: 2 people. At IoU 0.5: TP, FP, TP (IoU 0.7);
  # 101-point COCO interpolation: precision 1 for recall <= 0.5 (51 points), 2/3 above (50).
  assert ap[0.5] == pytest.approx((51 + 50 * 2 / 3) / 101, abs=1e-9)
  # At 0.75 the third detection misses: TP then two FPs -> recall 1/2 only.
  assert ap[0.75] == pytest.approx(51 / 101, abs=1e-9)


def test_no_detections_and_no_groundtruth():
  groundtruth = {"k1": np.array([[0, 0, 0.5, 0.5]])}
  assert localization_ap.localization_average_precision(groundtruth, {}, {}) == {
    0.5: 0.0,
    0.75: 0.0,
  }
  result = localization_ap.localization_average_precision(
    {}, {"k1": np.zeros((1, 4))}, {"k1": np.ones(1)}
  )
  assert all(math.isnan(v) for v in result.values())


def test_distinct_boxes_keeps_first_appearance_order():
  boxes = np.array([[0.5, 0, 1, 1], [0, 0, 1, 1], [0.5, 0, 1, 1]])
  np.testing.assert_array_equal(localization_ap.distinct_boxes(boxes), boxes[:2])
