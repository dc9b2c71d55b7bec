"""The elementary steps of frame-level AVA AP, one keyframe or one class at a time.

Pure NumPy: IoU and box areas, Pascal VOC greedy matching, the official evaluator's row order
and per-keyframe cap, precision/recall and all-point interpolated AP. `ava_frame_map` applies
them to a whole dataset; docs/EVALUATION.md gives the definition and the reasons.

Boxes are [ymin, xmin, ymax, xmax], normalized to [0, 1], float64.
"""

import heapq

import numpy as np

from ava_tx.core import ava_constants


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
  ymin1, xmin1, ymax1, xmax1 = (boxes1[:, i : i + 1] for i in range(4))
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
    raise ValueError(
      "scores %s and is_true_positive %s differ in shape" % (scores.shape, is_true_positive.shape)
    )
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
  if (
    capacity < 1
    or len(scores) <= capacity
    or scores[descending[capacity - 1]] != scores[descending[capacity]]
  ):
    # Fast path, same kept set: no tie at the cap boundary. Equal scores stay in input order
    # (the official order of exact ties follows its heap's internal layout instead).
    return descending[:capacity] if capacity >= 1 else descending
  heap = []
  for i in range(len(scores)):
    # The trailing index only breaks ties between fully identical rows (interchangeable).
    entry = (
      float(scores[i]),
      int(labels[i]),
      float(boxes[i][0]),
      float(boxes[i][1]),
      float(boxes[i][2]),
      float(boxes[i][3]),
      i,
    )
    if capacity < 1 or len(heap) < capacity:
      heapq.heappush(heap, entry)
    elif entry[0] > heap[0][0]:
      heapq.heapreplace(heap, entry)
  return np.array([e[-1] for e in sorted(heap, key=lambda e: -e[0])], dtype=np.int64)
