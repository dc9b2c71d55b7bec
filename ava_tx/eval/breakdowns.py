"""Frame-level mAP broken down by person box area and by number of people in the keyframe
(the analyses of the paper's Figure 5). Pure NumPy.

Both use the matches of the full evaluation (`ava_frame_map.match_detections`), so a
detection is matched exactly as in the main metric; a bin then selects which rows count:

  * By box area (COCO's area-range rule): ground-truth rows count when their box area lies in
    the bin. A detection that hit a ground-truth box (IoU >= threshold: a true positive or a
    duplicate) counts when THAT box lies in the bin; a detection that hit nothing counts
    when its own area lies in the bin. So every detection is charged to exactly one bin.
  * By number of people: a keyframe-level attribute (distinct ground-truth boxes of any class);
    ground truth and detections of the keyframes in the bin count.

Areas are normalized ((ymax - ymin) * (xmax - xmin), fraction of the frame). A bin [low, high)
includes low and excludes high; the last area bin also includes 1.0.
"""

import dataclasses
import math
from typing import Optional, Sequence

import numpy as np

from ava_tx.eval import ava_frame_map

DEFAULT_AREA_EDGES = (0.0, 0.05, 0.1, 0.2, 0.4, 1.0)
"""Normalized box-area bin edges: [0, .05), [.05, .1), [.1, .2), [.2, .4), [.4, 1]."""

DEFAULT_PEOPLE_BINS = ((1, 1), (2, 2), (3, 3), (4, 5), (6, None))
"""Inclusive (low, high) numbers of people per keyframe; high None = no upper bound."""


@dataclasses.dataclass(frozen=True)
class BinResult:
  """mAP of one bin.

  Attributes:
    name: bin label, e.g. "area[0.05,0.1)" or "people[4,5]".
    low, high: the bin bounds (high None = unbounded).
    mean_ap: mean AP over classes with ground truth in the bin (NaN if none).
    per_class_ap: {label_id: AP or NaN}.
    num_groundtruth: ground-truth rows (label-map classes) in the bin.
    num_detections: detection rows charged to the bin.
  """

  name: str
  low: float
  high: Optional[float]
  mean_ap: float
  per_class_ap: dict
  num_groundtruth: int
  num_detections: int

  def to_dict(self) -> dict:
    return dict(
      name=self.name,
      low=self.low,
      high=self.high,
      mean_ap=self.mean_ap,
      per_class_ap={str(k): v for k, v in self.per_class_ap.items()},
      num_groundtruth=self.num_groundtruth,
      num_detections=self.num_detections,
    )


def _bin_result(matches, label_ids, name, low, high, gt_mask, det_mask):
  ap, num_gt, num_det = ava_frame_map.per_class_average_precision(
    matches, label_ids, groundtruth_mask=gt_mask, detection_mask=det_mask
  )
  return BinResult(
    name=name,
    low=low,
    high=high,
    mean_ap=ava_frame_map.mean_of_defined(ap.values()),
    per_class_ap=ap,
    num_groundtruth=sum(num_gt.values()),
    num_detections=sum(num_det.values()),
  )


def map_by_box_area(
  matches: ava_frame_map.MatchResult,
  label_ids: Sequence[int],
  edges: Sequence[float] = DEFAULT_AREA_EDGES,
) -> list:
  """mAP per person-box-area bin (see the module docstring for the rule).

  Args:
    matches: from `ava_frame_map.match_detections`.
    label_ids: evaluated classes.
    edges: increasing normalized-area bin edges (at least 2).

  Returns:
    list of BinResult, one per bin.
  """
  edges = [float(e) for e in edges]
  if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])):
    raise ValueError("area bin edges must be at least 2 increasing numbers, got %s" % edges)
  hit = matches.det_hit_groundtruth
  # Area that decides a detection's bin: its hit ground-truth box's, else its own.
  charged_area = np.where(
    hit >= 0, matches.gt_area[np.maximum(hit, 0)] if len(matches.gt_area) else 0.0, matches.det_area
  )
  results = []
  for i, (low, high) in enumerate(zip(edges, edges[1:])):
    last = i == len(edges) - 2
    in_bin = lambda a, low=low, high=high, last=last: (
      (a >= low) & ((a <= high) if last else (a < high))
    )
    name = "area[%g,%g%s" % (low, high, "]" if last else ")")
    results.append(
      _bin_result(
        matches, label_ids, name, low, high, in_bin(matches.gt_area), in_bin(charged_area)
      )
    )
  return results


def map_by_num_people(
  matches: ava_frame_map.MatchResult, label_ids: Sequence[int], bins: Sequence = DEFAULT_PEOPLE_BINS
) -> list:
  """mAP per bin of the number of people (distinct ground-truth boxes) in the keyframe.

  Args:
    matches: from `ava_frame_map.match_detections`.
    label_ids: evaluated classes.
    bins: inclusive (low, high) pairs; high None means no upper bound.

  Returns:
    list of BinResult, one per bin.
  """
  results = []
  for low, high in bins:
    people = matches.num_people
    keyframe_in_bin = (people >= low) & (people <= (high if high is not None else math.inf))
    name = "people[%d,%s]" % (low, "inf" if high is None else "%d" % high)
    gt_mask = keyframe_in_bin[matches.gt_keyframe] if len(people) else np.zeros(0, bool)
    det_mask = keyframe_in_bin[matches.det_keyframe] if len(people) else np.zeros(0, bool)
    results.append(_bin_result(matches, label_ids, name, low, high, gt_mask, det_mask))
  return results
