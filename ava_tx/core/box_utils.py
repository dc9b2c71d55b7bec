"""Box helpers shared by the RPN, the proposal target assigner and post-processing.

All boxes are `[ymin, xmin, ymax, xmax]`; they are normalized to [0, 1] unless the name ends
in `_absolute`. official.vision's box ops mostly work in absolute pixels; the two operations
used here (IoU and the Faster R-CNN box coder) are invariant to scaling each axis, so they are
applied directly to normalized boxes. Conversions are given for the places where pixels matter.
"""

from typing import Sequence

# tf_setup first: it selects Keras 2 before official.vision imports TensorFlow.
from ava_tx.core.tf_setup import tf  # isort: skip

from official.vision.ops import box_ops

# Faster R-CNN's second-stage box-coder weights for (dy, dx, dh, dw).
FASTER_RCNN_BOX_CODER_WEIGHTS = (10.0, 10.0, 5.0, 5.0)


def _check_last_dim_4(name: str, boxes: tf.Tensor) -> None:
  if boxes.shape.rank is not None and boxes.shape[-1] is not None and boxes.shape[-1] != 4:
    raise ValueError(
      f"{name} must end in a dimension of 4 ([ymin, xmin, ymax, xmax]), got shape {boxes.shape}."
    )


def to_absolute(boxes: tf.Tensor, image_height, image_width) -> tf.Tensor:
  """Normalized boxes float32 [..., 4] -> pixel boxes float32 [..., 4] (`*_absolute`)."""
  _check_last_dim_4("boxes", boxes)
  scale = tf.cast(tf.stack([image_height, image_width, image_height, image_width]), boxes.dtype)
  return boxes * scale


def to_normalized(boxes_absolute: tf.Tensor, image_height, image_width) -> tf.Tensor:
  """Pixel boxes float32 [..., 4] -> normalized boxes float32 [..., 4]."""
  _check_last_dim_4("boxes_absolute", boxes_absolute)
  scale = tf.cast(
    tf.stack([image_height, image_width, image_height, image_width]), boxes_absolute.dtype
  )
  return boxes_absolute / scale


def clip_to_unit(boxes: tf.Tensor) -> tf.Tensor:
  """Clips normalized boxes float32 [..., 4] to [0, 1]."""
  return tf.clip_by_value(boxes, 0.0, 1.0)


def is_valid_box(boxes: tf.Tensor) -> tf.Tensor:
  """bool [...]: True where the box float32 [..., 4] has positive height and width."""
  _check_last_dim_4("boxes", boxes)
  return tf.logical_and(boxes[..., 2] > boxes[..., 0], boxes[..., 3] > boxes[..., 1])


def pairwise_iou(
  boxes: tf.Tensor, other_boxes: tf.Tensor, other_valid: tf.Tensor | None = None
) -> tf.Tensor:
  """IoU of every pair of boxes, per batch element.

  Args:
    boxes: float32 [batch_size, num_boxes, 4].
    other_boxes: float32 [batch_size, num_other, 4].
    other_valid: optional bool [batch_size, num_other]; invalid columns get IoU -1.

  Returns:
    float32 [batch_size, num_boxes, num_other], in [0, 1] (or -1 for invalid columns).
  """
  _check_last_dim_4("boxes", boxes)
  _check_last_dim_4("other_boxes", other_boxes)
  if other_valid is not None:
    # box_ops.bbox_overlap marks boxes whose coordinates are all negative as padding.
    other_boxes = tf.where(other_valid[..., tf.newaxis], other_boxes, -tf.ones_like(other_boxes))
  return box_ops.bbox_overlap(boxes, other_boxes)


def encode(
  boxes: tf.Tensor,
  anchors: tf.Tensor,
  weights: Sequence[float] | None = FASTER_RCNN_BOX_CODER_WEIGHTS,
) -> tf.Tensor:
  """Faster R-CNN encoding of `boxes` relative to `anchors` (official.vision box_ops).

  Args:
    boxes: float32 [..., 4].
    anchors: float32 [..., 4], broadcastable to `boxes`.
    weights: scale of (dy, dx, dh, dw); None for unscaled (the RPN's convention).

  Returns:
    float32 [..., 4]: (dy, dx, dh, dw) * weights.
  """
  return box_ops.encode_boxes(boxes, anchors, weights=list(weights) if weights else None)


def decode(
  encodings: tf.Tensor,
  anchors: tf.Tensor,
  weights: Sequence[float] | None = FASTER_RCNN_BOX_CODER_WEIGHTS,
) -> tf.Tensor:
  """Inverse of `encode`: float32 [..., 4] encodings + anchors [..., 4] -> boxes [..., 4]."""
  return box_ops.decode_boxes(encodings, anchors, weights=list(weights) if weights else None)
