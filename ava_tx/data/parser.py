"""Decoded AVA example -> model inputs: temporal sampling, augmentation, padding.

Pure tensor functions do the math; `AvaParser` chains them. Randomness is stateless: every
random choice derives from a per-example seed (int64 [2]), so a pipeline is reproducible
whatever its parallelism.
"""

from typing import NamedTuple, Sequence

import cv2
import numpy as np

from ava_tx.core import standard_fields
from ava_tx.core.tf_setup import tf

DECODED = standard_fields.DecodedFields
INPUTS = standard_fields.InputFields


def temporal_sample_indices(
  keyframe_index, num_stored_frames, *, num_frames: int, frame_stride: int
):
  """Indices of `num_frames` frames at `frame_stride` with the keyframe at num_frames // 2.

  Indices outside [0, num_stored_frames - 1] are clamped, i.e. edge frames repeat.

  Args:
    keyframe_index: int32 [], keyframe among the stored frames.
    num_stored_frames: int32 [].
  Returns:
    int32 [num_frames], e.g. keyframe 1 of 4 stored, num_frames 4, stride 2 -> [0, 0, 1, 3].
  """
  offsets = (tf.range(num_frames, dtype=tf.int32) - num_frames // 2) * frame_stride
  return tf.clip_by_value(keyframe_index + offsets, 0, num_stored_frames - 1)


def flip_boxes_left_right(boxes):
  """float32 [N, 4] [ymin, xmin, ymax, xmax] -> boxes of the horizontally mirrored image."""
  ymin, xmin, ymax, xmax = tf.unstack(boxes, axis=-1)
  return tf.stack([ymin, 1.0 - xmax, ymax, 1.0 - xmin], axis=-1)


def crop_boxes(boxes, crop_box, *, min_visible_fraction: float):
  """Expresses boxes in the frame of `crop_box`, clipped to it.

  Args:
    boxes: float32 [N, 4] normalized to the uncropped image.
    crop_box: float32 [4] [ymin, xmin, ymax, xmax] of the crop, normalized.
    min_visible_fraction: boxes keeping less than this fraction of their area inside the
      crop (and boxes with no area inside) are marked to drop.
  Returns:
    (float32 [N, 4] boxes normalized to the crop, bool [N] keep mask).
  """
  cy0, cx0, cy1, cx1 = tf.unstack(crop_box)
  ymin, xmin, ymax, xmax = tf.unstack(boxes, axis=-1)
  iymin, ixmin = tf.maximum(ymin, cy0), tf.maximum(xmin, cx0)
  iymax, ixmax = tf.minimum(ymax, cy1), tf.minimum(xmax, cx1)
  inter = tf.maximum(iymax - iymin, 0.0) * tf.maximum(ixmax - ixmin, 0.0)
  area = (ymax - ymin) * (xmax - xmin)
  keep = (inter > 0.0) & (inter >= min_visible_fraction * area)
  height, width = cy1 - cy0, cx1 - cx0
  cropped = tf.stack(
    [(iymin - cy0) / height, (ixmin - cx0) / width, (iymax - cy0) / height, (ixmax - cx0) / width],
    axis=-1,
  )
  return tf.clip_by_value(cropped, 0.0, 1.0), keep


def multi_hot_classes(action_ids, action_counts, id_to_index, num_classes: int):
  """Multi-hot class targets per box over contiguous indices.

  Args:
    action_ids: int32 [num_labels], AVA ids of all boxes, flattened.
    action_counts: int32 [num_boxes], labels per box.
    id_to_index: int32 [max_id + 1], contiguous index of each AVA id, -1 if not in the map.
    num_classes: number of classes of the label map.
  Returns:
    float32 [num_boxes, num_classes]; ids outside the map are ignored.
  """
  num_boxes = tf.shape(action_counts)[0]
  rows = tf.repeat(tf.range(num_boxes), action_counts)
  safe_ids = tf.where((action_ids >= 0) & (action_ids < tf.shape(id_to_index)[0]), action_ids, 0)
  columns = tf.where(action_ids == safe_ids, tf.gather(id_to_index, safe_ids), -1)
  valid = columns >= 0
  indices = tf.stack([tf.boolean_mask(rows, valid), tf.boolean_mask(columns, valid)], axis=1)
  updates = tf.ones([tf.shape(indices)[0]], tf.float32)
  dense = tf.scatter_nd(indices, updates, tf.stack([num_boxes, num_classes]))
  return tf.minimum(dense, 1.0)


def pad_or_truncate(tensor, size: int, value=0):
  """Pads (with `value`) or truncates the first dimension of `tensor` to `size`."""
  tensor = tensor[:size]
  pad = size - tf.shape(tensor)[0]
  paddings = tf.concat([[[0, pad]], tf.zeros([tf.rank(tensor) - 1, 2], tf.int32)], axis=0)
  return tf.pad(tensor, paddings, constant_values=value)


def normalize_frames(frames):
  """uint8 or float [0, 255] frames -> float32 in [-1, 1] (x / 127.5 - 1), as the Kinetics
  I3D checkpoint expects. The model applies it (ActionTransformerMetaArch.preprocess) to the
  parser's uint8 frames."""
  return tf.cast(frames, tf.float32) * (1.0 / 127.5) - 1.0


def resize_frames(frames, output_size: Sequence[int]):
  """uint8 [h, w, 3] or [n, h, w, 3] -> uint8 [*output_size, 3] or [n, *output_size, 3]:
  bilinear resize (no antialiasing) rounded to the nearest grey level, every image of a stack
  in one batched resize (the same values as resizing each alone); frames already that size
  are returned unchanged (lossless). The one frame resize of training, evaluation and the
  exported model: the parser calls it per frame inside its decode map, so the float
  intermediate there is one frame; the exported model calls it once on all its frames."""
  size = [int(output_size[0]), int(output_size[1])]
  frames = tf.convert_to_tensor(frames)
  if frames.shape.rank not in (3, 4):
    raise ValueError(
      "resize_frames: expected uint8 [h, w, 3] or [n, h, w, 3], got shape %s" % frames.shape
    )
  same_size = tf.reduce_all(tf.shape(frames)[-3:-1] == tf.constant(size))

  def resized():
    frames_float = tf.image.resize(frames, size, method="bilinear", antialias=False)
    return tf.cast(tf.round(tf.clip_by_value(frames_float, 0.0, 255.0)), tf.uint8)

  return tf.cond(same_size, lambda: frames, resized)


def resize_crops_opencv(frames, output_size: Sequence[int], mirror=False, positions=None):
  """uint8 [n, h, w, 3] -> uint8 [n, *output_size, 3] with OpenCV's bilinear resize
  (`cv2.INTER_LINEAR`: half-pixel centres as `resize_frames`, but fixed-point weights, so a value
  may differ from `resize_frames`' by one grey level; frames already that size are copied
  unchanged), each frame mirrored left-right when `mirror` (bool scalar, may be a tensor).
  With `positions` (int32 [m], values in [0, n)) the result is [m, ...], frame `positions[i]`
  at i: the same as gathering the resized frames, without another copy of the clip.

  The resize and flip of training's random crops only. On the CPU TensorFlow's bilinear kernel
  took about 5 times OpenCV's, and `tf.reverse` of a uint8 clip as long as its JPEG decoding: the
  input pipeline's largest costs (docs/INPUT_PIPELINE.md). Evaluation and the exported model keep
  `resize_frames`, so those two see exactly the same frames. It runs in a `tf.numpy_function`
  (OpenCV releases the GIL while it works), so a pipeline using it cannot be serialized into a
  graph (tf.data service); training pipelines here are not."""
  height, width = int(output_size[0]), int(output_size[1])

  def resize(stack, flip, order):
    if order.size and (order.min() < 0 or order.max() >= len(stack)):
      raise ValueError(f"resize_crops_opencv: positions {order} outside [0, {len(stack)})")
    resized = np.empty((len(order), height, width, 3), np.uint8)
    scratch = np.empty((height, width, 3), np.uint8)
    done = {}
    for index, source in enumerate(order.tolist()):
      if source in done:
        resized[index] = resized[done[source]]
        continue
      done[source] = index
      frame = stack[source]
      target = scratch if flip else resized[index]
      if frame.shape[:2] == (height, width):
        target[...] = frame
      else:
        cv2.resize(frame, (width, height), dst=target, interpolation=cv2.INTER_LINEAR)
      if flip:
        cv2.flip(scratch, 1, dst=resized[index])
    return resized

  frames = tf.convert_to_tensor(frames)
  if frames.shape.rank != 4 or frames.dtype != tf.uint8:
    raise ValueError(
      "resize_crops_opencv: expected uint8 [n, h, w, 3], got %s %s" % (frames.dtype, frames.shape)
    )
  mirror = tf.convert_to_tensor(mirror, tf.bool)
  if positions is None:
    positions = tf.range(tf.shape(frames)[0])
  positions = tf.convert_to_tensor(positions, tf.int32)
  result = tf.numpy_function(resize, [frames, mirror, positions], tf.uint8, stateful=False)
  result.set_shape([positions.shape[0], height, width, 3])
  return result


class _GroundTruth(NamedTuple):
  """Ground truth of one example while it is parsed: boxes float32 [num_boxes, 4], classes
  float32 [num_boxes, num_classes], person_ids int32 [num_boxes], keep bool [num_boxes]."""

  boxes: tf.Tensor
  classes: tf.Tensor
  person_ids: tf.Tensor
  keep: tf.Tensor


class _Proposals(NamedTuple):
  """Person-detector proposals: boxes float32 [num_proposals, 4], scores float32
  [num_proposals]."""

  boxes: tf.Tensor
  scores: tf.Tensor


def _flip_if(flip, boxes):
  """Boxes mirrored left-right where bool [] `flip` holds."""
  return tf.cond(flip, lambda: flip_boxes_left_right(boxes), lambda: boxes)


class AvaParser:
  """Turns a decoded example (DecodedFields) into model inputs (InputFields).

  Output per example (before batching), see standard_fields.InputFields:
    frames: uint8 [num_frames, output_height, output_width, 3], RGB (the model normalizes:
      ActionTransformerMetaArch.preprocess, `normalize_frames`);
    keyframe_index: int32 [] = num_frames // 2;
    groundtruth_boxes: float32 [max_num_boxes, 4]; groundtruth_classes: float32
    [max_num_boxes, num_classes]; groundtruth_person_ids: int32 [max_num_boxes] (-1 pad);
    num_groundtruth_boxes: int32 []; num_truncated_groundtruth_boxes: int32 [];
    proposal_boxes: float32 [max_num_proposals, 4]; proposal_scores: float32
    [max_num_proposals]; num_proposal_boxes: int32 [];
    source_id, video_id: string []; timestamp: int32 []; original_image_spatial_shape: int32 [2].
  Boxes whose labels are all outside the label map are dropped; beyond max_num_boxes boxes
  are truncated in stored order and counted in num_truncated_groundtruth_boxes.
  """

  def __init__(
    self,
    *,
    num_frames: int,
    frame_stride: int = 1,
    output_size: Sequence[int] = (224, 224),
    label_map_ids: Sequence[int],
    max_num_boxes: int = 32,
    max_num_proposals: int = 0,
    proposal_min_score: float = 0.0,
    random_flip: bool = True,
    random_crop: bool = True,
    min_crop_fraction: float = 0.7,
    min_box_visible_fraction: float = 0.25,
  ):
    """Args:
    num_frames: frames per clip.
    frame_stride: step between sampled stored frames.
    output_size: (height, width) of the output frames.
    label_map_ids: AVA label ids of the label map; class index = position in sorted order.
    max_num_boxes: ground-truth boxes padded/truncated to this many.
    max_num_proposals: person-detector boxes kept as proposals (0: none).
    proposal_min_score: proposals below this score are ignored.
    random_flip: training: mirror frames and boxes with probability 1/2.
    random_crop: training: crop a random window whose sides are a fraction in
      [min_crop_fraction, 1] of the frame's (aspect ratio kept), then resize.
    min_box_visible_fraction: after a crop, boxes keeping less of their area are dropped.
    """
    if num_frames < 1 or frame_stride < 1:
      raise ValueError(
        "num_frames and frame_stride must be >= 1, got %d, %d" % (num_frames, frame_stride)
      )
    if len(output_size) != 2 or min(output_size) < 1:
      raise ValueError("output_size must be (height, width), got %r" % (output_size,))
    if not 0.0 < min_crop_fraction <= 1.0:
      raise ValueError("min_crop_fraction must be in (0, 1], got %r" % min_crop_fraction)
    ids = sorted(int(i) for i in label_map_ids)
    if not ids or ids[0] < 1 or len(set(ids)) != len(ids):
      raise ValueError("label_map_ids must be distinct positive AVA ids, got %r" % ids)
    self.num_frames, self.frame_stride = num_frames, frame_stride
    self.output_size = (int(output_size[0]), int(output_size[1]))
    self.label_map_ids = ids
    self.num_classes = len(ids)
    self.max_num_boxes, self.max_num_proposals = max_num_boxes, max_num_proposals
    self.proposal_min_score = proposal_min_score
    self.random_flip, self.random_crop = random_flip, random_crop
    self.min_crop_fraction = min_crop_fraction
    self.min_box_visible_fraction = min_box_visible_fraction
    table = [-1] * (ids[-1] + 1)
    for index, label_id in enumerate(ids):
      table[label_id] = index
    self._id_to_index = table

  def _decode_frames(self, encoded_frames, keyframe_index, crop_window=None, mirror=False):
    """Decodes the sampled frames, each resized to the output size: uint8 [num_frames,
    output_height, output_width, 3]. Without crop_window (evaluation) each frame is decoded and
    resized by `resize_frames` in turn, as the exported model does; with crop_window (int32 [4]:
    y0, x0, crop_height, crop_width; training) only that window is decoded (JPEGs decode just
    the window) and the clip's crops are resized, and mirrored when `mirror` (bool), together by
    `resize_crops_opencv`. `mirror` is used only with a crop_window."""
    indices = temporal_sample_indices(
      keyframe_index,
      tf.shape(encoded_frames)[0],
      num_frames=self.num_frames,
      frame_stride=self.frame_stride,
    )
    unique, positions = tf.unique(indices)  # Repeated edge frames are decoded once.
    selected = tf.gather(encoded_frames, unique)

    def decode_window(data):
      if crop_window is None:
        return tf.io.decode_image(data, channels=3, expand_animations=False)
      y0, x0, h, w = tf.unstack(crop_window)
      return tf.cond(
        tf.io.is_jpeg(data),
        lambda: tf.io.decode_and_crop_jpeg(data, crop_window, channels=3),
        lambda: tf.io.decode_image(data, channels=3, expand_animations=False)[
          y0 : y0 + h, x0 : x0 + w
        ],
      )

    if crop_window is not None:
      crops = tf.map_fn(decode_window, selected, fn_output_signature=tf.uint8)
      return resize_crops_opencv(crops, self.output_size, mirror, positions)
    images = tf.map_fn(
      lambda data: resize_frames(decode_window(data), self.output_size),
      selected,
      fn_output_signature=tf.uint8,
    )
    return tf.gather(images, positions)

  def _sample_crop(self, height, width, seed):
    """Returns int32 [4] (y0, x0, crop_height, crop_width) and the normalized crop box."""
    scale_seed, y_seed, x_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    scale = tf.random.stateless_uniform([], scale_seed, self.min_crop_fraction, 1.0)
    crop_h = tf.maximum(tf.cast(tf.round(scale * tf.cast(height, tf.float32)), tf.int32), 1)
    crop_w = tf.maximum(tf.cast(tf.round(scale * tf.cast(width, tf.float32)), tf.int32), 1)
    y0 = tf.random.stateless_uniform([], y_seed, 0, height - crop_h + 1, dtype=tf.int32)
    x0 = tf.random.stateless_uniform([], x_seed, 0, width - crop_w + 1, dtype=tf.int32)
    h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    box = tf.stack(
      [
        tf.cast(y0, tf.float32) / h,
        tf.cast(x0, tf.float32) / w,
        tf.cast(y0 + crop_h, tf.float32) / h,
        tf.cast(x0 + crop_w, tf.float32) / w,
      ]
    )
    return tf.stack([y0, x0, crop_h, crop_w]), box

  def _select_proposals(self, boxes, scores, is_training, seed):
    keep = scores >= self.proposal_min_score
    boxes, scores = tf.boolean_mask(boxes, keep), tf.boolean_mask(scores, keep)
    if is_training:  # A random subset of the detector boxes.
      order = tf.argsort(tf.random.stateless_uniform(tf.shape(scores), seed))
    else:  # The highest-scoring ones.
      order = tf.argsort(scores, direction="DESCENDING", stable=True)
    order = order[: self.max_num_proposals]
    return _Proposals(tf.gather(boxes, order), tf.gather(scores, order))

  def parse(self, decoded, *, is_training: bool, seed=None):
    """Args:
      decoded: dict of DecodedFields tensors (one example).
      is_training: apply augmentation and random proposal sampling.
      seed: int64/int32 [2] stateless seed; required when is_training and augmenting.
    Returns:
      dict of InputFields tensors (shapes in the class docstring).
    """
    if is_training:
      return self._parse_for_training(decoded, seed)
    return self._parse_for_evaluation(decoded)

  def _parse_for_evaluation(self, decoded):
    """The whole stored frame, no augmentation, the highest-scoring proposals."""
    groundtruth = self._groundtruth(decoded)
    proposals = None
    if self.max_num_proposals:
      proposals = self._select_proposals(
        decoded[DECODED.proposal_boxes], decoded[DECODED.proposal_scores], False, None
      )
    frames = self._decode_frames(decoded[DECODED.encoded_frames], decoded[DECODED.keyframe_index])
    return self._model_inputs(decoded, frames, groundtruth, proposals)

  def _parse_for_training(self, decoded, seed):
    """Random crop (boxes and proposals follow it), random flip, random proposals."""
    if seed is None and (self.random_crop or self.random_flip or self.max_num_proposals):
      raise ValueError("parse(is_training=True) needs a per-example seed (int [2]).")
    if seed is not None:
      crop_seed, flip_seed, proposal_seed = tf.unstack(
        tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3)
      )
    groundtruth = self._groundtruth(decoded)
    proposals = None
    if self.max_num_proposals:
      proposals = self._select_proposals(
        decoded[DECODED.proposal_boxes], decoded[DECODED.proposal_scores], True, proposal_seed
      )
    crop_window = None
    if self.random_crop:
      # The stored size (context) gives the crop before decoding, so JPEGs decode only it.
      stored_shape = decoded[DECODED.original_image_spatial_shape]
      crop_window, crop_box = self._sample_crop(stored_shape[0], stored_shape[1], crop_seed)
      groundtruth, proposals = self._crop_targets(groundtruth, proposals, crop_box)
    flip = False
    if self.random_flip:
      flip = tf.random.stateless_uniform([], flip_seed) < 0.5
    # With a crop, the frames are mirrored as they are resized (resize_crops_opencv).
    frames = self._decode_frames(
      decoded[DECODED.encoded_frames], decoded[DECODED.keyframe_index], crop_window, flip
    )
    if self.random_flip:
      if crop_window is None:
        frames = tf.cond(flip, lambda: tf.reverse(frames, axis=[2]), lambda: frames)
      groundtruth = groundtruth._replace(boxes=_flip_if(flip, groundtruth.boxes))
      if proposals is not None:
        proposals = proposals._replace(boxes=_flip_if(flip, proposals.boxes))
    return self._model_inputs(decoded, frames, groundtruth, proposals)

  def _groundtruth(self, decoded):
    """The stored boxes with multi-hot classes; `keep` marks boxes with a label in the map."""
    classes = multi_hot_classes(
      decoded[DECODED.groundtruth_action_ids],
      decoded[DECODED.groundtruth_action_counts],
      tf.constant(self._id_to_index, tf.int32),
      self.num_classes,
    )
    return _GroundTruth(
      boxes=decoded[DECODED.groundtruth_boxes],
      classes=classes,
      person_ids=decoded[DECODED.groundtruth_person_ids],
      keep=tf.reduce_any(classes > 0.0, axis=1),
    )

  def _crop_targets(self, groundtruth, proposals, crop_box):
    """Boxes in the crop's frame; boxes mostly outside it are dropped (ground truth through
    `keep`, proposals at once)."""
    boxes, visible = crop_boxes(
      groundtruth.boxes, crop_box, min_visible_fraction=self.min_box_visible_fraction
    )
    groundtruth = groundtruth._replace(boxes=boxes, keep=groundtruth.keep & visible)
    if proposals is not None:
      boxes, visible = crop_boxes(
        proposals.boxes, crop_box, min_visible_fraction=self.min_box_visible_fraction
      )
      proposals = _Proposals(
        tf.boolean_mask(boxes, visible), tf.boolean_mask(proposals.scores, visible)
      )
    return groundtruth, proposals

  def _model_inputs(self, decoded, frames, groundtruth, proposals):
    """The (resized, uint8) frames and the kept boxes padded to fixed sizes: the InputFields
    dict."""
    frames = tf.ensure_shape(frames, [self.num_frames, *self.output_size, 3])
    keep = groundtruth.keep
    boxes = tf.boolean_mask(groundtruth.boxes, keep)
    classes = tf.boolean_mask(groundtruth.classes, keep)
    person_ids = tf.boolean_mask(groundtruth.person_ids, keep)
    if proposals is None:
      proposals = _Proposals(tf.zeros([0, 4]), tf.zeros([0]))
    return {
      INPUTS.frames: frames,
      INPUTS.keyframe_index: tf.constant(self.num_frames // 2, tf.int32),
      INPUTS.groundtruth_boxes: tf.ensure_shape(
        pad_or_truncate(boxes, self.max_num_boxes), [self.max_num_boxes, 4]
      ),
      INPUTS.groundtruth_classes: tf.ensure_shape(
        pad_or_truncate(classes, self.max_num_boxes), [self.max_num_boxes, self.num_classes]
      ),
      INPUTS.groundtruth_person_ids: tf.ensure_shape(
        pad_or_truncate(person_ids, self.max_num_boxes, -1), [self.max_num_boxes]
      ),
      INPUTS.num_groundtruth_boxes: tf.minimum(tf.shape(boxes)[0], self.max_num_boxes),
      INPUTS.num_truncated_groundtruth_boxes: tf.maximum(
        tf.shape(boxes)[0] - self.max_num_boxes, 0
      ),
      INPUTS.source_id: decoded[DECODED.source_id],
      INPUTS.video_id: decoded[DECODED.video_id],
      INPUTS.timestamp: decoded[DECODED.timestamp],
      INPUTS.original_image_spatial_shape: decoded[DECODED.original_image_spatial_shape],
      INPUTS.proposal_boxes: tf.ensure_shape(
        pad_or_truncate(proposals.boxes, self.max_num_proposals), [self.max_num_proposals, 4]
      ),
      INPUTS.proposal_scores: tf.ensure_shape(
        pad_or_truncate(proposals.scores, self.max_num_proposals), [self.max_num_proposals]
      ),
      INPUTS.num_proposal_boxes: tf.minimum(tf.shape(proposals.boxes)[0], self.max_num_proposals),
    }

  __call__ = parse
