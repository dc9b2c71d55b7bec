"""Where the second stage's boxes come from: proposal providers (detectron2's proposal_generator).

The meta-architecture is given one or more providers and concatenates what they propose:

  RpnProposals(rpn)          the paper's Region Proposal Network on the centre time step; it
                             also owns the RPN losses.
  PersonDetectorProposals()  an external person detector's boxes (AVA's released detector
                             boxes in the TFRecords, or `person_boxes` given at inference),
                             read from the model's provided inputs (InputFields.proposal_boxes).
  GroundtruthProposals()     the ground-truth person boxes (paper Sec. 4.2); used alone: the
                             second stage then needs no sampling and post-processing no NMS.

A provider is a plain object: `propose(features, inputs, *, training) -> Proposals` and
`loss(prediction_dict, inputs) -> {LossFields key: scalar}`. Layers with variables (the RPN)
are tracked by the meta-architecture, so checkpoints keep their names.
"""

import dataclasses
from typing import Mapping

from ava_tx.core import box_utils
from ava_tx.core import standard_fields
from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf
from ava_tx.layers import losses as losses_lib

InputFields = standard_fields.InputFields
PredictionFields = standard_fields.PredictionFields
LossFields = standard_fields.LossFields


@dataclasses.dataclass(frozen=True)
class Proposals:
  """What a provider proposes for a batch.

  Attributes:
    boxes: float32 [batch_size, num_proposals, 4], normalized, no gradient.
    mask: float32 [batch_size, num_proposals], 1 for real boxes, 0 for padding.
    scores: float32 [batch_size, num_proposals] (RPN objectness; 1 for given boxes).
    predictions: extra `predict` outputs keyed by PredictionFields (e.g. the RPN's logits).
  """

  boxes: tf.Tensor
  mask: tf.Tensor
  scores: tf.Tensor
  predictions: Mapping[str, tf.Tensor] = dataclasses.field(default_factory=dict)


def _required(inputs, field, provider):
  if field not in inputs:
    raise ValueError(
      f"{provider} needs {field!r}: call provide_groundtruth(...) or "
      "provide_proposal_boxes(...) first."
    )
  return inputs[field]


class ProposalProvider:
  """Base class. Subclasses set `name` and implement `propose`."""

  name = "proposal_provider"
  # True only for ground-truth boxes: targets are exact (no sampling), no NMS.
  is_groundtruth = False

  def propose(
    self, features: tf.Tensor, inputs: Mapping[str, tf.Tensor], *, training: bool
  ) -> Proposals:
    """Args:
    features: float32 [batch_size, T', H', W', channels], the trunk map.
    inputs: the model's provided tensors, keyed by InputFields.
    training: training mode.
    """
    raise NotImplementedError

  def loss(
    self, prediction_dict: Mapping[str, tf.Tensor], inputs: Mapping[str, tf.Tensor]
  ) -> dict[str, tf.Tensor]:
    """Losses of this provider (unweighted float32 scalars keyed by LossFields); none by default."""
    del prediction_dict, inputs
    return {}


class RpnProposals(ProposalProvider):
  """The RPN on the centre time step T' // 2 of the trunk map (paper Sec. 3.1)."""

  name = "rpn"

  def __init__(self, rpn: keras.layers.Layer, *, huber_loss_delta: float = 1.0 / 9.0):
    """Args:
    rpn: ava_tx.layers.rpn.RegionProposalNetwork.
    huber_loss_delta: delta of the RPN box loss.
    """
    self.rpn = rpn
    self.huber_loss_delta = huber_loss_delta

  def propose(self, features, inputs, *, training):
    del inputs
    centre = tf.gather(features, tf.shape(features)[1] // 2, axis=1)
    out = self.rpn(centre, training=training)
    return Proposals(
      boxes=out.proposal_boxes,
      mask=tf.cast(out.proposal_mask, tf.float32),
      scores=out.proposal_scores,
      predictions={
        PredictionFields.rpn_objectness_logits: out.objectness_logits,
        PredictionFields.rpn_box_encodings: out.box_encodings,
        PredictionFields.anchor_boxes: out.anchor_boxes,
      },
    )

  def loss(self, prediction_dict, inputs):
    gt_boxes = _required(inputs, InputFields.groundtruth_boxes, "The RPN loss")
    num_gt = inputs[InputFields.num_groundtruth_boxes]
    logits = prediction_dict[PredictionFields.rpn_objectness_logits]
    score_targets, box_targets = self.rpn.label_anchors(
      prediction_dict[PredictionFields.anchor_boxes], logits, gt_boxes, num_gt
    )
    return {
      LossFields.rpn_objectness_loss: losses_lib.rpn_objectness_loss(
        logits, score_targets, self.rpn.batch_size_per_image
      ),
      LossFields.rpn_localization_loss: losses_lib.rpn_localization_loss(
        prediction_dict[PredictionFields.rpn_box_encodings], box_targets, self.huber_loss_delta
      ),
    }


class PersonDetectorProposals(ProposalProvider):
  """Boxes of an external person detector, given as InputFields.proposal_boxes (zero-padded)
  with InputFields.num_proposal_boxes; padding and empty boxes are masked out."""

  name = "person_detector"

  def propose(self, features, inputs, *, training):
    del features, training
    boxes = _required(inputs, InputFields.proposal_boxes, "Person-detector proposals")
    num = _required(inputs, InputFields.num_proposal_boxes, "Person-detector proposals")
    mask = tf.logical_and(tf.sequence_mask(num, tf.shape(boxes)[1]), box_utils.is_valid_box(boxes))
    return Proposals(
      boxes=boxes, mask=tf.cast(mask, tf.float32), scores=tf.ones_like(boxes[..., 0])
    )


class GroundtruthProposals(ProposalProvider):
  """The ground-truth person boxes (paper Sec. 4.2), in training and evaluation."""

  name = "groundtruth"
  is_groundtruth = True

  def propose(self, features, inputs, *, training):
    del features, training
    boxes = _required(inputs, InputFields.groundtruth_boxes, "Ground-truth-box proposals")
    num = inputs[InputFields.num_groundtruth_boxes]
    mask = tf.cast(tf.sequence_mask(num, tf.shape(boxes)[1]), tf.float32)
    return Proposals(boxes=boxes, mask=mask, scores=tf.ones_like(mask))


def check_providers(providers) -> tuple[ProposalProvider, ...]:
  """Returns `providers` as a tuple; ValueError if empty, duplicated or GT boxes mixed in."""
  providers = tuple(providers)
  if not providers:
    raise ValueError("The model needs at least one proposal provider.")
  for provider in providers:
    if not isinstance(provider, ProposalProvider):
      raise ValueError(
        f"Proposal providers must be ProposalProvider objects, got {type(provider).__name__}."
      )
  names = [p.name for p in providers]
  if len(set(names)) != len(names):
    raise ValueError(f"Each proposal provider may be given once, got {names}.")
  if any(p.is_groundtruth for p in providers) and len(providers) > 1:
    raise ValueError(f"Ground-truth-box proposals replace all others; got {names}.")
  return providers
