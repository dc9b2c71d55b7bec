"""AVA evaluator for the training loop: reset / process(batch) / evaluate() -> metrics.

detectron2-style. The training loop feeds it NumPy arrays (or eager tensors, converted with
`np.asarray`; under tf.distribute gather the per-replica values first). Pure Python + NumPy +
pycocotools (no TensorFlow).

`compute()` returns an `EvaluationResult` of everything processed since `reset()`:
  * the official frame-level AP per class and mAP (ava_frame_map; docs/EVALUATION.md), with
    the 50-per-keyframe cap when configured, always reported in the metrics;
  * two baselines on the same boxes: the constant-score baseline (every box scores each class
    the same, ties in random order) and the stricter class-prior baseline (the class prior
    ranked by the box's person score; `baselines.class_prior_baseline_scores`);
  * person localization AP at IoU 0.5 and 0.75 (localization_ap, pycocotools);
  * mAP by person box area and by number of people in the keyframe (breakdowns);
`write_files()` writes the detections CSV in the official format (one row per box and class,
`%04d` timestamps) and a metrics JSON file, each atomically through `file_io` (so the directory
may be gs://). `evaluate()` does both (writing only when `output_dir` is set) and returns a
flat {name: float} for TensorBoard.
"""

import dataclasses
from typing import Mapping, Optional, Sequence, Tuple

import numpy as np

from ava_tx.core import ava_constants
from ava_tx.core import file_io
from ava_tx.core.standard_fields import DetectionFields
from ava_tx.core.standard_fields import InputFields
from ava_tx.data import ava_annotations
from ava_tx.data import detection_writer
from ava_tx.data import label_map_util
from ava_tx.eval import ava_eval
from ava_tx.eval import ava_frame_map
from ava_tx.eval import baselines
from ava_tx.eval import breakdowns
from ava_tx.eval import localization_ap

NO_LABEL_ID = 0
"""Internal label id of a ground-truth person box that has none of the model's classes: it still
marks the keyframe as annotated and counts as a person, but no class is evaluated on it (AVA
label ids start at 1)."""


@dataclasses.dataclass(frozen=True)
class EvaluationResult:
  """Every metric of one evaluation (`AvaEvaluator.compute`).

  Attributes:
    frame_map: the official frame-level AP per class and mAP.
    baselines: {"constant" | "class_prior": FrameMapResult} on the same boxes.
    localization_ap: {iou_threshold: person localization AP}.
    by_box_area, by_num_people: lists of `breakdowns.BinResult`.
    num_keyframes: evaluated keyframes (with ground truth, not excluded).
    scalars: {metric name: value}, the flat view logged to TensorBoard (see `evaluate`).
  """

  frame_map: ava_frame_map.FrameMapResult
  baselines: dict
  localization_ap: dict
  by_box_area: list
  by_num_people: list
  num_keyframes: int
  scalars: dict


def _to_text(value):
  if isinstance(value, bytes):
    return value.decode("utf-8")
  if isinstance(value, np.ndarray) and value.shape == ():
    return _to_text(value.item())
  return str(value)


class AvaEvaluator:
  """Accumulates keyframe detections and ground truth; computes the AVA metrics.

  Keyframes are keyed `(video_id, timestamp)`, like `ava_annotations` readers, so
  `excluded_keys` from `ava_annotations.read_excluded_timestamps` apply directly. A keyframe
  processed twice (e.g. a repeated padding example) is counted once, the first time.
  """

  def __init__(
    self,
    *,
    label_map: Sequence,
    class_ids: Optional[Sequence[int]] = None,
    output_dir: Optional[str] = None,
    excluded_keys=(),
    max_detections_per_keyframe: Optional[int] = None,
    iou_threshold: float = ava_constants.IOU_THRESHOLD,
    area_edges: Sequence[float] = breakdowns.DEFAULT_AREA_EDGES,
    people_bins: Sequence = breakdowns.DEFAULT_PEOPLE_BINS,
    class_priors: Optional[Sequence[float]] = None,
    baseline_seed: int = 0,
    metric_prefix: str = "AVA",
  ):
    """Constructor.

    Args:
      label_map: evaluated classes, objects with `.id` and `.name` (e.g. LabelMapEntry from
        `label_map_util.read_label_map`).
      class_ids: AVA label id of each of the model's contiguous class indices
        0..num_classes-1 (the last axis of groundtruth_classes and detection_action_scores).
        Default: the label map's ids in order.
      output_dir: where evaluate() writes detections CSV and metrics JSON (None: no files).
      excluded_keys: (video_id, timestamp) keyframes excluded from evaluation.
      max_detections_per_keyframe: 50 for the official post-2019 cap, None for no cap.
      iou_threshold: 0.5 for the official metric.
      area_edges, people_bins: breakdown bins (see `breakdowns`).
      class_priors: float [num_classes] priors for the baseline (e.g. training-set class
        frequencies); default: the frequencies in the evaluated ground truth.
      baseline_seed: seed of the baseline's random tie-breaking.
      metric_prefix: prefix of the metric names.
    """
    self._label_map = list(label_map)
    self._label_ids = [int(e.id) for e in self._label_map]
    self._class_ids = np.asarray(class_ids if class_ids is not None else self._label_ids, np.int64)
    self._output_dir = output_dir
    self._excluded_keys = frozenset(excluded_keys)
    self._cap = int(max_detections_per_keyframe) if max_detections_per_keyframe else None
    self._iou_threshold = float(iou_threshold)
    self._area_edges = tuple(area_edges)
    self._people_bins = tuple(people_bins)
    self._class_priors = None if class_priors is None else np.asarray(class_priors, np.float64)
    if self._class_priors is not None and self._class_priors.shape != self._class_ids.shape:
      raise ValueError(
        "class_priors has shape %s, expected [%d] (one per model class)"
        % (self._class_priors.shape, len(self._class_ids))
      )
    self._baseline_seed = baseline_seed
    self._prefix = metric_prefix
    self.reset()

  @property
  def num_classes(self) -> int:
    return len(self._class_ids)

  def reset(self) -> None:
    """Forgets everything processed."""
    self._groundtruth = {}  # key -> (boxes [n, 4], multi_hot [n, num_classes])
    self._detections = {}  # key -> (boxes [m, 4], person_scores [m], action_scores [m, C])
    self.num_duplicate_keyframes = 0

  # ---- Accumulation ----------------------------------------------------------------------

  def _keys(self, inputs, batch_size):
    if InputFields.source_id in inputs:
      ids = np.asarray(inputs[InputFields.source_id]).reshape(-1)
      return [ava_constants.parse_key(_to_text(v)) for v in ids]
    if InputFields.video_id in inputs and InputFields.timestamp in inputs:
      videos = np.asarray(inputs[InputFields.video_id]).reshape(-1)
      stamps = np.asarray(inputs[InputFields.timestamp]).reshape(-1)
      return [(_to_text(v), int(t)) for v, t in zip(videos, stamps)]
    raise KeyError(
      "inputs need '%s' or '%s' and '%s' to identify keyframes; got keys %s"
      % (InputFields.source_id, InputFields.video_id, InputFields.timestamp, sorted(inputs))
    )

  def process(self, inputs: Mapping, outputs: Mapping) -> None:
    """Adds one batch of keyframes.

    Args:
      inputs: dict (InputFields names) with
        source_id: string [batch_size] "video_id,%04d" (or video_id string [batch_size] and
          timestamp int [batch_size]);
        groundtruth_boxes: float [batch_size, max_num_boxes, 4], normalized;
        groundtruth_classes: float [batch_size, max_num_boxes, num_classes], multi-hot;
        num_groundtruth_boxes: int [batch_size].
      outputs: dict (DetectionFields names) with
        detection_boxes: float [batch_size, max_detections, 4], normalized;
        detection_scores: float [batch_size, max_detections], person scores;
        detection_action_scores: float [batch_size, max_detections, num_classes];
        num_detections: int [batch_size].
    """
    gt_boxes = np.asarray(inputs[InputFields.groundtruth_boxes], np.float64)
    gt_classes = np.asarray(inputs[InputFields.groundtruth_classes], np.float64)
    num_gt = np.asarray(inputs[InputFields.num_groundtruth_boxes], np.int64).reshape(-1)
    det_boxes = np.asarray(outputs[DetectionFields.detection_boxes], np.float64)
    det_scores = np.asarray(outputs[DetectionFields.detection_scores], np.float64)
    det_actions = np.asarray(outputs[DetectionFields.detection_action_scores], np.float64)
    num_det = np.asarray(outputs[DetectionFields.num_detections], np.int64).reshape(-1)
    batch_size = num_gt.shape[0]
    expected = {
      InputFields.groundtruth_boxes: (gt_boxes, (batch_size, None, 4)),
      InputFields.groundtruth_classes: (gt_classes, (batch_size, None, self.num_classes)),
      DetectionFields.detection_boxes: (det_boxes, (batch_size, None, 4)),
      DetectionFields.detection_scores: (det_scores, (batch_size, None)),
      DetectionFields.detection_action_scores: (det_actions, (batch_size, None, self.num_classes)),
    }
    for name, (array, shape) in expected.items():
      if array.ndim != len(shape) or any(
        s is not None and s != a for s, a in zip(shape, array.shape)
      ):
        raise ValueError("%s: expected shape %s (None = any), got %s" % (name, shape, array.shape))
    keys = self._keys(inputs, batch_size)
    if len(keys) != batch_size:
      raise ValueError("got %d keyframe ids for a batch of %d" % (len(keys), batch_size))
    for b, key in enumerate(keys):
      if key in self._groundtruth:
        self.num_duplicate_keyframes += 1
        continue
      n, m = int(num_gt[b]), int(num_det[b])
      self._groundtruth[key] = (gt_boxes[b, :n].copy(), gt_classes[b, :n] > 0.5)
      # Clipped to the frame, as the official CSV layout requires [0, 1] coordinates.
      self._detections[key] = (
        np.clip(det_boxes[b, :m], 0.0, 1.0),
        det_scores[b, :m].copy(),
        det_actions[b, :m].copy(),
      )

  # ---- Conversion to rows ----------------------------------------------------------------

  def _groundtruth_rows(self):
    out = {}
    for key, (boxes, multi_hot) in self._groundtruth.items():
      row_boxes, row_labels = [], []
      for box, hot in zip(boxes, multi_hot):
        labels = self._class_ids[hot] if hot.any() else np.array([NO_LABEL_ID])
        row_boxes.extend([box] * len(labels))
        row_labels.extend(labels.tolist())
      out[key] = ava_frame_map.make_groundtruth(row_boxes, row_labels)
    return out

  def _detection_rows(self, action_scores_by_key=None):
    out = {}
    for key, (boxes, _, action_scores) in self._detections.items():
      if action_scores_by_key is not None:
        action_scores = action_scores_by_key[key]
      out[key] = ava_frame_map.make_detections(
        np.repeat(boxes, self.num_classes, axis=0),
        np.tile(self._class_ids, len(boxes)),
        action_scores.reshape(-1),
      )
    return out

  def _baseline_action_scores(self, constant: bool):
    """Baseline action scores per keyframe: the class prior ranked by person score, or with
    `constant` by a seeded random order (every box equally likely a person: a constant score
    per class with ties broken at random)."""
    keys = list(self._detections)
    person_scores = np.concatenate([self._detections[k][1] for k in keys] + [np.zeros(0)])
    if constant:
      person_scores = np.zeros_like(person_scores)
    priors = self._class_priors
    if priors is None:  # Class frequencies in the evaluated ground truth.
      evaluated = [v[1] for k, v in self._groundtruth.items() if k not in self._excluded_keys]
      hot = np.concatenate(evaluated + [np.zeros((0, self.num_classes), bool)])
      priors = hot.sum(axis=0) / max(hot.shape[0], 1)
    scores = baselines.class_prior_baseline_scores(person_scores, priors, seed=self._baseline_seed)
    out, start = {}, 0
    for key in keys:
      count = len(self._detections[key][1])
      out[key] = scores[start : start + count]
      start += count
    return out

  # ---- Evaluation ------------------------------------------------------------------------

  def compute(self) -> EvaluationResult:
    """Computes every metric on what was processed since `reset()`; writes nothing."""
    groundtruth = self._groundtruth_rows()
    settings = dict(
      label_ids=self._label_ids,
      excluded_keys=self._excluded_keys,
      iou_threshold=self._iou_threshold,
      max_detections_per_keyframe=self._cap,
    )
    matches = ava_frame_map.match_detections(groundtruth, self._detection_rows(), **settings)
    frame_map = ava_frame_map.result_from_matches(
      matches,
      self._label_ids,
      iou_threshold=self._iou_threshold,
      max_detections_per_keyframe=self._cap,
    )
    baseline_results = {
      name: ava_frame_map.evaluate_frame_map(
        groundtruth, self._detection_rows(self._baseline_action_scores(constant)), **settings
      )
      for name, constant in (("constant", True), ("class_prior", False))
    }
    result = EvaluationResult(
      frame_map=frame_map,
      baselines=baseline_results,
      localization_ap=self._localization_ap(),
      by_box_area=breakdowns.map_by_box_area(matches, self._label_ids, self._area_edges),
      by_num_people=breakdowns.map_by_num_people(matches, self._label_ids, self._people_bins),
      num_keyframes=matches.stats["num_groundtruth_keyframes"],
      scalars={},
    )
    return dataclasses.replace(result, scalars=self._scalars(result))

  def _localization_ap(self) -> dict:
    """Person localization AP on the evaluated keyframes (not excluded, with ground truth)."""
    kept = [
      k for k in self._groundtruth if k not in self._excluded_keys and len(self._groundtruth[k][0])
    ]
    return localization_ap.localization_average_precision(
      {k: self._groundtruth[k][0] for k in kept},
      {k: self._detections[k][0] for k in kept},
      {k: self._detections[k][1] for k in kept},
    )

  def _scalars(self, result: EvaluationResult) -> dict:
    """{metric name: value} of a result, the names TensorBoard shows (see `evaluate`)."""
    iou = "%g" % self._iou_threshold
    prefix = self._prefix
    scalars = {
      "%s/mAP@%sIOU" % (prefix, iou): result.frame_map.mean_ap,
      "%s/max_detections_per_keyframe" % prefix: float(self._cap or 0),
      "%s/Baseline/constant_mAP@%sIOU" % (prefix, iou): result.baselines["constant"].mean_ap,
      "%s/Baseline/class_prior_mAP@%sIOU" % (prefix, iou): result.baselines["class_prior"].mean_ap,
      "%s/num_keyframes" % prefix: float(result.num_keyframes),
    }
    for entry in self._label_map:
      scalars["%s/PerformanceByCategory/AP@%sIOU/%s" % (prefix, iou, entry.name)] = (
        result.frame_map.per_class_ap[entry.id]
      )
    for threshold, value in result.localization_ap.items():
      scalars["%s/Localization/AP@%gIOU" % (prefix, threshold)] = value
    for bin_result in result.by_box_area:
      scalars["%s/ByBoxArea/mAP@%sIOU/%s" % (prefix, iou, bin_result.name)] = bin_result.mean_ap
    for bin_result in result.by_num_people:
      scalars["%s/ByNumPeople/mAP@%sIOU/%s" % (prefix, iou, bin_result.name)] = bin_result.mean_ap
    return scalars

  def write_files(
    self, result: EvaluationResult, output_dir: str, global_step: Optional[int] = None
  ) -> Tuple[str, str]:
    """Writes the detections CSV and the metrics JSON of `result` into `output_dir`.

    Args:
      result: from `compute()` on the detections processed now.
      output_dir: local or remote (gs://) directory, created if needed.
      global_step: if given, file names carry it (detections_step_<N>.csv,
        metrics_step_<N>.json); else detections.csv and metrics.json.

    Returns:
      (detections CSV path, metrics JSON path).
    """
    suffix = "" if global_step is None else "_step_%d" % int(global_step)
    file_io.makedirs(output_dir)
    csv_path = file_io.join(output_dir, "detections%s.csv" % suffix)
    json_path = file_io.join(output_dir, "metrics%s.json" % suffix)
    self.write_detections_csv(csv_path)
    report = ava_eval.result_json(result.frame_map, self._label_map)
    report.update(
      global_step=global_step,
      detections_csv=csv_path,
      num_duplicate_keyframes_ignored=self.num_duplicate_keyframes,
      baselines={
        name: dict(mean_ap=b.mean_ap, per_class_ap={str(k): v for k, v in b.per_class_ap.items()})
        for name, b in result.baselines.items()
      },
      localization_ap={"%g" % k: v for k, v in result.localization_ap.items()},
      by_box_area=[b.to_dict() for b in result.by_box_area],
      by_num_people=[b.to_dict() for b in result.by_num_people],
      scalars=result.scalars,
    )
    ava_eval.write_json(json_path, report)
    return csv_path, json_path

  def evaluate(self, global_step: Optional[int] = None) -> dict:
    """`compute()`, then `write_files()` into `output_dir` when it is set.

    Args:
      global_step: the step the file names carry (see `write_files`).

    Returns:
      {metric name: float}, e.g. "AVA/mAP@0.5IOU", "AVA/PerformanceByCategory/AP@0.5IOU/<name>",
      "AVA/max_detections_per_keyframe" (0: no cap), "AVA/Baseline/constant_mAP@0.5IOU",
      "AVA/Baseline/class_prior_mAP@0.5IOU",
      "AVA/Localization/AP@0.5IOU", "AVA/ByBoxArea/mAP@0.5IOU/area[0,0.05)",
      "AVA/ByNumPeople/mAP@0.5IOU/people[1,1]", "AVA/num_keyframes".
    """
    result = self.compute()
    if self._output_dir:
      self.write_files(result, self._output_dir, global_step)
    return {k: float(v) for k, v in result.scalars.items()}

  def write_detections_csv(self, path: str) -> int:
    """Writes every processed detection in the official layout (one row per box and model
    class, `%04d` timestamps, x1,y1,x2,y2, `%.6f`), atomically (local or remote path).
    Returns the row count."""
    count = 0
    with file_io.atomic_write(path) as f:
      for (video_id, timestamp), (boxes, _, action_scores) in self._detections.items():
        rows = [
          detection_writer.DetectionRow(
            video_id, timestamp, tuple(float(v) for v in box), int(label), float(score)
          )
          for box, scores in zip(boxes, action_scores)
          for label, score in zip(self._class_ids, scores)
        ]
        count += detection_writer.write_detections(f, rows)
    return count

  @classmethod
  def from_files(
    cls, label_map_path: str, excluded_timestamps_path: Optional[str] = None, **kwargs
  ) -> "AvaEvaluator":
    """Builds an evaluator from a label-map file and an optional excluded-timestamps CSV."""
    label_map = label_map_util.read_label_map(label_map_path)
    excluded = (
      ava_annotations.read_excluded_timestamps(excluded_timestamps_path)
      if excluded_timestamps_path
      else ()
    )
    return cls(label_map=label_map, excluded_keys=excluded, **kwargs)
