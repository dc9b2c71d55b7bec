"""Second-stage proposal sampling and target assignment against multi-label ground truth.

Faster R-CNN practice (the paper is silent on it): each proposal is matched to the ground-truth
box of highest IoU; it is positive when that IoU >= `positive_iou_threshold` and negative when
it lies in [`negative_iou_low`, `negative_iou_high`); others are ignored. In training the
ground-truth boxes are appended to the proposals (so each example has positives early in
training), then `num_samples_per_image` proposals are drawn at random with at most
`positive_fraction` positives, negatives filling the rest. When fewer candidates exist the
remaining slots are padding with weight 0.

Targets for AVA's multi-label boxes: a positive proposal gets the multi-hot action vector of its
matched box; a negative gets zeros. Box targets are the matched box encoded relative to the
proposal with the Faster R-CNN coder (weights 10, 10, 5, 5).

Why not official.vision's `ROISampler`: it carries one integer class per box and pads short
samples with unsampled proposals without telling which; multi-hot targets need the matched
index and a weight per sampled slot. It uses the same IoU (`box_ops.bbox_overlap`) and the same
balanced positive/negative scheme.
"""

import dataclasses
from typing import NamedTuple

from ava_tx.core import box_utils
from ava_tx.core.tf_setup import tf


@dataclasses.dataclass(frozen=True)
class ProposalSamplingConfig:
  """Settings of second-stage sampling (Faster R-CNN defaults).

  Attributes:
    num_samples_per_image: proposals sampled per clip for the second-stage loss.
    positive_fraction: at most this fraction of the samples are positives.
    positive_iou_threshold: IoU with a ground-truth box at or above which a proposal is positive.
    negative_iou_high: proposals whose best IoU is below this are negatives...
    negative_iou_low: ...if it is at or above this (0 keeps every non-positive).
    add_groundtruth_to_proposals: append the ground-truth boxes to the proposals in training.
    box_coder_weights: (dy, dx, dh, dw) scales of the second-stage box coder.
  """

  num_samples_per_image: int = 128
  positive_fraction: float = 0.25
  positive_iou_threshold: float = 0.5
  negative_iou_high: float = 0.5
  negative_iou_low: float = 0.0
  add_groundtruth_to_proposals: bool = True
  box_coder_weights: tuple[float, float, float, float] = box_utils.FASTER_RCNN_BOX_CODER_WEIGHTS

  def __post_init__(self):
    if self.num_samples_per_image < 1:
      raise ValueError(f"num_samples_per_image must be >= 1, got {self.num_samples_per_image}.")
    if not 0.0 < self.positive_fraction <= 1.0:
      raise ValueError(f"positive_fraction must be in (0, 1], got {self.positive_fraction}.")
    if not 0.0 <= self.negative_iou_low <= self.negative_iou_high <= self.positive_iou_threshold:
      raise ValueError(
        "Need 0 <= negative_iou_low <= negative_iou_high <= positive_iou_threshold, "
        f"got {self.negative_iou_low}, {self.negative_iou_high}, "
        f"{self.positive_iou_threshold}."
      )
    if len(self.box_coder_weights) != 4:
      raise ValueError(f"box_coder_weights needs 4 values, got {self.box_coder_weights}.")


class ProposalTargets(NamedTuple):
  """Sampled proposals and their targets.

  Attributes:
    boxes: float32 [batch_size, num_proposals, 4], the proposals to classify.
    weights: float32 [batch_size, num_proposals], 1 for sampled proposals, 0 for padding.
    positive_mask: float32 [batch_size, num_proposals], 1 for positives (always weighted).
    action_targets: float32 [batch_size, num_proposals, num_classes], multi-hot, 0 unless positive.
    box_targets: float32 [batch_size, num_proposals, 4], encoded, 0 unless positive.
    matched_groundtruth_index: int32 [batch_size, num_proposals], -1 unless positive.
  """

  boxes: tf.Tensor
  weights: tf.Tensor
  positive_mask: tf.Tensor
  action_targets: tf.Tensor
  box_targets: tf.Tensor
  matched_groundtruth_index: tf.Tensor


def _ranks(keys: tf.Tensor) -> tf.Tensor:
  """int32 [batch_size, n]: rank of each key in descending order along the last axis."""
  order = tf.argsort(keys, axis=-1, direction="DESCENDING", stable=True)
  return tf.argsort(order, axis=-1, stable=True)


def groundtruth_mask(num_groundtruth_boxes: tf.Tensor, max_num_boxes) -> tf.Tensor:
  """bool [batch_size, max_num_boxes]: True for the first num_groundtruth_boxes rows."""
  return tf.sequence_mask(num_groundtruth_boxes, max_num_boxes)


def assign_targets(
  proposal_boxes: tf.Tensor,
  proposal_mask: tf.Tensor,
  groundtruth_boxes: tf.Tensor,
  groundtruth_classes: tf.Tensor,
  num_groundtruth_boxes: tf.Tensor,
  *,
  config: ProposalSamplingConfig,
  subsample: bool,
) -> ProposalTargets:
  """Matches proposals to ground truth and (optionally) samples a balanced subset.

  Args:
    proposal_boxes: float32 [batch_size, num_proposals, 4].
    proposal_mask: bool or float32 [batch_size, num_proposals], true/1 for real proposals.
    groundtruth_boxes: float32 [batch_size, max_num_boxes, 4], zero-padded.
    groundtruth_classes: float32 [batch_size, max_num_boxes, num_classes], multi-hot.
    num_groundtruth_boxes: int32 [batch_size].
    config: sampling settings.
    subsample: True (training): add ground truth if configured and sample
      `config.num_samples_per_image` proposals. False (evaluation losses): keep every proposal
      in place; positives and negatives get weight 1, ignored proposals and padding weight 0.

  Returns:
    ProposalTargets with num_proposals = config.num_samples_per_image when subsample, else the
    input's num_proposals.
  """
  for name, tensor, rank in (
    ("proposal_boxes", proposal_boxes, 3),
    ("groundtruth_boxes", groundtruth_boxes, 3),
    ("groundtruth_classes", groundtruth_classes, 3),
  ):
    if tensor.shape.rank != rank:
      raise ValueError(f"assign_targets: {name} must have rank {rank}, got {tensor.shape}.")
  proposal_mask = tf.cast(proposal_mask, tf.bool)
  # One extra (invalid) ground-truth row, so that max_num_boxes = 0 needs no special case.
  groundtruth_boxes = tf.pad(tf.cast(groundtruth_boxes, tf.float32), [[0, 0], [0, 1], [0, 0]])
  groundtruth_classes = tf.pad(tf.cast(groundtruth_classes, tf.float32), [[0, 0], [0, 1], [0, 0]])
  gt_mask = groundtruth_mask(num_groundtruth_boxes, tf.shape(groundtruth_boxes)[1])
  boxes, mask = proposal_boxes, proposal_mask
  if subsample and config.add_groundtruth_to_proposals:
    boxes = tf.concat([boxes, groundtruth_boxes], axis=1)
    mask = tf.concat([mask, gt_mask], axis=1)

  positive, negative, matched = _match(boxes, mask, groundtruth_boxes, gt_mask, config)
  if subsample:
    boxes, positive, matched, weights = _sample_balanced(boxes, positive, negative, matched, config)
  else:
    weights = tf.cast(tf.logical_or(positive, negative), tf.float32)
  return _encode_targets(
    boxes,
    positive,
    matched,
    weights,
    groundtruth_boxes,
    groundtruth_classes,
    config.box_coder_weights,
  )


def _match(boxes, mask, groundtruth_boxes, gt_mask, config):
  """Each box's best ground truth: (positive, negative) bool and matched int32 index, all
  [batch_size, num_boxes]."""
  iou = box_utils.pairwise_iou(boxes, groundtruth_boxes, gt_mask)  # [b, n, m], -1 if invalid
  best_iou = tf.maximum(tf.reduce_max(iou, axis=-1), 0.0)  # no ground truth: IoU 0
  matched = tf.argmax(iou, axis=-1, output_type=tf.int32)
  positive = tf.logical_and(mask, best_iou >= config.positive_iou_threshold)
  negative = tf.logical_and(
    tf.logical_and(mask, tf.logical_not(positive)),
    tf.logical_and(best_iou >= config.negative_iou_low, best_iou < config.negative_iou_high),
  )
  return positive, negative, matched


def _sample_balanced(boxes, positive, negative, matched, config):
  """Draws config.num_samples_per_image boxes per clip at random, at most positive_fraction of
  them positives, negatives filling the rest; returns (boxes, positive, matched, weights) of
  the samples, weights 0 on padding slots."""
  num_samples = config.num_samples_per_image
  # Pad so that top_k can always take num_samples slots; padding is never sampled.
  pad = tf.maximum(num_samples - tf.shape(boxes)[1], 0)
  boxes = tf.pad(boxes, [[0, 0], [0, pad], [0, 0]])
  positive = tf.pad(positive, [[0, 0], [0, pad]])
  negative = tf.pad(negative, [[0, 0], [0, pad]])
  matched = tf.pad(matched, [[0, 0], [0, pad]])
  noise = tf.random.uniform(tf.shape(positive), dtype=tf.float32)
  max_positives = int(round(num_samples * config.positive_fraction))
  pos_rank = _ranks(tf.where(positive, noise, -1.0))
  take_pos = tf.logical_and(positive, pos_rank < max_positives)
  num_neg = num_samples - tf.reduce_sum(tf.cast(take_pos, tf.int32), axis=1, keepdims=True)
  neg_rank = _ranks(tf.where(negative, noise, -1.0))
  take_neg = tf.logical_and(negative, neg_rank < num_neg)
  taken = tf.logical_or(take_pos, take_neg)
  _, index = tf.math.top_k(tf.where(taken, 1.0 + noise, noise - 1.0), k=num_samples)
  gather = lambda t: tf.gather(t, index, batch_dims=1)  # noqa: E731
  weights = tf.cast(gather(taken), tf.float32)
  positive = tf.logical_and(gather(positive), weights > 0)
  return gather(boxes), positive, gather(matched), weights


def _encode_targets(
  boxes, positive, matched, weights, groundtruth_boxes, groundtruth_classes, box_coder_weights
):
  """ProposalTargets: positives get their matched box's actions and encoded box, others 0."""
  positive_f = tf.cast(positive, tf.float32)
  matched_boxes = tf.gather(groundtruth_boxes, matched, batch_dims=1)
  action_targets = tf.gather(groundtruth_classes, matched, batch_dims=1) * positive_f[..., None]
  box_targets = box_utils.encode(matched_boxes, boxes, box_coder_weights)
  box_targets = box_targets * positive_f[..., None]
  matched = tf.where(positive, matched, -tf.ones_like(matched))
  return ProposalTargets(
    boxes=boxes,
    weights=weights,
    positive_mask=positive_f,
    action_targets=action_targets,
    box_targets=box_targets,
    matched_groundtruth_index=matched,
  )


def groundtruth_as_proposals(
  groundtruth_boxes: tf.Tensor, groundtruth_classes: tf.Tensor, num_groundtruth_boxes: tf.Tensor
) -> ProposalTargets:
  """Targets for ground-truth-box mode (paper Sec. 4.2): the proposals are the GT boxes.

  Every valid ground-truth box is a positive with its own multi-hot actions and a zero box
  target; padding rows have weight 0.

  Args:
    groundtruth_boxes: float32 [batch_size, max_num_boxes, 4].
    groundtruth_classes: float32 [batch_size, max_num_boxes, num_classes].
    num_groundtruth_boxes: int32 [batch_size].

  Returns:
    ProposalTargets with num_proposals = max_num_boxes.
  """
  mask = tf.cast(
    groundtruth_mask(num_groundtruth_boxes, tf.shape(groundtruth_boxes)[1]), tf.float32
  )
  index = tf.broadcast_to(tf.range(tf.shape(groundtruth_boxes)[1], dtype=tf.int32), tf.shape(mask))
  return ProposalTargets(
    boxes=groundtruth_boxes,
    weights=mask,
    positive_mask=mask,
    action_targets=tf.cast(groundtruth_classes, tf.float32) * mask[..., None],
    box_targets=tf.zeros_like(groundtruth_boxes),
    matched_groundtruth_index=tf.where(mask > 0, index, -tf.ones_like(index)),
  )
