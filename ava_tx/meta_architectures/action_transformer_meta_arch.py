"""The Action Transformer Network as a two-stage detector (Girdhar et al., CVPR 2019, Sec. 3).

  frames -> trunk (I3D to Mixed_4f) -> feature map [batch_size, T', H', W', C]
         -> proposal providers (proposal_providers.py): the RPN on the central time step
            T' // 2 (R proposals), and/or person-detector boxes, or the ground-truth boxes
         -> [training: sample proposals against ground truth]
         -> second-stage head (Tx, I3D or Tx+I3D) on (feature map, proposals)
         -> action logits and box encodings -> losses / post-processing.

This module only wires parts it is given (built elsewhere from the config by ava_tx/builders).

Choices (the paper where it speaks, Faster R-CNN practice where it is silent):
  * Logits: C + 1 per proposal, index 0 = background, each a sigmoid cross-entropy (the paper:
    "C+1 ... background", sigmoid since AVA boxes carry several actions). Negatives target
    [1, 0, ..., 0], positives [0, multi-hot actions]. The person score used for NMS and
    reported as detection_scores is 1 - sigmoid(background logit): well defined for every
    proposal (RPN, ground-truth or detector boxes) and trained on the same sampled RoIs.
  * Action scores: sigmoid of the C action logits, reported in full for every detection.
  * Boxes: the head regresses the proposal with the (10, 10, 5, 5) Faster R-CNN coder; with
    class-specific encodings the detection box is the one of its highest-scoring action.
  * Proposals are constants for the second stage (approximate joint training): no gradient
    flows from the head into the RPN's box predictions.
  * Ground-truth-box mode (Sec. 4.2): proposals are the ground-truth boxes in training and
    evaluation; the RPN is unused (no RPN losses) and post-processing does no NMS.
"""

import dataclasses
from typing import Any

from ava_tx.core import detection_model
from ava_tx.core import standard_fields
from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf
from ava_tx.data import parser as parser_lib
from ava_tx.layers import losses as losses_lib
from ava_tx.layers import target_assigner
from ava_tx.meta_architectures import postprocessing
from ava_tx.meta_architectures import proposal_providers as providers_lib

InputFields = standard_fields.InputFields
PredictionFields = standard_fields.PredictionFields
DetectionFields = standard_fields.DetectionFields
LossFields = standard_fields.LossFields

postprocess_detections = postprocessing.postprocess_detections


class TargetFields:
  """Extra `predict` outputs used only between this class's predict and loss.

  proposal_mask: float32 [batch_size, num_proposals], 1 for real (or sampled) proposals.
  positive_mask: float32 [batch_size, num_proposals] (training only).
  action_targets: float32 [batch_size, num_proposals, num_classes] (training only).
  box_targets: float32 [batch_size, num_proposals, 4] (training only).
  """

  proposal_mask = "proposal_mask"
  positive_mask = "positive_mask"
  action_targets = "action_targets"
  box_targets = "box_targets"


@dataclasses.dataclass(frozen=True)
class PreprocessConfig:
  """Frames arrive normalized to [-1, 1] by the input pipeline; optionally resized here.

  Attributes:
    resize_height, resize_width: both None (no resize) or both set (bilinear resize).
  """

  resize_height: int | None = None
  resize_width: int | None = None

  def __post_init__(self):
    if (self.resize_height is None) != (self.resize_width is None):
      raise ValueError("PreprocessConfig: set both resize_height and resize_width, or neither.")


@dataclasses.dataclass(frozen=True)
class LossConfig:
  """Weights of the four losses in total_loss and the smooth-L1 thresholds."""

  rpn_objectness_weight: float = 1.0
  rpn_localization_weight: float = 1.0
  action_classification_weight: float = 1.0
  box_localization_weight: float = 1.0
  box_smooth_l1_delta: float = 1.0


@dataclasses.dataclass(frozen=True)
class PostprocessConfig:
  """Class-agnostic NMS on the person score, then the top max_detections boxes per clip.

  Defaults follow the TF Object Detection API's AVA Faster R-CNN config.
  """

  max_detections: int = 100
  nms_iou_threshold: float = 0.6
  score_threshold: float = 0.0

  def __post_init__(self):
    if self.max_detections < 1:
      raise ValueError(f"max_detections must be >= 1, got {self.max_detections}.")
    if not 0.0 <= self.score_threshold < 1.0:
      raise ValueError(f"score_threshold must be in [0, 1), got {self.score_threshold}.")


class ActionTransformerMetaArch(detection_model.DetectionModel):
  """Trunk + proposal providers + second-stage head, Faster R-CNN style training and
  post-processing."""

  def __init__(
    self,
    *,
    num_classes: int,
    trunk: keras.layers.Layer,
    second_stage_head: keras.layers.Layer,
    proposal_providers=None,
    trunk_endpoint: str = "Mixed_4f",
    preprocessing: PreprocessConfig = PreprocessConfig(),
    sampling: target_assigner.ProposalSamplingConfig = (target_assigner.ProposalSamplingConfig()),
    loss_config: LossConfig = LossConfig(),
    postprocessing: PostprocessConfig = PostprocessConfig(),
    **kwargs,
  ):
    """Wires the parts.

    Args:
      num_classes: C, number of action classes (the head must output C + 1 logits).
      trunk: layer mapping frames float32 [batch_size, num_frames, height, width, 3] (called with
        training=...) to a dict endpoint name -> float32 [batch_size, T', H', W', channels]
        (e.g. ava_tx.trunks.i3d.InceptionI3D).
      second_stage_head: layer with call(features, proposal_boxes, *, training) -> dict with
        PredictionFields.action_logits [batch_size, num_proposals, C + 1],
        PredictionFields.box_encodings [batch_size, num_proposals, 4] or
        [batch_size, num_proposals, C, 4], optionally PredictionFields.attention_weights
        [batch_size, num_proposals, num_layers, num_heads, T', H', W'] and
        PredictionFields.attention_key_embeddings [batch_size, num_layers, num_heads, T', H',
        W', D] (passed on to postprocess).
      proposal_providers: sequence of proposal_providers.ProposalProvider whose boxes are
        concatenated, e.g. (RpnProposals(rpn),) (the paper), (RpnProposals(rpn),
        PersonDetectorProposals()), (PersonDetectorProposals(),) or (GroundtruthProposals(),).
        Required.
      trunk_endpoint: the trunk output fed to the proposal providers and the head.
      preprocessing, sampling, loss_config, postprocessing: per-stage settings.
      **kwargs: keras.layers.Layer arguments.
    """
    kwargs.setdefault("name", "action_transformer_meta_arch")
    super().__init__(num_classes=num_classes, **kwargs)
    if proposal_providers is None:
      raise ValueError(
        "ActionTransformerMetaArch needs proposal_providers, e.g. "
        "(proposal_providers.RpnProposals(rpn),)."
      )
    providers = providers_lib.check_providers(proposal_providers)
    object.__setattr__(self, "_providers", providers)  # plain objects, not Keras-tracked
    rpns = [p.rpn for p in providers if isinstance(p, providers_lib.RpnProposals)]
    # The RPN layer is tracked here, under the name older checkpoints use.
    self._rpn = rpns[0] if rpns else None
    self._trunk = trunk
    self._head = second_stage_head
    self._trunk_endpoint = trunk_endpoint
    self._preprocessing = preprocessing
    self._sampling = sampling
    self._loss_config = loss_config
    self._postprocessing = postprocessing

  @property
  def trunk(self) -> keras.layers.Layer:
    return self._trunk

  @property
  def rpn(self):
    """The RPN layer, or None when no provider is an RPN."""
    return self._rpn

  @property
  def second_stage_head(self) -> keras.layers.Layer:
    return self._head

  @property
  def proposal_providers(self) -> tuple:
    return self._providers

  @property
  def uses_rpn(self) -> bool:
    return self._rpn is not None

  @property
  def uses_person_detector_boxes(self) -> bool:
    """Whether inference needs person-detector boxes (provide_proposal_boxes)."""
    return any(isinstance(p, providers_lib.PersonDetectorProposals) for p in self._providers)

  @property
  def uses_groundtruth_boxes(self) -> bool:
    return self._providers[0].is_groundtruth

  def preprocess(self, inputs):
    """See DetectionModel.preprocess; then an optional bilinear resize.

    Args:
      inputs: [batch_size, num_frames, height, width, 3], either uint8 RGB (the parser's
        frames), normalized here to float32 x / 127.5 - 1 (`parser.normalize_frames`), or
        float32 already in [-1, 1], used unchanged. The dtype decides.
    """
    inputs = tf.convert_to_tensor(inputs)
    if inputs.shape.rank != 5 or inputs.shape[-1] != 3:
      raise ValueError(
        "preprocess expects frames uint8, or float32 in [-1, 1], [batch_size, num_frames, "
        f"height, width, 3], got shape {inputs.shape}."
      )
    if inputs.dtype == tf.uint8:
      inputs = parser_lib.normalize_frames(inputs)
    else:
      inputs = tf.cast(inputs, tf.float32)
    cfg = self._preprocessing
    if cfg.resize_height is not None:
      shape = tf.shape(inputs)
      flat = tf.reshape(inputs, [-1, shape[2], shape[3], 3])
      flat = tf.image.resize(flat, [cfg.resize_height, cfg.resize_width], method="bilinear")
      inputs = tf.reshape(flat, [shape[0], shape[1], cfg.resize_height, cfg.resize_width, 3])
    shape = tf.shape(inputs)
    true_image_shapes = tf.tile(tf.stack([shape[2], shape[3], 3])[tf.newaxis], [shape[0], 1])
    return inputs, true_image_shapes

  def _groundtruth_tensors(self):
    return (
      self.groundtruth(InputFields.groundtruth_boxes),
      self.groundtruth(InputFields.groundtruth_classes),
      self.groundtruth(InputFields.num_groundtruth_boxes),
    )

  def predict(self, preprocessed_inputs, true_image_shapes=None, *, training: bool):
    """Runs trunk, proposal providers and head.

    Args:
      preprocessed_inputs: float32 [batch_size, num_frames, height, width, 3].
      true_image_shapes: unused (kept for the DetectionModel contract).
      training: training mode (batch norm, dropout, proposal sampling, RPN train counts).
        Training needs provide_groundtruth() first; so does evaluation with ground-truth
        boxes; person-detector boxes come from provide_groundtruth(proposal_boxes=...) or
        provide_proposal_boxes().

    Returns:
      dict with PredictionFields keys:
        trunk_features: float32 [batch_size, T', H', W', channels].
        rpn_objectness_logits: float32 [batch_size, H', W', num_anchors_per_location] (RPN only).
        rpn_box_encodings: float32 [batch_size, H', W', num_anchors_per_location * 4] (RPN only).
        anchor_boxes: float32 [H' * W' * num_anchors_per_location, 4] (RPN only).
        proposal_boxes: float32 [batch_size, num_proposals, 4], the boxes given to the head
          (sampled ones in training).
        proposal_scores: float32 [batch_size, num_proposals], RPN objectness (1 for GT or
          detector boxes; in training, the sampled proposals' scores are not tracked: 1).
        num_proposals: int32 [batch_size], real (or sampled) proposals.
        action_logits: float32 [batch_size, num_proposals, num_classes + 1].
        box_encodings: float32 [batch_size, num_proposals, 4] or [.., num_classes, 4].
        attention_weights, attention_key_embeddings: when the head returns them (Tx heads
          built with return_attention=True).
      and TargetFields keys (see that class).
    """
    training = bool(training)
    features = self._trunk_features(preprocessed_inputs, training)
    proposals = self._propose(features, training)
    boxes, mask, scores, targets = self._second_stage_proposals(proposals, training)
    head_out = self._head(features, boxes, training=training)
    self._check_head_outputs(head_out)
    # Under mixed precision the head reads the compute-dtype map; the output is float32.
    predictions = {PredictionFields.trunk_features: tf.cast(features, tf.float32)}
    predictions.update(proposals.predictions)
    predictions.update(head_out)
    predictions.update(
      {
        PredictionFields.proposal_boxes: boxes,
        PredictionFields.proposal_scores: scores,
        PredictionFields.num_proposals: tf.cast(tf.reduce_sum(mask, axis=1), tf.int32),
        TargetFields.proposal_mask: mask,
      }
    )
    if targets is not None:
      predictions.update(
        {
          TargetFields.positive_mask: targets.positive_mask,
          TargetFields.action_targets: targets.action_targets,
          TargetFields.box_targets: targets.box_targets,
        }
      )
    return predictions

  def _trunk_features(self, preprocessed_inputs, training):
    """float32 [batch_size, num_frames, height, width, 3] -> the trunk map [b, T', H', W', C]."""
    frames = tf.convert_to_tensor(preprocessed_inputs, tf.float32)
    if frames.shape.rank != 5:
      raise ValueError(
        "predict expects preprocessed frames [batch_size, num_frames, height, "
        f"width, 3], got shape {frames.shape}."
      )
    endpoints = self._trunk(frames, training=training)
    if self._trunk_endpoint not in endpoints:
      raise ValueError(
        f"The trunk has no endpoint {self._trunk_endpoint!r}; it returned {sorted(endpoints)}."
      )
    features = endpoints[self._trunk_endpoint]
    if features.shape.rank != 5:
      raise ValueError(
        f"Trunk endpoint {self._trunk_endpoint!r} must be [batch_size, T', H', "
        f"W', channels], got shape {features.shape}."
      )
    return features

  def _propose(self, features, training) -> providers_lib.Proposals:
    """Every provider's proposals, concatenated along num_proposals."""
    proposed = [p.propose(features, self._groundtruth, training=training) for p in self._providers]
    if len(proposed) == 1:
      return proposed[0]
    predictions = {}
    for p in proposed:
      predictions.update(p.predictions)
    return providers_lib.Proposals(
      boxes=tf.concat([p.boxes for p in proposed], axis=1),
      mask=tf.concat([p.mask for p in proposed], axis=1),
      scores=tf.concat([p.scores for p in proposed], axis=1),
      predictions=predictions,
    )

  def _second_stage_proposals(self, proposals, training):
    """(boxes, mask, scores, targets or None) given to the head: in training, sampled against
    the ground truth (ground-truth boxes: all of them, with exact targets)."""
    if not training:
      return proposals.boxes, proposals.mask, proposals.scores, None
    if self.uses_groundtruth_boxes:
      targets = target_assigner.groundtruth_as_proposals(*self._groundtruth_tensors())
    else:
      targets = target_assigner.assign_targets(
        proposals.boxes,
        proposals.mask,
        *self._groundtruth_tensors(),
        config=self._sampling,
        subsample=True,
      )
    return targets.boxes, targets.weights, tf.ones_like(targets.weights), targets

  def _check_head_outputs(self, head_out):
    logits = head_out.get(PredictionFields.action_logits)
    encodings = head_out.get(PredictionFields.box_encodings)
    if logits is None or encodings is None:
      raise ValueError(
        "The second-stage head must return PredictionFields.action_logits and "
        f"PredictionFields.box_encodings, got keys {sorted(head_out)}."
      )
    if logits.shape.rank != 3 or logits.shape[-1] != self.num_classes + 1:
      raise ValueError(
        f"action_logits must be [batch_size, num_proposals, {self.num_classes + 1}]"
        f" (background + {self.num_classes} actions), got shape {logits.shape}."
      )
    if encodings.shape.rank == 4 and encodings.shape[2] != self.num_classes:
      raise ValueError(
        "Class-specific box_encodings must be [batch_size, num_proposals, "
        f"{self.num_classes}, 4], got shape {encodings.shape}."
      )
    if encodings.shape.rank not in (3, 4) or encodings.shape[-1] != 4:
      raise ValueError(
        "box_encodings must be [batch_size, num_proposals, 4] or [batch_size, "
        f"num_proposals, num_classes, 4], got shape {encodings.shape}."
      )

  def loss(self, prediction_dict, true_image_shapes=None):
    """Weighted losses (see DetectionModel.loss); needs provide_groundtruth() first.

    Returns:
      dict of float32 scalars: LossFields rpn_objectness_loss, rpn_localization_loss (0 without
      an RPN), action_classification_loss, box_localization_loss (each already multiplied by its
      LossConfig weight), regularization_loss and total_loss (their sum).
    """
    cfg = self._loss_config
    gt_boxes, gt_classes, num_gt = self._groundtruth_tensors()
    zero = tf.constant(0.0)
    provider_losses = {}
    for provider in self._providers:
      provider_losses.update(provider.loss(prediction_dict, self._groundtruth))
    rpn_objectness = provider_losses.get(LossFields.rpn_objectness_loss, zero)
    rpn_localization = provider_losses.get(LossFields.rpn_localization_loss, zero)

    if TargetFields.action_targets in prediction_dict:
      weights = prediction_dict[TargetFields.proposal_mask]
      positive = prediction_dict[TargetFields.positive_mask]
      action_targets = prediction_dict[TargetFields.action_targets]
      box_targets = prediction_dict[TargetFields.box_targets]
    else:  # Evaluation: assign targets to every proposal, no sampling.
      targets = target_assigner.assign_targets(
        prediction_dict[PredictionFields.proposal_boxes],
        prediction_dict[TargetFields.proposal_mask],
        gt_boxes,
        gt_classes,
        num_gt,
        config=self._sampling,
        subsample=False,
      )
      weights, positive = targets.weights, targets.positive_mask
      action_targets, box_targets = targets.action_targets, targets.box_targets
    background = (1.0 - positive)[..., tf.newaxis]
    classification = losses_lib.action_classification_loss(
      prediction_dict[PredictionFields.action_logits],
      tf.concat([background, action_targets], axis=-1),
      weights,
    )
    localization = losses_lib.box_localization_loss(
      prediction_dict[PredictionFields.box_encodings],
      box_targets,
      positive,
      class_targets=action_targets,
      delta=cfg.box_smooth_l1_delta,
    )

    regularization = self.regularization_losses()
    regularization = tf.add_n(regularization) if regularization else zero
    result = {
      LossFields.rpn_objectness_loss: cfg.rpn_objectness_weight * rpn_objectness,
      LossFields.rpn_localization_loss: cfg.rpn_localization_weight * rpn_localization,
      LossFields.action_classification_loss: cfg.action_classification_weight * classification,
      LossFields.box_localization_loss: cfg.box_localization_weight * localization,
      LossFields.regularization_loss: regularization,
    }
    result[LossFields.total_loss] = tf.add_n(list(result.values()))
    return result

  def postprocess(self, prediction_dict, true_image_shapes=None):
    """Decodes boxes, class-agnostic NMS on the person score, top max_detections per clip.

    Returns:
      dict with DetectionFields keys (padding rows are zero):
        detection_boxes: float32 [batch_size, max_detections, 4], normalized, clipped to [0, 1].
        detection_scores: float32 [batch_size, max_detections], person score
          1 - sigmoid(background logit), in [0, 1], sorted decreasing.
        detection_action_scores: float32 [batch_size, max_detections, num_classes], sigmoid.
        num_detections: int32 [batch_size].
        detection_attention_weights: float32 [batch_size, max_detections, num_layers,
          num_heads, T', H', W'] and attention_key_embeddings: float32 [batch_size,
          num_layers, num_heads, T', H', W', D], when the head returned them.
    """
    cfg = self._postprocessing
    return postprocess_detections(
      proposal_boxes=prediction_dict[PredictionFields.proposal_boxes],
      proposal_mask=prediction_dict[TargetFields.proposal_mask],
      action_logits=prediction_dict[PredictionFields.action_logits],
      box_encodings=prediction_dict[PredictionFields.box_encodings],
      attention_weights=prediction_dict.get(PredictionFields.attention_weights),
      attention_key_embeddings=prediction_dict.get(PredictionFields.attention_key_embeddings),
      max_detections=cfg.max_detections,
      score_threshold=cfg.score_threshold,
      nms_iou_threshold=1.0 if self.uses_groundtruth_boxes else cfg.nms_iou_threshold,
      box_coder_weights=self._sampling.box_coder_weights,
    )

  def restore_from_objects(self, fine_tune_checkpoint_type: str = "detection") -> dict[str, Any]:
    """Objects for `tf.train.Checkpoint(**objects)` (see DetectionModel.restore_from_objects).

    "classification": the trunk's endpoint layers by name (InceptionI3D.endpoint_layers(), e.g.
    {"Conv3d_1a_7x7": ..., "Mixed_4f": ...}), the keys of the converted Kinetics I3D checkpoint.
    "detection": {"model": <the trunk only>}, so that a training checkpoint of this model
    (saved as `model=`) restores its trunk whatever the heads. "full": {"model": self}.
    """
    if fine_tune_checkpoint_type == "full":
      return {"model": self}
    if fine_tune_checkpoint_type == "detection":
      # The attribute name matches the one under which the model tracks its trunk.
      return {"model": tf.train.Checkpoint(_trunk=self._trunk)}
    if fine_tune_checkpoint_type == "classification":
      if not hasattr(self._trunk, "endpoint_layers"):
        raise ValueError(
          f"Trunk {type(self._trunk).__name__} has no endpoint_layers(); cannot "
          "restore a classification checkpoint into it."
        )
      return dict(self._trunk.endpoint_layers())
    raise ValueError(
      "fine_tune_checkpoint_type must be 'classification', 'detection' or "
      f"'full', got {fine_tune_checkpoint_type!r}."
    )
