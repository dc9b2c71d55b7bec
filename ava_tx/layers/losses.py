"""Losses of the Action Transformer detector, as pure functions.

* Second stage: per-class sigmoid cross-entropy on the C+1 action logits (the paper: several
  actions hold at once, so each class is an independent binary problem) and smooth L1 on the box
  encodings of positive proposals.
* First stage: official.vision's Faster R-CNN RPN losses (`RpnScoreLoss`, `RpnBoxLoss`), whose
  targets come from `ava_tx.layers.rpn.RegionProposalNetwork.label_anchors`.

Normalization (Faster R-CNN practice, as in the TF Object Detection API): the classification
loss is summed over classes and averaged over the sampled proposals; the box loss is averaged
over positive proposals. Both divide by max(count, 1) so an example without ground truth gives
finite losses (the box loss is then exactly 0).
"""

# tf_setup first: it selects Keras 2 before official.vision imports TensorFlow.
from ava_tx.core.tf_setup import tf  # isort: skip

from official.vision.losses import maskrcnn_losses

from ava_tx.core import shape_utils


def smooth_l1(predictions: tf.Tensor, targets: tf.Tensor, delta: float = 1.0) -> tf.Tensor:
  """Elementwise smooth L1 (Huber with threshold `delta`, divided by `delta`).

  0.5 * x^2 / delta where |x| < delta, else |x| - 0.5 * delta (Fast R-CNN's loss for delta=1).

  Args:
    predictions: float32 [...].
    targets: float32 [...], same shape.
    delta: positive float, the switch point between the quadratic and linear parts.

  Returns:
    float32 [...].
  """
  if delta <= 0:
    raise ValueError(f"smooth_l1 delta must be > 0, got {delta}.")
  diff = tf.abs(predictions - targets)
  return tf.where(diff < delta, 0.5 * diff * diff / delta, diff - 0.5 * delta)


def action_classification_loss(
  logits: tf.Tensor, targets: tf.Tensor, weights: tf.Tensor
) -> tf.Tensor:
  """Multi-label sigmoid cross-entropy, summed over classes, averaged over weighted proposals.

  Args:
    logits: float32 [batch_size, num_proposals, num_logits].
    targets: float32 [batch_size, num_proposals, num_logits], each entry 0 or 1 (multi-hot).
    weights: float32 [batch_size, num_proposals], 1 for sampled proposals, 0 for padding.

  Returns:
    float32 scalar: sum(weights * sum_c CE) / max(sum(weights), 1).
  """
  shape_utils.check_rank("logits", logits, 3, "[batch_size, num_proposals, num_logits]")
  shape_utils.check_rank("targets", targets, 3, "[batch_size, num_proposals, num_logits]")
  shape_utils.check_rank("weights", weights, 2, "[batch_size, num_proposals]")
  per_class = tf.nn.sigmoid_cross_entropy_with_logits(
    labels=tf.cast(targets, logits.dtype), logits=logits
  )
  per_proposal = tf.reduce_sum(per_class, axis=-1) * weights
  return tf.reduce_sum(per_proposal) / tf.maximum(tf.reduce_sum(weights), 1.0)


def box_localization_loss(
  box_encodings: tf.Tensor,
  box_targets: tf.Tensor,
  positive_mask: tf.Tensor,
  class_targets: tf.Tensor | None = None,
  delta: float = 1.0,
) -> tf.Tensor:
  """Smooth L1 on the box encodings of positive proposals.

  Class-agnostic: box_encodings [batch_size, num_proposals, 4]; the loss is summed over the
  four coordinates and averaged over positive proposals.
  Class-specific: box_encodings [batch_size, num_proposals, num_classes, 4]; every action class
  the matched ground-truth box carries regresses to the same target box (multi-label), each
  positive proposal's loss is the mean over its positive classes, then averaged over positives.

  Args:
    box_encodings: float32 [batch_size, num_proposals, 4] or
      [batch_size, num_proposals, num_classes, 4].
    box_targets: float32 [batch_size, num_proposals, 4], encoded with the same box coder.
    positive_mask: float32 [batch_size, num_proposals], 1 for positive proposals.
    class_targets: float32 [batch_size, num_proposals, num_classes] multi-hot; required for
      class-specific encodings.
    delta: smooth L1 switch point.

  Returns:
    float32 scalar (0 when there is no positive proposal).
  """
  shape_utils.check_rank("box_targets", box_targets, 3, "[batch_size, num_proposals, 4]")
  shape_utils.check_rank("positive_mask", positive_mask, 2, "[batch_size, num_proposals]")
  num_positives = tf.maximum(tf.reduce_sum(positive_mask), 1.0)
  if box_encodings.shape.rank == 3:
    per_proposal = tf.reduce_sum(smooth_l1(box_encodings, box_targets, delta), axis=-1)
  elif box_encodings.shape.rank == 4:
    if class_targets is None:
      raise ValueError(
        "Class-specific box encodings [batch_size, num_proposals, num_classes, 4] "
        "need class_targets [batch_size, num_proposals, num_classes]."
      )
    shape_utils.check_rank(
      "class_targets", class_targets, 3, "[batch_size, num_proposals, num_classes]"
    )
    per_class = tf.reduce_sum(
      smooth_l1(box_encodings, box_targets[:, :, tf.newaxis], delta), axis=-1
    )
    class_targets = tf.cast(class_targets, per_class.dtype)
    per_proposal = tf.reduce_sum(per_class * class_targets, axis=-1) / tf.maximum(
      tf.reduce_sum(class_targets, axis=-1), 1.0
    )
  else:
    raise ValueError(
      "box_encodings must be [batch_size, num_proposals, 4] or [batch_size, "
      f"num_proposals, num_classes, 4], got shape {box_encodings.shape}."
    )
  return tf.reduce_sum(per_proposal * positive_mask) / num_positives


def rpn_objectness_loss(
  objectness_logits: tf.Tensor, score_targets: tf.Tensor, rpn_batch_size_per_image: int
) -> tf.Tensor:
  """RPN objectness loss (official.vision `RpnScoreLoss`).

  Binary cross-entropy over the sampled anchors, divided by batch_size * rpn_batch_size_per_image.

  Args:
    objectness_logits: float32 [batch_size, height, width, num_anchors_per_location].
    score_targets: int32 [batch_size, height, width, num_anchors_per_location]: 1 positive,
      0 negative, -1 ignored (not sampled).
    rpn_batch_size_per_image: anchors sampled per image.

  Returns:
    float32 scalar.
  """
  shape_utils.check_rank(
    "objectness_logits",
    objectness_logits,
    4,
    "[batch_size, height, width, num_anchors_per_location]",
  )
  loss = maskrcnn_losses.RpnScoreLoss(rpn_batch_size_per_image)
  return loss({"0": objectness_logits}, {"0": score_targets})


def rpn_localization_loss(
  box_encodings: tf.Tensor, box_targets: tf.Tensor, huber_loss_delta: float
) -> tf.Tensor:
  """RPN box loss (official.vision `RpnBoxLoss`): Huber on anchors with a non-zero target.

  Huber with threshold delta equals delta * smooth_l1(delta); it is averaged over the coordinates
  of positive anchors (+0.01 in the denominator, so no positive anchor gives 0).

  Args:
    box_encodings: float32 [batch_size, height, width, num_anchors_per_location * 4].
    box_targets: float32 [batch_size, height, width, num_anchors_per_location * 4], zero for
      anchors that are not positive.
    huber_loss_delta: Huber threshold (Faster R-CNN's RPN uses 1/9).

  Returns:
    float32 scalar.
  """
  shape_utils.check_rank(
    "box_encodings", box_encodings, 4, "[batch_size, height, width, num_anchors_per_location * 4]"
  )
  loss = maskrcnn_losses.RpnBoxLoss(huber_loss_delta)
  return loss({"0": box_encodings}, {"0": box_targets})
