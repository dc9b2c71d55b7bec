r"""Person AP of person detectors against a dataset's ground truth, beside its stored boxes.

  python -m benchmarks.person_detector_ap --data_dir=workspace/data/synthetic --split=val \
      [--detectors=hog,nanodet,movenet-multipose] [--person_detector=DIR] \
      [--min_frame_heights=240,480] [--max_keyframes=0]

For every ground-truth keyframe of SPLIT.csv, decodes the keyframe frame of
videos/<video_id>.mp4, runs each detector of --detectors and measures class-agnostic person AP
at IoU 0.5 and 0.75 (`ava_tx.eval.localization_ap`, COCO's matching), beside the AP of the
stored person-detector boxes SPLIT_predicted_boxes.csv on the same keyframes. Prints one line
per detector and its time per keyframe.

Detectors: `hog` (below; one run per --min_frame_heights value) and the models that
data_tools.fetch_person_detector converted into --person_detector (`nanodet`,
`movenet-multipose`, `centernet` when fetched; `ava_tx.inference.person_detector`, boxes
scoring at least --min_score).

The detector: Dalal & Triggs' linear SVM on HOG features of a 64x128 window
(`cv2.HOGDescriptor_getDefaultPeopleDetector`, weights inside opencv-python), slid over an image
pyramid. People shorter than the window are missed, so frames are first scaled up to
`min_frame_height` pixels. The SVM margin becomes a score in (0, 1) through a logistic
function; boxes are merged by OpenCV's grouping, then by non-maximum suppression. OpenCV 5
(what tf-models-official installs today) no longer has HOGDescriptor; measured with
opencv-python-headless 4.14 installed to a side directory:
  pip install --target /tmp/cv4 --no-deps 'opencv-python-headless<5'
  PYTHONPATH=/tmp/cv4:. python -m benchmarks.person_detector_ap --data_dir=...
"""

import collections
import os
import time

from absl import app
from absl import flags
import numpy as np

from ava_tx.core import ava_constants
from ava_tx.core import command_line
from ava_tx.data import ava_annotations
from ava_tx.data import video_frames
from ava_tx.eval import localization_ap
from ava_tx.inference import person_detector

FLAGS = flags.FLAGS


@command_line.flag_definitions
def define_flags():
  flags.DEFINE_string("data_dir", None, "Dataset directory (synth_ava layout).")
  flags.DEFINE_string("split", "val", "Split: SPLIT.csv and SPLIT_predicted_boxes.csv.")
  flags.DEFINE_list(
    "detectors",
    ["hog"],
    "Detectors to measure: hog and/or models of --person_detector "
    "(nanodet, movenet-multipose, centernet).",
  )
  flags.DEFINE_string(
    "person_detector", person_detector.DEFAULT_DIR, "What fetch_person_detector wrote."
  )
  flags.DEFINE_float(
    "min_score", 0.05, "Boxes of the --person_detector models scoring lower are dropped."
  )
  flags.DEFINE_list(
    "min_frame_heights", ["240", "480"], "HOG runs: frames scaled up to these heights first."
  )
  flags.DEFINE_integer("max_keyframes", 0, "Use only the first N keyframes (0: all).")
  flags.DEFINE_float("hit_threshold", 0.0, "SVM margin a window needs to count as a detection.")
  flags.DEFINE_float("segment_start", ava_constants.SEGMENT_START_SEC, "Movie second of frame 0.")


def _cv2():
  try:
    import cv2  # pylint: disable=import-outside-toplevel
  except ImportError as error:
    raise SystemExit(
      "this benchmark needs OpenCV (pip install 'opencv-python-headless<5')"
    ) from error
  if not hasattr(cv2, "HOGDescriptor"):
    raise SystemExit(
      "OpenCV %s has no HOGDescriptor (OpenCV 5 moved it out of the main "
      "package): run with 'opencv-python-headless<5' first on PYTHONPATH" % cv2.__version__
    )
  return cv2


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
  """Greedy non-maximum suppression. boxes float [n, 4] [ymin, xmin, ymax, xmax]; returns the
  kept indices in descending score order (int [k])."""
  order = np.argsort(-scores, kind="stable")
  keep = []
  area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
  while order.size:
    best, rest = order[0], order[1:]
    keep.append(best)
    ymin = np.maximum(boxes[best, 0], boxes[rest, 0])
    xmin = np.maximum(boxes[best, 1], boxes[rest, 1])
    ymax = np.minimum(boxes[best, 2], boxes[rest, 2])
    xmax = np.minimum(boxes[best, 3], boxes[rest, 3])
    inter = np.maximum(ymax - ymin, 0) * np.maximum(xmax - xmin, 0)
    iou = inter / np.maximum(area[best] + area[rest] - inter, 1e-12)
    order = rest[iou <= iou_threshold]
  return np.asarray(keep, np.int64)


class HogPersonDetector:
  """Person boxes of a frame from OpenCV's HOG people detector (see the module docstring)."""

  def __init__(
    self,
    *,
    min_frame_height: int = 480,
    win_stride: int = 8,
    scale: float = 1.05,
    hit_threshold: float = 0.0,
    nms_iou: float = 0.5,
    max_boxes: int = 16,
  ):
    cv2 = _cv2()
    self._cv2 = cv2
    self._hog = cv2.HOGDescriptor()
    self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    self.min_frame_height = min_frame_height
    self.win_stride, self.scale, self.hit_threshold = win_stride, scale, hit_threshold
    self.nms_iou, self.max_boxes = nms_iou, max_boxes

  def detect(self, frame: np.ndarray):
    """uint8 [H, W, 3] RGB -> (float32 [n, 4] normalized boxes, float32 [n] scores)."""
    height, width = frame.shape[:2]
    factor = max(1.0, self.min_frame_height / height)
    image = np.ascontiguousarray(frame[..., ::-1])  # OpenCV wants BGR.
    if factor > 1.0:
      image = self._cv2.resize(
        image, (round(width * factor), round(height * factor)), interpolation=self._cv2.INTER_LINEAR
      )
    rects, weights = self._hog.detectMultiScale(
      image,
      hitThreshold=self.hit_threshold,
      winStride=(self.win_stride, self.win_stride),
      padding=(8, 8),
      scale=self.scale,
    )
    if len(rects) == 0:
      return np.zeros([0, 4], np.float32), np.zeros([0], np.float32)
    rects = np.asarray(rects, np.float64)
    scaled_h, scaled_w = image.shape[:2]
    boxes = np.stack(
      [
        rects[:, 1] / scaled_h,
        rects[:, 0] / scaled_w,
        (rects[:, 1] + rects[:, 3]) / scaled_h,
        (rects[:, 0] + rects[:, 2]) / scaled_w,
      ],
      axis=1,
    ).clip(0.0, 1.0)
    scores = 1.0 / (1.0 + np.exp(-np.asarray(weights, np.float64).reshape(-1)))
    keep = nms(boxes, scores, self.nms_iou)[: self.max_boxes]
    return boxes[keep].astype(np.float32), scores[keep].astype(np.float32)


def keyframe_frames(data_dir, keys, segment_start):
  """{(video_id, timestamp): uint8 [H, W, 3]} of the keyframes' frames, one pass per video."""
  by_video = collections.defaultdict(dict)
  for video_id, timestamp in keys:
    index = ava_constants.keyframe_frame_index(timestamp, segment_start=segment_start)
    by_video[video_id][index] = timestamp
  frames = {}
  for video_id, wanted in sorted(by_video.items()):
    path = os.path.join(data_dir, "videos", video_id + ".mp4")
    for index, frame in video_frames.iter_video_frames(
      path, fps=ava_constants.FPS, wanted=wanted.__contains__
    ):
      if frame is not None:
        frames[(video_id, wanted[index])] = video_frames.frame_to_rgb(frame)
      if index >= max(wanted):
        break
  return frames


def _ap_line(name, groundtruth, boxes, scores, extra=""):
  ap = localization_ap.localization_average_precision(groundtruth, boxes, scores)
  return "%-34s AP@0.5 %.3f  AP@0.75 %.3f  boxes/keyframe %.2f%s" % (
    name,
    ap[0.5],
    ap[0.75],
    np.mean([len(b) for b in boxes.values()]),
    extra,
  )


def main(argv):
  del argv
  data_dir, split = FLAGS.data_dir, FLAGS.split
  gt = ava_annotations.read_annotations(os.path.join(data_dir, split + ".csv")).annotations
  keys = sorted(gt)[: FLAGS.max_keyframes or None]
  groundtruth = {k: np.array([b.box for b in gt[k]]) for k in keys}
  stored = ava_annotations.read_person_boxes(
    os.path.join(data_dir, split + "_predicted_boxes.csv")
  ).annotations
  print("%d keyframes, %d people" % (len(keys), sum(len(v) for v in groundtruth.values())))
  print(
    _ap_line(
      "stored detector boxes",
      groundtruth,
      {k: np.array([p.box for p in stored.get(k, [])]).reshape(-1, 4) for k in keys},
      {k: np.array([p.score for p in stored.get(k, [])]) for k in keys},
    )
  )
  frames = keyframe_frames(data_dir, keys, FLAGS.segment_start)
  for name in FLAGS.detectors:
    if name == "hog":
      runs = [
        (
          "HOG, frames scaled to height %s" % height,
          HogPersonDetector(min_frame_height=int(height), hit_threshold=FLAGS.hit_threshold),
        )
        for height in FLAGS.min_frame_heights
      ]
    else:
      model = person_detector.PersonDetector(
        FLAGS.person_detector, model=name, min_score=FLAGS.min_score
      )
      runs = [("%s (score >= %g)" % (name, FLAGS.min_score), model)]
    for title, detector in runs:
      boxes, scores, times = {}, {}, []
      for key in keys:
        started = time.perf_counter()
        boxes[key], scores[key] = detector.detect(frames[key])
        times.append(time.perf_counter() - started)
      print(
        _ap_line(title, groundtruth, boxes, scores, "  %.3f s/keyframe (median)" % np.median(times))
      )


if __name__ == "__main__":
  define_flags()
  flags.mark_flag_as_required("data_dir")
  app.run(main)
