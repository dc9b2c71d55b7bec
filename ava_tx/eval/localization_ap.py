"""Person localization AP: all action classes merged into one "person" class, via pycocotools.

This is the paper's localization analysis: how well are people found, regardless of their
actions. Ground truth: the distinct boxes of each keyframe (one per person, however many
labels it has). Detections: the model's boxes with their person (objectness) scores.
AP is COCO's (pycocotools COCOeval, bbox): per keyframe, detections in descending score order
each match the unmatched ground-truth box of highest IoU >= threshold; precision is
interpolated at 101 recall points. Reported at IoU 0.5 and 0.75.

Pure Python + NumPy + pycocotools (no TensorFlow).
"""

import contextlib
import io
import math
from typing import Hashable, Mapping, Sequence

import numpy as np
from pycocotools import coco as coco_lib
from pycocotools import cocoeval

DEFAULT_IOU_THRESHOLDS = (0.5, 0.75)


def distinct_boxes(boxes: np.ndarray) -> np.ndarray:
  """The distinct rows of float [num_rows, 4] boxes, in first-appearance order: one per person
  when ground-truth rows repeat a box for each of its labels."""
  boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
  _, first = np.unique(boxes, axis=0, return_index=True)
  return boxes[np.sort(first)]


def _xywh(boxes):
  """[ymin, xmin, ymax, xmax] -> COCO [x, y, width, height] (normalized units)."""
  return np.stack(
    [boxes[:, 1], boxes[:, 0], boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]], axis=1
  )


def localization_average_precision(
  groundtruth_boxes: Mapping[Hashable, np.ndarray],
  detection_boxes: Mapping[Hashable, np.ndarray],
  detection_scores: Mapping[Hashable, np.ndarray],
  *,
  iou_thresholds: Sequence[float] = DEFAULT_IOU_THRESHOLDS,
) -> dict:
  """Class-agnostic person-box AP at each IoU threshold.

  Args:
    groundtruth_boxes: {key: float [num_boxes, 4]} person boxes [ymin, xmin, ymax, xmax]
      normalized (duplicates are merged with `distinct_boxes`). Only these keyframes count;
      detections on other keys are ignored, as in the frame-level metric.
    detection_boxes: {key: float [num_detections, 4]}, one row per detected person.
    detection_scores: {key: float [num_detections]} person scores.
    iou_thresholds: thresholds to report.

  Returns:
    {iou_threshold: AP}; AP is NaN when there is no ground-truth box, 0.0 when there are
    ground-truth boxes but no detections.
  """
  image_ids, images, annotations = _coco_groundtruth(groundtruth_boxes)
  results, max_per_image = _coco_detections(detection_boxes, detection_scores, image_ids)
  if not annotations:
    return {float(t): math.nan for t in iou_thresholds}
  if not results:
    return {float(t): 0.0 for t in iou_thresholds}
  # precision: [num_thresholds, num_recall_points, num_classes, num_area_ranges, num_max_dets],
  # -1 where undefined.
  precision = _coco_precision(images, annotations, results, iou_thresholds, max_per_image)
  out = {}
  for t, threshold in enumerate(iou_thresholds):
    values = precision[t, :, 0, 0, -1]
    out[float(threshold)] = float(np.mean(values)) if np.all(values > -1) else math.nan
  return out


def _coco_groundtruth(groundtruth_boxes):
  """({key: COCO image id}, COCO images, COCO annotations of the distinct person boxes)."""
  images, annotations = [], []
  image_ids = {}
  for key, boxes in groundtruth_boxes.items():
    image_ids[key] = len(image_ids) + 1
    images.append({"id": image_ids[key]})
    for xywh in _xywh(distinct_boxes(boxes)):
      annotations.append(
        {
          "id": len(annotations) + 1,
          "image_id": image_ids[key],
          "category_id": 1,
          "bbox": [float(v) for v in xywh],
          "area": float(xywh[2] * xywh[3]),
          "iscrowd": 0,
        }
      )
  return image_ids, images, annotations


def _coco_detections(detection_boxes, detection_scores, image_ids):
  """(COCO results of the detections on keyframes in `image_ids`, most detections on one)."""
  results = []
  max_per_image = 1
  for key, boxes in detection_boxes.items():
    if key not in image_ids:
      continue
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(detection_scores[key], np.float64).reshape(-1)
    if scores.shape[0] != boxes.shape[0]:
      raise ValueError(
        "keyframe %r: %d detection boxes but %d scores" % (key, boxes.shape[0], scores.shape[0])
      )
    max_per_image = max(max_per_image, boxes.shape[0])
    for xywh, score in zip(_xywh(boxes), scores):
      results.append(
        {
          "image_id": image_ids[key],
          "category_id": 1,
          "bbox": [float(v) for v in xywh],
          "score": float(score),
        }
      )
  return results, max_per_image


def _coco_precision(images, annotations, results, iou_thresholds, max_per_image):
  """COCOeval's accumulated precision array, one area range, every detection kept."""
  with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress.
    gt = coco_lib.COCO()
    gt.dataset = {
      "images": images,
      "annotations": annotations,
      "categories": [{"id": 1, "name": "person"}],
    }
    gt.createIndex()
    dt = gt.loadRes(results)
    evaluation = cocoeval.COCOeval(gt, dt, iouType="bbox")
    evaluation.params.iouThrs = np.asarray(iou_thresholds, np.float64)
    evaluation.params.areaRng = [[0.0, 1e10]]
    evaluation.params.areaRngLbl = ["all"]
    evaluation.params.maxDets = [max_per_image]  # Keep every detection.
    evaluation.evaluate()
    evaluation.accumulate()
  return evaluation.eval["precision"]
