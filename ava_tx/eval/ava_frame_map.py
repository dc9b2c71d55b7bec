"""Frame-level AVA average precision, as the ActivityNet challenge's official evaluator defines it.

Pure NumPy (no TensorFlow); the steps of one keyframe or class are in `ap_ops`. The full
definition, with the reasons for each rule, is in docs/EVALUATION.md. In short:

  * A keyframe is identified by a key (any hashable; ava_tx uses `(video_id, timestamp)`).
  * Ground truth and detections are ROWS: one (box, label) or (box, label, score) per row, as
    in the CSV files. Each detection row is an independent detection.
  * Only label ids of the label map count; other rows are dropped first.
  * Keyframes in `excluded_keys` are dropped from ground truth and detections. Detections on
    keyframes that have no ground-truth row at all (of any class) are ignored.
  * Optional cap: per keyframe, only the `max_detections_per_keyframe` highest-scoring
    label-map rows are kept (the official heap rule, ties included). Then detection rows whose
    box has no area (ymin >= ymax or xmin >= xmax) are dropped, as the official code does.
  * Per keyframe and class, detections in descending score order are matched greedily
    (Pascal VOC): each takes the ground-truth box of highest IoU (first one on ties); it is a
    true positive if that IoU >= 0.5 and that box is not taken yet, else a false positive.
    IoU uses normalized coordinates without the "+1" pixel convention.
  * Per class, all detections are ranked by score; precision/recall give an all-point
    interpolated AP (VOC2010+). A class with ground truth but no detections has AP 0.
  * mAP = mean AP over label-map classes that have ground truth (others are NaN, not counted).

Boxes are [ymin, xmin, ymax, xmax], normalized to [0, 1], float64.
"""

import collections
import dataclasses
import math
from typing import Hashable, Iterable, Mapping, NamedTuple, Optional, Sequence

import numpy as np

from ava_tx.core import ava_constants
from ava_tx.eval import ap_ops


class KeyframeGroundtruth(NamedTuple):
  """Ground-truth rows of one keyframe, one row per (box, label).

  Attributes:
    boxes: float64 [num_rows, 4], [ymin, xmin, ymax, xmax] normalized.
    labels: int64 [num_rows], AVA label ids (1-based).
  """

  boxes: np.ndarray
  labels: np.ndarray


class KeyframeDetections(NamedTuple):
  """Detection rows of one keyframe, one row per (box, label, score).

  Attributes:
    boxes: float64 [num_rows, 4], [ymin, xmin, ymax, xmax] normalized.
    labels: int64 [num_rows], AVA label ids (1-based).
    scores: float64 [num_rows].
  """

  boxes: np.ndarray
  labels: np.ndarray
  scores: np.ndarray


def make_groundtruth(boxes, labels) -> KeyframeGroundtruth:
  """Builds a KeyframeGroundtruth from array-likes, checking shapes (see the class)."""
  boxes = _as_boxes(boxes, "groundtruth boxes")
  labels = np.asarray(labels, dtype=np.int64).reshape(-1)
  if labels.shape[0] != boxes.shape[0]:
    raise ValueError("groundtruth: %d boxes but %d labels" % (boxes.shape[0], labels.shape[0]))
  return KeyframeGroundtruth(boxes, labels)


def make_detections(boxes, labels, scores) -> KeyframeDetections:
  """Builds a KeyframeDetections from array-likes, checking shapes (see the class)."""
  boxes = _as_boxes(boxes, "detection boxes")
  labels = np.asarray(labels, dtype=np.int64).reshape(-1)
  scores = np.asarray(scores, dtype=np.float64).reshape(-1)
  if not labels.shape[0] == scores.shape[0] == boxes.shape[0]:
    raise ValueError(
      "detections: %d boxes, %d labels, %d scores; expected equal counts"
      % (boxes.shape[0], labels.shape[0], scores.shape[0])
    )
  return KeyframeDetections(boxes, labels, scores)


def _as_boxes(boxes, what):
  boxes = np.asarray(boxes, dtype=np.float64)
  if boxes.size == 0:
    return np.zeros((0, 4), np.float64)
  if boxes.ndim != 2 or boxes.shape[1] != 4:
    raise ValueError(
      "%s: expected shape [num_rows, 4] ([ymin, xmin, ymax, xmax]), got %s" % (what, boxes.shape)
    )
  return boxes


# ---- Matching a whole dataset --------------------------------------------------------------


@dataclasses.dataclass
class MatchResult:
  """Every evaluated detection row and ground-truth row, after filtering and matching.

  Detection arrays (length num_det) are in evaluation order (keyframe by keyframe, then the
  official row order), so selecting one class keeps the official concatenation order.
  Ground-truth arrays have length num_gt.

  Attributes:
    keys: list of keyframe keys that have ground truth (after exclusions), in input order.
    num_people: int64 [len(keys)], distinct ground-truth boxes per keyframe (any class).
    det_label, det_score, det_area, det_keyframe: int64/float64/float64/int64 [num_det].
    det_is_true_positive: bool [num_det].
    det_hit_groundtruth: int64 [num_det], index into the ground-truth arrays of the box the
      detection hit (IoU >= threshold, TP or duplicate), or -1.
    gt_label, gt_area, gt_keyframe: int64/float64/int64 [num_gt], label-map rows only.
    stats: counts of what was dropped (see `evaluate_frame_map`).
  """

  keys: list
  num_people: np.ndarray
  det_label: np.ndarray
  det_score: np.ndarray
  det_area: np.ndarray
  det_keyframe: np.ndarray
  det_is_true_positive: np.ndarray
  det_hit_groundtruth: np.ndarray
  gt_label: np.ndarray
  gt_area: np.ndarray
  gt_keyframe: np.ndarray
  stats: dict


@dataclasses.dataclass(frozen=True)
class _IndexedGroundtruth:
  """Label-map ground-truth rows of one evaluated keyframe and where they sit in MatchResult.

  Attributes:
    keyframe: index of the keyframe in MatchResult.keys.
    first_row: index of its first row in MatchResult's ground-truth arrays.
    boxes: float64 [num_rows, 4]; labels: int64 [num_rows] (label-map rows only).
  """

  keyframe: int
  first_row: int
  boxes: np.ndarray
  labels: np.ndarray


@dataclasses.dataclass(frozen=True)
class _KeyframeMatches:
  """The evaluated detection rows of one keyframe, in the official order, after matching.

  Attributes (all [num_rows]): labels int64, scores float64, areas float64, keyframe int64
  (the same index on every row), is_true_positive bool, hit_groundtruth int64 (see
  MatchResult.det_hit_groundtruth).
  """

  labels: np.ndarray
  scores: np.ndarray
  areas: np.ndarray
  keyframe: np.ndarray
  is_true_positive: np.ndarray
  hit_groundtruth: np.ndarray


def _new_stats() -> dict:
  return dict(
    num_groundtruth_keyframes=0,
    num_excluded_groundtruth_keyframes=0,
    num_excluded_detection_keyframes=0,
    num_detection_keyframes_without_groundtruth=0,
    num_detection_rows_outside_label_map=0,
    num_detection_rows_removed_by_cap=0,
    num_detection_rows_without_area=0,
    num_groundtruth_rows_outside_label_map=0,
  )


def _index_groundtruth(groundtruth, label_set, excluded, stats):
  """Evaluated keyframes in input order: (keys, num_people list, {key: _IndexedGroundtruth}).

  Adds the dropped keyframes and rows to `stats`.
  """
  keys, num_people, indexed = [], [], {}
  first_row = 0
  for key, gt in groundtruth.items():
    if key in excluded:
      stats["num_excluded_groundtruth_keyframes"] += 1
      continue
    if gt.boxes.shape[0] == 0:
      continue  # No rows: the keyframe is absent from the ground truth, as in a CSV file.
    keep = np.isin(gt.labels, list(label_set))
    stats["num_groundtruth_rows_outside_label_map"] += int(np.sum(~keep))
    indexed[key] = _IndexedGroundtruth(
      keyframe=len(keys), first_row=first_row, boxes=gt.boxes[keep], labels=gt.labels[keep]
    )
    keys.append(key)
    num_people.append(np.unique(gt.boxes, axis=0).shape[0])
    first_row += int(np.sum(keep))
  stats["num_groundtruth_keyframes"] = len(keys)
  return keys, num_people, indexed


def _evaluated_detection_rows(
  det: KeyframeDetections, label_set, capacity, stats
) -> KeyframeDetections:
  """One keyframe's detection rows that are evaluated, in the official order: label-map rows,
  capped, then those with a box of positive area. Adds the dropped rows to `stats`."""
  keep = np.isin(det.labels, list(label_set))
  stats["num_detection_rows_outside_label_map"] += int(np.sum(~keep))
  boxes, labels, scores = det.boxes[keep], det.labels[keep], det.scores[keep]
  order = ap_ops.official_row_order(labels, scores, boxes, capacity)
  stats["num_detection_rows_removed_by_cap"] += len(scores) - len(order)
  boxes, labels, scores = boxes[order], labels[order], scores[order]
  valid = (boxes[:, 0] < boxes[:, 2]) & (boxes[:, 1] < boxes[:, 3])
  stats["num_detection_rows_without_area"] += int(np.sum(~valid))
  return KeyframeDetections(boxes[valid], labels[valid], scores[valid])


def _match_keyframe(
  det: KeyframeDetections, gt: _IndexedGroundtruth, iou_threshold: float
) -> _KeyframeMatches:
  """Greedy matching of one keyframe's evaluated detection rows, class by class."""
  num_rows = len(det.scores)
  is_tp = np.zeros(num_rows, bool)
  hit = np.full(num_rows, -1, np.int64)
  # Only rows of classes with ground truth here can match; the others are false positives.
  matchable = np.nonzero(np.isin(det.labels, gt.labels))[0]
  overlaps = ap_ops.iou(det.boxes[matchable], gt.boxes)
  for label in np.unique(det.labels[matchable]):
    overlap_rows = np.nonzero(det.labels[matchable] == label)[0]
    class_rows = matchable[overlap_rows]
    class_columns = np.nonzero(gt.labels == label)[0]  # Not empty: the label is matchable.
    class_is_tp, class_hit = ap_ops.greedy_match(
      overlaps[np.ix_(overlap_rows, class_columns)], iou_threshold
    )
    is_tp[class_rows] = class_is_tp
    hit[class_rows] = np.where(
      class_hit >= 0, gt.first_row + class_columns[np.maximum(class_hit, 0)], -1
    )
  return _KeyframeMatches(
    labels=det.labels,
    scores=det.scores,
    areas=ap_ops.box_areas(det.boxes),
    keyframe=np.full(num_rows, gt.keyframe, np.int64),
    is_true_positive=is_tp,
    hit_groundtruth=hit,
  )


def _concatenate(parts, dtype) -> np.ndarray:
  return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)


def match_detections(
  groundtruth: Mapping[Hashable, KeyframeGroundtruth],
  detections: Mapping[Hashable, KeyframeDetections],
  *,
  label_ids: Iterable[int],
  excluded_keys: Iterable[Hashable] = (),
  iou_threshold: float = ava_constants.IOU_THRESHOLD,
  max_detections_per_keyframe: Optional[int] = None,
) -> MatchResult:
  """Filters, caps and matches all detections (see the module docstring for the rules).

  Args:
    groundtruth: {key: KeyframeGroundtruth}, ALL rows of the ground-truth file including labels
      outside the label map (they decide which keyframes have ground truth and how many
      people a keyframe holds; they are not evaluated).
    detections: {key: KeyframeDetections}; keys absent from `groundtruth` are ignored.
    label_ids: AVA label ids of the label map (the evaluated classes).
    excluded_keys: keys dropped from ground truth and detections.
    iou_threshold: IoU needed for a match (>=).
    max_detections_per_keyframe: the cap (50 in the official evaluator since 2019) or None.

  Returns:
    MatchResult.
  """
  label_set = frozenset(int(label) for label in label_ids)
  excluded = frozenset(excluded_keys)
  capacity = int(max_detections_per_keyframe or 0)
  stats = _new_stats()
  keys, num_people, indexed = _index_groundtruth(groundtruth, label_set, excluded, stats)
  matched = []
  for key, det in detections.items():
    if key in excluded:
      stats["num_excluded_detection_keyframes"] += 1
    elif key not in indexed:
      stats["num_detection_keyframes_without_groundtruth"] += 1
    else:
      rows = _evaluated_detection_rows(det, label_set, capacity, stats)
      if len(rows.scores):
        matched.append(_match_keyframe(rows, indexed[key], iou_threshold))
  gts = list(indexed.values())
  return MatchResult(
    keys=keys,
    num_people=np.asarray(num_people, np.int64),
    det_label=_concatenate([m.labels for m in matched], np.int64),
    det_score=_concatenate([m.scores for m in matched], np.float64),
    det_area=_concatenate([m.areas for m in matched], np.float64),
    det_keyframe=_concatenate([m.keyframe for m in matched], np.int64),
    det_is_true_positive=_concatenate([m.is_true_positive for m in matched], bool),
    det_hit_groundtruth=_concatenate([m.hit_groundtruth for m in matched], np.int64),
    gt_label=_concatenate([g.labels for g in gts], np.int64),
    gt_area=_concatenate([ap_ops.box_areas(g.boxes) for g in gts], np.float64),
    gt_keyframe=_concatenate([np.full(len(g.labels), g.keyframe, np.int64) for g in gts], np.int64),
    stats=stats,
  )


def per_class_average_precision(
  matches: MatchResult,
  label_ids: Sequence[int],
  *,
  groundtruth_mask: Optional[np.ndarray] = None,
  detection_mask: Optional[np.ndarray] = None,
):
  """AP of each class from matched rows, optionally on a subset.

  Args:
    matches: from `match_detections`.
    label_ids: classes to report.
    groundtruth_mask: bool [num_gt], ground-truth rows that count (default all).
    detection_mask: bool [num_det], detection rows that count (default all).

  Returns:
    (ap {label_id: float, NaN when the class has no counted ground truth},
     num_groundtruth {label_id: int}, num_detections {label_id: int}).
  """
  if groundtruth_mask is None:
    groundtruth_mask = np.ones(matches.gt_label.shape, bool)
  if detection_mask is None:
    detection_mask = np.ones(matches.det_label.shape, bool)
  ap, num_gt, num_det = {}, {}, {}
  # Rows grouped by class once; the stable sort keeps the evaluation order within a class.
  by_label = np.argsort(matches.det_label, kind="stable")
  sorted_labels = matches.det_label[by_label]
  gt_counts = collections.Counter(matches.gt_label[groundtruth_mask].tolist())
  for label in label_ids:
    label = int(label)
    n_gt = int(gt_counts.get(label, 0))
    rows = by_label[
      np.searchsorted(sorted_labels, label, "left") : np.searchsorted(sorted_labels, label, "right")
    ]
    sel = rows[detection_mask[rows]]
    num_gt[label], num_det[label] = n_gt, int(len(sel))
    if n_gt == 0:
      ap[label] = math.nan
      continue
    precision, recall = ap_ops.precision_recall(
      matches.det_score[sel], matches.det_is_true_positive[sel], n_gt
    )
    ap[label] = ap_ops.average_precision(precision, recall)
  return ap, num_gt, num_det


def mean_of_defined(values: Iterable[float]) -> float:
  """Mean of the non-NaN values; NaN when there are none (the official `nanmean`)."""
  defined = [v for v in values if not math.isnan(v)]
  return float(np.mean(defined)) if defined else math.nan


# ---- The metric ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FrameMapResult:
  """Frame-level AP results.

  Attributes:
    mean_ap: mean AP over label-map classes with ground truth (NaN if none has any).
    per_class_ap: {label_id: AP}, NaN for classes without ground truth; label-map order.
    num_groundtruth: {label_id: ground-truth rows evaluated}.
    num_detections: {label_id: detection rows evaluated}.
    num_classes_with_groundtruth: how many classes the mean is over.
    iou_threshold: the matching threshold.
    max_detections_per_keyframe: the cap applied, or None.
    stats: counts of dropped keyframes and rows (see `match_detections`).
  """

  mean_ap: float
  per_class_ap: dict
  num_groundtruth: dict
  num_detections: dict
  num_classes_with_groundtruth: int
  iou_threshold: float
  max_detections_per_keyframe: Optional[int]
  stats: dict

  @property
  def cap_description(self) -> str:
    """Human text saying whether the per-keyframe cap was applied."""
    if self.max_detections_per_keyframe:
      return "%d-detections-per-keyframe cap: applied" % self.max_detections_per_keyframe
    return "detections-per-keyframe cap: not applied"

  def to_dict(self) -> dict:
    """JSON-friendly dict (NaN kept as float NaN; label ids as strings)."""
    return dict(
      mean_ap=self.mean_ap,
      per_class_ap={str(k): v for k, v in self.per_class_ap.items()},
      num_groundtruth={str(k): v for k, v in self.num_groundtruth.items()},
      num_detections={str(k): v for k, v in self.num_detections.items()},
      num_classes_with_groundtruth=self.num_classes_with_groundtruth,
      iou_threshold=self.iou_threshold,
      max_detections_per_keyframe=self.max_detections_per_keyframe,
      stats=dict(self.stats),
    )


def result_from_matches(
  matches: MatchResult,
  label_ids: Sequence[int],
  *,
  iou_threshold: float = ava_constants.IOU_THRESHOLD,
  max_detections_per_keyframe: Optional[int] = None,
) -> FrameMapResult:
  """Per-class AP and mAP from `match_detections` output (which must use the same settings)."""
  ap, num_gt, num_det = per_class_average_precision(matches, label_ids)
  return FrameMapResult(
    mean_ap=mean_of_defined(ap.values()),
    per_class_ap=ap,
    num_groundtruth=num_gt,
    num_detections=num_det,
    num_classes_with_groundtruth=sum(1 for v in ap.values() if not math.isnan(v)),
    iou_threshold=iou_threshold,
    max_detections_per_keyframe=int(max_detections_per_keyframe)
    if max_detections_per_keyframe
    else None,
    stats=dict(matches.stats),
  )


def evaluate_frame_map(
  groundtruth: Mapping[Hashable, KeyframeGroundtruth],
  detections: Mapping[Hashable, KeyframeDetections],
  *,
  label_ids: Sequence[int],
  excluded_keys: Iterable[Hashable] = (),
  iou_threshold: float = ava_constants.IOU_THRESHOLD,
  max_detections_per_keyframe: Optional[int] = None,
) -> FrameMapResult:
  """The official AVA frame-level AP per class and mAP.

  Args:
    groundtruth: {key: KeyframeGroundtruth} with all rows of the ground truth (any label).
    detections: {key: KeyframeDetections}, one row per (box, label, score).
    label_ids: the label map's AVA ids, in the order results are reported.
    excluded_keys: keyframes dropped from both sides (the `-e` file).
    iou_threshold: 0.5 for the official metric.
    max_detections_per_keyframe: 50 for the post-2019 official cap, None for none.

  Returns:
    FrameMapResult.
  """
  label_ids = [int(label) for label in label_ids]
  matches = match_detections(
    groundtruth,
    detections,
    label_ids=label_ids,
    excluded_keys=excluded_keys,
    iou_threshold=iou_threshold,
    max_detections_per_keyframe=max_detections_per_keyframe,
  )
  return result_from_matches(
    matches,
    label_ids,
    iou_threshold=iou_threshold,
    max_detections_per_keyframe=max_detections_per_keyframe,
  )
