"""Frame-level AVA average precision, as the ActivityNet challenge's official evaluator defines it.

Pure NumPy (no TensorFlow). The full definition, with the reasons for each rule, is in
docs/EVALUATION.md. In short:

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
import heapq
import math
from typing import Hashable, Iterable, Mapping, NamedTuple, Optional, Sequence

import numpy as np

from ava_tx.core import ava_constants


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
    raise ValueError("detections: %d boxes, %d labels, %d scores; expected equal counts" %
                     (boxes.shape[0], labels.shape[0], scores.shape[0]))
  return KeyframeDetections(boxes, labels, scores)


def _as_boxes(boxes, what):
  boxes = np.asarray(boxes, dtype=np.float64)
  if boxes.size == 0:
    return np.zeros((0, 4), np.float64)
  if boxes.ndim != 2 or boxes.shape[1] != 4:
    raise ValueError("%s: expected shape [num_rows, 4] ([ymin, xmin, ymax, xmax]), got %s" %
                     (what, boxes.shape))
  return boxes


# ---- Elementary pieces ---------------------------------------------------------------------

def iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
  """Pairwise intersection over union, without the "+1" pixel convention.

  Args:
    boxes1: float64 [n, 4], [ymin, xmin, ymax, xmax].
    boxes2: float64 [m, 4].

  Returns:
    float64 [n, m]: area(intersection) / area(union); areas are (ymax - ymin) * (xmax - xmin).
    0/0 (two boxes of zero area) gives NaN, as in the official code.
  """
  boxes1 = np.asarray(boxes1, np.float64).reshape(-1, 4)
  boxes2 = np.asarray(boxes2, np.float64).reshape(-1, 4)
  ymin1, xmin1, ymax1, xmax1 = (boxes1[:, i:i + 1] for i in range(4))
  ymin2, xmin2, ymax2, xmax2 = (boxes2[:, i] for i in range(4))
  heights = np.maximum(0.0, np.minimum(ymax1, ymax2) - np.maximum(ymin1, ymin2))
  widths = np.maximum(0.0, np.minimum(xmax1, xmax2) - np.maximum(xmin1, xmin2))
  intersection = heights * widths
  area1 = (ymax1 - ymin1) * (xmax1 - xmin1)
  area2 = (ymax2 - ymin2) * (xmax2 - xmin2)
  with np.errstate(invalid="ignore", divide="ignore"):
    return intersection / (area1 + area2 - intersection)


def box_areas(boxes: np.ndarray) -> np.ndarray:
  """float64 [n] areas (ymax - ymin) * (xmax - xmin) of float64 [n, 4] boxes."""
  boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
  return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def greedy_match(overlaps: np.ndarray, iou_threshold: float = ava_constants.IOU_THRESHOLD):
  """Pascal VOC greedy matching of one keyframe and class.

  Args:
    overlaps: float64 [num_detections, num_groundtruth] IoU, detections already in the order
      they are to be processed (descending score).
    iou_threshold: a detection can only match at IoU >= this.

  Returns:
    (is_true_positive bool [num_detections], hit_groundtruth int64 [num_detections]):
    hit_groundtruth is the index of the ground-truth box of highest IoU (first on ties) when
    that IoU >= iou_threshold, else -1. A detection that hits an already-matched box is a
    false positive (it does NOT fall back to another box).
  """
  num_detections, num_groundtruth = overlaps.shape
  is_tp = np.zeros(num_detections, dtype=bool)
  hit = np.full(num_detections, -1, dtype=np.int64)
  if num_groundtruth == 0 or num_detections == 0:
    return is_tp, hit
  best = np.argmax(overlaps, axis=1)
  taken = np.zeros(num_groundtruth, dtype=bool)
  for i in range(num_detections):
    gt = best[i]
    if overlaps[i, gt] >= iou_threshold:
      hit[i] = gt
      if not taken[gt]:
        taken[gt] = True
        is_tp[i] = True
  return is_tp, hit


def precision_recall(scores: np.ndarray, is_true_positive: np.ndarray, num_groundtruth: int):
  """Precision and recall after each detection of one class, in descending score order.

  Ties in score are ordered like the official code (`argsort(scores)[::-1]`), here with a
  stable sort so the order is reproducible: tied detections are taken in reverse input order.

  Args:
    scores: float64 [num_detections].
    is_true_positive: bool [num_detections].
    num_groundtruth: number of ground-truth boxes of the class (> 0).

  Returns:
    (precision float64 [num_detections], recall float64 [num_detections]).
  """
  scores = np.asarray(scores, np.float64).reshape(-1)
  is_true_positive = np.asarray(is_true_positive, bool).reshape(-1)
  if scores.shape != is_true_positive.shape:
    raise ValueError("scores %s and is_true_positive %s differ in shape" %
                     (scores.shape, is_true_positive.shape))
  if num_groundtruth <= 0:
    raise ValueError("num_groundtruth must be positive, got %r" % num_groundtruth)
  order = np.argsort(scores, kind="stable")[::-1]
  tp = np.cumsum(is_true_positive[order], dtype=np.float64)
  fp = np.cumsum(~is_true_positive[order], dtype=np.float64)
  return tp / (tp + fp), tp / float(num_groundtruth)


def average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
  """All-point interpolated average precision (Pascal VOC 2010+).

  Recall is padded with 0 and 1, precision with 0 and 0; precision is made monotone
  (non-increasing, each value replaced by the maximum to its right); AP is the sum of
  (recall step) * (precision at the step's end) over the steps where recall changes.

  Args:
    precision: float64 [n], values in [0, 1].
    recall: float64 [n], non-decreasing values in [0, 1].

  Returns:
    AP as a Python float; 0.0 when n == 0 (a class without detections).
  """
  precision = np.asarray(precision, np.float64).reshape(-1)
  recall = np.asarray(recall, np.float64).reshape(-1)
  if precision.shape != recall.shape:
    raise ValueError("precision %s and recall %s differ in shape" % (precision.shape, recall.shape))
  if precision.size == 0:
    return 0.0
  if np.any(precision < 0) or np.any(precision > 1) or np.any(recall < 0) or np.any(recall > 1):
    raise ValueError("precision and recall must lie in [0, 1]")
  if np.any(np.diff(recall) < 0):
    raise ValueError("recall must be non-decreasing")
  recall = np.concatenate([[0.0], recall, [1.0]])
  precision = np.concatenate([[0.0], precision, [0.0]])
  precision = np.maximum.accumulate(precision[::-1])[::-1]
  steps = np.nonzero(recall[1:] != recall[:-1])[0] + 1
  return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


def official_row_order(labels, scores, boxes, capacity: int = 0) -> np.ndarray:
  """Indices of the detection rows of one keyframe that the official evaluator keeps, in the
  order it processes them.

  The official reader pushes every row (score, label, ymin, xmin, ymax, xmax) on a min-heap;
  with a capacity, a row enters a full heap only if its score is strictly greater than the
  heap's smallest entry, which it then evicts. The kept rows are then sorted by descending
  score. This function keeps exactly the same rows (replaying the heap when scores tie at the
  cap boundary). Rows of exactly equal score are returned in input order when nothing ties at
  the boundary, in the official heap-layout order otherwise.

  Args:
    labels: int [num_rows]; scores: float [num_rows]; boxes: float [num_rows, 4].
    capacity: maximum rows kept (e.g. 50); 0 or None keeps all.

  Returns:
    int64 [num_kept] row indices, highest score first.
  """
  capacity = capacity or 0
  scores = np.asarray(scores, np.float64).reshape(-1)
  descending = np.argsort(-scores, kind="stable")
  if capacity < 1 or len(scores) <= capacity or \
      scores[descending[capacity - 1]] != scores[descending[capacity]]:
    # Fast path, same kept set: no tie at the cap boundary. Equal scores stay in input order
    # (the official order of exact ties follows its heap's internal layout instead).
    return descending[:capacity] if capacity >= 1 else descending
  heap = []
  for i in range(len(scores)):
    # The trailing index only breaks ties between fully identical rows (interchangeable).
    entry = (float(scores[i]), int(labels[i]), float(boxes[i][0]), float(boxes[i][1]),
             float(boxes[i][2]), float(boxes[i][3]), i)
    if capacity < 1 or len(heap) < capacity:
      heapq.heappush(heap, entry)
    elif entry[0] > heap[0][0]:
      heapq.heapreplace(heap, entry)
  return np.array([e[-1] for e in sorted(heap, key=lambda e: -e[0])], dtype=np.int64)


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


def match_detections(groundtruth: Mapping[Hashable, KeyframeGroundtruth],
                     detections: Mapping[Hashable, KeyframeDetections],
                     *, label_ids: Iterable[int],
                     excluded_keys: Iterable[Hashable] = (),
                     iou_threshold: float = ava_constants.IOU_THRESHOLD,
                     max_detections_per_keyframe: Optional[int] = None) -> MatchResult:
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
  label_set = frozenset(int(l) for l in label_ids)
  excluded = frozenset(excluded_keys)
  capacity = int(max_detections_per_keyframe or 0)
  stats = dict(num_groundtruth_keyframes=0, num_excluded_groundtruth_keyframes=0,
               num_excluded_detection_keyframes=0, num_detection_keyframes_without_groundtruth=0,
               num_detection_rows_outside_label_map=0, num_detection_rows_removed_by_cap=0,
               num_detection_rows_without_area=0, num_groundtruth_rows_outside_label_map=0)
  keys, num_people = [], []
  gt_label, gt_area, gt_keyframe, gt_boxes_by_key = [], [], [], {}
  offset = 0  # Index of the keyframe's first label-map row in the ground-truth arrays.
  for key, gt in groundtruth.items():
    if key in excluded:
      stats["num_excluded_groundtruth_keyframes"] += 1
      continue
    if gt.boxes.shape[0] == 0:
      continue  # No rows: the keyframe is absent from the ground truth, as in a CSV file.
    index = len(keys)
    keys.append(key)
    num_people.append(np.unique(gt.boxes, axis=0).shape[0])
    keep = np.isin(gt.labels, list(label_set))
    stats["num_groundtruth_rows_outside_label_map"] += int(np.sum(~keep))
    gt_boxes_by_key[key] = (index, offset, gt.boxes[keep], gt.labels[keep])
    offset += int(np.sum(keep))
    gt_label.append(gt.labels[keep])
    gt_area.append(box_areas(gt.boxes[keep]))
    gt_keyframe.append(np.full(int(np.sum(keep)), index, np.int64))
  stats["num_groundtruth_keyframes"] = len(keys)

  det_parts = []  # (label, score, area, keyframe, is_tp, hit)
  for key, det in detections.items():
    if key in excluded:
      stats["num_excluded_detection_keyframes"] += 1
      continue
    if key not in gt_boxes_by_key:
      stats["num_detection_keyframes_without_groundtruth"] += 1
      continue
    index, offset, k_gt_boxes, k_gt_labels = gt_boxes_by_key[key]
    keep = np.isin(det.labels, list(label_set))
    stats["num_detection_rows_outside_label_map"] += int(np.sum(~keep))
    d_boxes, d_labels, d_scores = det.boxes[keep], det.labels[keep], det.scores[keep]
    order = official_row_order(d_labels, d_scores, d_boxes, capacity)
    stats["num_detection_rows_removed_by_cap"] += len(d_scores) - len(order)
    d_boxes, d_labels, d_scores = d_boxes[order], d_labels[order], d_scores[order]
    valid = (d_boxes[:, 0] < d_boxes[:, 2]) & (d_boxes[:, 1] < d_boxes[:, 3])
    stats["num_detection_rows_without_area"] += int(np.sum(~valid))
    d_boxes, d_labels, d_scores = d_boxes[valid], d_labels[valid], d_scores[valid]
    if not len(d_scores):
      continue
    is_tp = np.zeros(len(d_scores), bool)
    hit = np.full(len(d_scores), -1, np.int64)
    # Only rows of classes with ground truth here can match; the others are false positives.
    matchable = np.nonzero(np.isin(d_labels, k_gt_labels))[0]
    overlaps = iou(d_boxes[matchable], k_gt_boxes)
    for label in np.unique(d_labels[matchable]):
      rows = np.nonzero(d_labels[matchable] == label)[0]
      d_sel = matchable[rows]
      g_sel = np.nonzero(k_gt_labels == label)[0]
      tp, h = greedy_match(overlaps[np.ix_(rows, g_sel)], iou_threshold)
      is_tp[d_sel] = tp
      hit[d_sel] = np.where(h >= 0, offset + g_sel[np.maximum(h, 0)] if len(g_sel) else -1, -1)
    det_parts.append((d_labels, d_scores, box_areas(d_boxes),
                      np.full(len(d_scores), index, np.int64), is_tp, hit))

  def cat(parts, i, dtype):
    return (np.concatenate([p[i] for p in parts]).astype(dtype) if parts
            else np.zeros(0, dtype))

  return MatchResult(
      keys=keys, num_people=np.asarray(num_people, np.int64),
      det_label=cat(det_parts, 0, np.int64), det_score=cat(det_parts, 1, np.float64),
      det_area=cat(det_parts, 2, np.float64), det_keyframe=cat(det_parts, 3, np.int64),
      det_is_true_positive=cat(det_parts, 4, bool), det_hit_groundtruth=cat(det_parts, 5, np.int64),
      gt_label=np.concatenate(gt_label).astype(np.int64) if gt_label else np.zeros(0, np.int64),
      gt_area=np.concatenate(gt_area) if gt_area else np.zeros(0, np.float64),
      gt_keyframe=np.concatenate(gt_keyframe) if gt_keyframe else np.zeros(0, np.int64),
      stats=stats)


def per_class_average_precision(matches: MatchResult, label_ids: Sequence[int], *,
                                groundtruth_mask: Optional[np.ndarray] = None,
                                detection_mask: Optional[np.ndarray] = None):
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
    rows = by_label[np.searchsorted(sorted_labels, label, "left"):
                    np.searchsorted(sorted_labels, label, "right")]
    sel = rows[detection_mask[rows]]
    num_gt[label], num_det[label] = n_gt, int(len(sel))
    if n_gt == 0:
      ap[label] = math.nan
      continue
    precision, recall = precision_recall(matches.det_score[sel], matches.det_is_true_positive[sel],
                                         n_gt)
    ap[label] = average_precision(precision, recall)
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
    return dict(mean_ap=self.mean_ap,
                per_class_ap={str(k): v for k, v in self.per_class_ap.items()},
                num_groundtruth={str(k): v for k, v in self.num_groundtruth.items()},
                num_detections={str(k): v for k, v in self.num_detections.items()},
                num_classes_with_groundtruth=self.num_classes_with_groundtruth,
                iou_threshold=self.iou_threshold,
                max_detections_per_keyframe=self.max_detections_per_keyframe,
                stats=dict(self.stats))


def result_from_matches(matches: MatchResult, label_ids: Sequence[int], *,
                        iou_threshold: float = ava_constants.IOU_THRESHOLD,
                        max_detections_per_keyframe: Optional[int] = None) -> FrameMapResult:
  """Per-class AP and mAP from `match_detections` output (which must use the same settings)."""
  ap, num_gt, num_det = per_class_average_precision(matches, label_ids)
  return FrameMapResult(
      mean_ap=mean_of_defined(ap.values()), per_class_ap=ap, num_groundtruth=num_gt,
      num_detections=num_det,
      num_classes_with_groundtruth=sum(1 for v in ap.values() if not math.isnan(v)),
      iou_threshold=iou_threshold,
      max_detections_per_keyframe=int(max_detections_per_keyframe) if max_detections_per_keyframe
      else None,
      stats=dict(matches.stats))


def evaluate_frame_map(groundtruth: Mapping[Hashable, KeyframeGroundtruth],
                       detections: Mapping[Hashable, KeyframeDetections],
                       *, label_ids: Sequence[int],
                       excluded_keys: Iterable[Hashable] = (),
                       iou_threshold: float = ava_constants.IOU_THRESHOLD,
                       max_detections_per_keyframe: Optional[int] = None) -> FrameMapResult:
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
  label_ids = [int(l) for l in label_ids]
  matches = match_detections(groundtruth, detections, label_ids=label_ids,
                             excluded_keys=excluded_keys, iou_threshold=iou_threshold,
                             max_detections_per_keyframe=max_detections_per_keyframe)
  return result_from_matches(matches, label_ids, iou_threshold=iou_threshold,
                             max_detections_per_keyframe=max_detections_per_keyframe)


# ---- Baseline ------------------------------------------------------------------------------

def class_prior_baseline_scores(person_scores: np.ndarray, class_priors: np.ndarray,
                                *, seed: int = 0) -> np.ndarray:
  """Action scores of the class-prior baseline for a set of detection boxes.

  The baseline keeps the model's boxes but knows nothing about actions: the score of box b
  for class c is prior(c) * q(b), where q(b) in (0, 1] is the rank of b's person score among
  all boxes divided by the number of boxes, ties in person score broken by a seeded random
  order. Per class, boxes are thus ranked by person confidence (ties at random, i.e. an
  unbiased "no information" order); across classes of one keyframe, frequent classes come
  first, which is what decides the rows that survive the 50-per-keyframe cap.

  Args:
    person_scores: float [num_boxes], the detector's person (objectness) scores of all boxes
      of the evaluated set, concatenated.
    class_priors: float [num_classes], class frequencies (e.g. ground-truth rows per class
      divided by ground-truth boxes).

  Returns:
    float64 [num_boxes, num_classes].
  """
  person_scores = np.asarray(person_scores, np.float64).reshape(-1)
  class_priors = np.asarray(class_priors, np.float64).reshape(-1)
  n = person_scores.shape[0]
  tiebreak = np.random.default_rng(seed).permutation(n)
  order = np.lexsort((tiebreak, person_scores))  # ascending by score, then random.
  rank = np.empty(n, np.float64)
  rank[order] = np.arange(1, n + 1, dtype=np.float64)
  return (rank / max(n, 1))[:, None] * class_priors[None, :]
