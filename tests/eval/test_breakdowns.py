"""Hand-computed cases for the Figure-5 breakdowns (ava_tx.eval.breakdowns)."""

import math

import pytest

from ava_tx.eval import ava_frame_map as fm
from ava_tx.eval import breakdowns


def matches():
  a1 = [0.0, 0.0, 0.1, 0.1]  # area 0.01, keyframe A (1 person)
  b1 = [0.0, 0.0, 0.5, 0.5]  # area 0.25, keyframe B (2 people)
  b2 = [0.5, 0.5, 1.0, 1.0]  # area 0.25
  groundtruth = {"A": fm.make_groundtruth([a1], [1]), "B": fm.make_groundtruth([b1, b2], [1, 2])}
  detections = {
    "A": fm.make_detections([[0.8, 0.8, 0.85, 0.85], a1], [1, 1], [0.9, 0.8]),
    # The 0.6 duplicate of b1 (IoU 0.7) has its own area 0.175 but is charged to b1's bin.
    "B": fm.make_detections([b1, [0.0, 0.0, 0.5, 0.35], b2], [1, 1, 2], [0.7, 0.6, 0.5]),
  }
  return fm.match_detections(groundtruth, detections, label_ids=[1, 2])


def test_match_result_records_hits_areas_and_people():
  m = matches()
  assert m.keys == ["A", "B"] and m.num_people.tolist() == [1, 2]
  assert m.det_is_true_positive.tolist() == [False, True, True, False, True]
  assert m.det_hit_groundtruth.tolist() == [-1, 0, 1, 1, 2]
  assert m.gt_area.tolist() == pytest.approx([0.01, 0.25, 0.25])
  overall, _, _ = fm.per_class_average_precision(m, [1, 2])
  # Class 1: FP .9, TP .8, TP .7, FP .6 over 2 boxes -> AP 2/3; class 2 -> 1.
  assert overall[1] == pytest.approx(2 / 3) and overall[2] == 1.0


def test_map_by_box_area():
  bins = {b.name: b for b in breakdowns.map_by_box_area(matches(), [1, 2])}
  assert list(bins) == [
    "area[0,0.05)",
    "area[0.05,0.1)",
    "area[0.1,0.2)",
    "area[0.2,0.4)",
    "area[0.4,1]",
  ]
  small = bins["area[0,0.05)"]
  assert small.per_class_ap[1] == pytest.approx(0.5)  # FP .9 (own area), TP .8.
  assert math.isnan(small.per_class_ap[2]) and small.mean_ap == pytest.approx(0.5)
  assert (small.num_groundtruth, small.num_detections) == (1, 2)
  large = bins["area[0.2,0.4)"]
  assert large.per_class_ap == {1: 1.0, 2: 1.0} and large.num_detections == 3
  assert bins["area[0.1,0.2)"].num_detections == 0 and math.isnan(bins["area[0.1,0.2)"].mean_ap)


def test_map_by_num_people():
  bins = breakdowns.map_by_num_people(matches(), [1, 2], bins=((1, 1), (2, None)))
  assert [b.name for b in bins] == ["people[1,1]", "people[2,inf]"]
  assert bins[0].mean_ap == pytest.approx(0.5) and bins[0].num_groundtruth == 1
  assert bins[1].mean_ap == 1.0 and bins[1].num_detections == 3


def test_bad_area_edges_raise():
  with pytest.raises(ValueError, match="increasing"):
    breakdowns.map_by_box_area(matches(), [1], edges=(0.5, 0.1))
