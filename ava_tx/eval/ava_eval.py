r"""Frame-level AVA mAP of a detections CSV, with the official ActivityNet script's flags.

  python -m ava_tx.eval.ava_eval \
      -l ava_action_list_v2.1_for_activitynet_2018.pbtxt \
      -g ava_val_v2.1.csv -e ava_val_excluded_timestamps_v2.1.csv \
      -d detections.csv [--cap50] [--output_json metrics.json]

Prints one AP line per label-map class (named like the official script's metric keys) and the
mAP line, which always says whether the 50-detections-per-keyframe cap was applied. The
definition is in docs/EVALUATION.md. Works on any detections file in the official layout
`video_id,timestamp,x1,y1,x2,y2,action_id,score`, including other systems' outputs.
Pure Python + NumPy (no TensorFlow).
"""

import argparse
import math
import sys
from typing import Mapping, Optional

from ava_tx.core import ava_constants
from ava_tx.core import command_line
from ava_tx.core import file_io
from ava_tx.data import ava_annotations
from ava_tx.data import label_map_util
from ava_tx.eval import ava_frame_map

AP_KEY = "PascalBoxes_PerformanceByCategory/AP@{iou}IOU/{name}"
MAP_KEY = "PascalBoxes_Precision/mAP@{iou}IOU"


def groundtruth_from_annotations(annotations: Mapping) -> dict:
  """{key: [BoxAnnotation]} (from `ava_annotations.read_annotations`) -> {key:
  KeyframeGroundtruth}, one row per (box, label)."""
  out = {}
  for key, boxes in annotations.items():
    rows = [(b.box, label) for b in boxes for label in b.action_ids]
    out[key] = ava_frame_map.make_groundtruth([r[0] for r in rows], [r[1] for r in rows])
  return out


def detections_from_annotations(annotations: Mapping) -> dict:
  """{key: [BoxAnnotation with scores]} (from `ava_annotations.read_detections`) -> {key:
  KeyframeDetections}, one row per (box, label, score)."""
  out = {}
  for key, boxes in annotations.items():
    rows = [(b.box, label, score) for b in boxes for label, score in zip(b.action_ids, b.scores)]
    out[key] = ava_frame_map.make_detections(
      [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
    )
  return out


def evaluate_csv_files(
  labelmap_path,
  groundtruth_path,
  detections_path,
  exclusions_path=None,
  *,
  max_detections_per_keyframe: Optional[int] = None,
  log=None,
):
  """Reads the files with `ava_tx.data.ava_annotations` and runs the official metric.

  Args:
    labelmap_path: label map (pbtxt or CSV); its ids are the evaluated classes.
    groundtruth_path: ground-truth CSV (all classes; rows outside the label map are ignored).
    detections_path: detections CSV, one row per (box, class, score). Rows the reader rejects
      (e.g. inverted boxes) are skipped and reported through `log`.
    exclusions_path: optional `video_id,timestamp` CSV of excluded keyframes.
    max_detections_per_keyframe: 50 for the official cap, None for none.
    log: callable(str) for warnings (default: stderr).

  Returns:
    (FrameMapResult, label_map list of LabelMapEntry).

  Raises:
    ava_annotations.AnnotationError: on a bad label map, ground-truth or exclusions row.
  """
  log = log or (lambda text: print(text, file=sys.stderr))
  label_map = label_map_util.read_label_map(labelmap_path)
  gt_read = ava_annotations.read_annotations(groundtruth_path)
  if gt_read.report.num_duplicate_rows:
    log(
      "warning: %s repeats %d (box, person, action) rows; each counted once."
      % (groundtruth_path, gt_read.report.num_duplicate_rows)
    )
  det_read = ava_annotations.read_detections(detections_path, skip_bad_rows=True)
  if det_read.report.skipped:
    log(
      "warning: %s: %d detection rows skipped: %s"
      % (detections_path, len(det_read.report.skipped), det_read.report.skipped_reason_counts())
    )
    for row in det_read.report.skipped[:5]:
      log("  %s:%d: %s" % (row.path, row.line, row.reason))
  excluded = ava_annotations.read_excluded_timestamps(exclusions_path) if exclusions_path else set()
  result = ava_frame_map.evaluate_frame_map(
    groundtruth_from_annotations(gt_read.annotations),
    detections_from_annotations(det_read.annotations),
    label_ids=[entry.id for entry in label_map],
    excluded_keys=excluded,
    max_detections_per_keyframe=max_detections_per_keyframe,
  )
  return result, label_map


def format_result(result: ava_frame_map.FrameMapResult, label_map) -> str:
  """The text the command prints: a header, one AP line per class, the mAP line."""
  iou = "%g" % result.iou_threshold
  stats = result.stats
  lines = [
    "# %d label-map classes, %d ground-truth keyframes (%d excluded), %s."
    % (
      len(label_map),
      stats["num_groundtruth_keyframes"],
      stats["num_excluded_groundtruth_keyframes"],
      result.cap_description,
    )
  ]
  if stats["num_detection_keyframes_without_groundtruth"]:
    lines.append(
      "# %d detection keyframes without ground truth ignored."
      % stats["num_detection_keyframes_without_groundtruth"]
    )
  for entry in label_map:
    ap = result.per_class_ap[entry.id]
    lines.append(
      "%s: %s"
      % (
        AP_KEY.format(iou=iou, name=entry.name),
        "nan (no ground truth)" if math.isnan(ap) else "%.6f" % ap,
      )
    )
  lines.append(
    "%s: %.6f (mean over %d classes with ground truth; %s)"
    % (
      MAP_KEY.format(iou=iou),
      result.mean_ap,
      result.num_classes_with_groundtruth,
      result.cap_description,
    )
  )
  return "\n".join(lines)


def result_json(result: ava_frame_map.FrameMapResult, label_map) -> dict:
  """JSON-ready dict: the result plus class names."""
  out = result.to_dict()
  out["class_names"] = {str(e.id): e.name for e in label_map}
  out["cap"] = result.cap_description
  return out


def _nan_to_none(value):
  if isinstance(value, dict):
    return {k: _nan_to_none(v) for k, v in value.items()}
  if isinstance(value, float) and math.isnan(value):
    return None
  return value


def write_json(path, data) -> None:
  """Writes `data` as indented JSON, atomically (local or remote); NaN becomes null."""
  file_io.write_json(path, _nan_to_none(data))


def parse_arguments(argv=None):
  parser = argparse.ArgumentParser(
    prog="python -m ava_tx.eval.ava_eval",
    description="Frame-level AVA mAP (ActivityNet definition) of a detections CSV.",
  )
  parser.add_argument(
    "-l",
    "--labelmap",
    required=True,
    help="Label map (pbtxt as in ActivityNet, or label_id,label_name CSV).",
  )
  parser.add_argument("-g", "--groundtruth", required=True, help="Ground-truth CSV.")
  parser.add_argument(
    "-d",
    "--detections",
    required=True,
    help="Detections CSV: video_id,timestamp,x1,y1,x2,y2,action_id,score.",
  )
  parser.add_argument(
    "-e",
    "--exclusions",
    default=None,
    help="Optional CSV of video_id,timestamp keyframes to exclude.",
  )
  parser.add_argument(
    "--cap50",
    action="store_true",
    help="Keep only the %d highest-scoring detection rows per keyframe "
    "(official since March 2019)." % ava_constants.MAX_DETECTIONS_PER_KEYFRAME,
  )
  parser.add_argument("--output_json", default=None, help="Also write the results as JSON here.")
  parser.add_argument(
    "--verbose",
    action="store_true",
    help="On an error in the input, also print the Python traceback.",
  )
  return parser.parse_args(argv)


def _run(args) -> int:
  result, label_map = evaluate_csv_files(
    args.labelmap,
    args.groundtruth,
    args.detections,
    args.exclusions,
    max_detections_per_keyframe=(ava_constants.MAX_DETECTIONS_PER_KEYFRAME if args.cap50 else None),
  )
  print(format_result(result, label_map))
  if args.output_json:
    write_json(args.output_json, result_json(result, label_map))
  return 0


def main(argv=None) -> int:
  """Errors in the input (AnnotationError names the file and line) print one line, exit 1."""
  args = parse_arguments(argv)
  return command_line.run_guarded("ava_eval", _run, args, verbose=args.verbose)


if __name__ == "__main__":
  sys.exit(main())
