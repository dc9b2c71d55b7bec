"""Builds the Action Transformer detection model from a `DetectionModel` / `ActionTransformer`
proto.

The only place model protos are read: every part below receives plain Python values.
"""

from ava_tx.builders import config_util
from ava_tx.builders import config_validation
from ava_tx.core import errors
from ava_tx.layers import action_transformer
from ava_tx.layers import i3d_head
from ava_tx.layers import rpn as rpn_lib
from ava_tx.layers import target_assigner
from ava_tx.layers import tx_i3d_head
from ava_tx.meta_architectures import action_transformer_meta_arch as meta_arch
from ava_tx.meta_architectures import proposal_providers
from ava_tx.protos import action_transformer_pb2
from ava_tx.protos import pipeline_pb2
from ava_tx.trunks import i3d

_AT = action_transformer_pb2.ActionTransformer
_QUERY_PREPROCESSORS = {
  action_transformer_pb2.ActionTransformerHead.HIGH_RES: action_transformer.HIGHRES,
  action_transformer_pb2.ActionTransformerHead.LOW_RES: action_transformer.LOWRES,
}
_DEFAULT_ANCHOR_SCALES = (0.25, 0.5, 1.0, 2.0)
_DEFAULT_ANCHOR_ASPECT_RATIOS = (0.5, 1.0, 2.0)
_I3D_HEAD_FIRST_ENDPOINT = "MaxPool3d_5a_2x2"
_I3D_HEAD_FINAL_ENDPOINT = "Mixed_5c"


def _trunk(config):
  trunk_config = config.trunk
  trunk = i3d.InceptionI3D(
    final_endpoint=trunk_config.final_endpoint,
    depth_multiplier=trunk_config.depth_multiplier,
    min_depth=trunk_config.min_depth,
    freeze_batch_norm=trunk_config.freeze_batch_norm,
    separable_max_pool=trunk_config.separable_max_pool,
    space_to_depth_stem=trunk_config.space_to_depth_stem,
    name="trunk",
  )
  if trunk_config.freeze_up_to_endpoint:
    for name, layer in trunk.endpoint_layers().items():
      layer.trainable = False
      if name == trunk_config.freeze_up_to_endpoint:
        break
  return trunk


def _mixed5_block(config):
  """I3D's Mixed_5a (the pool), Mixed_5b and Mixed_5c, at the trunk's width."""
  trunk = config.trunk
  return i3d.InceptionI3D(
    first_endpoint=_I3D_HEAD_FIRST_ENDPOINT,
    final_endpoint=_I3D_HEAD_FINAL_ENDPOINT,
    depth_multiplier=trunk.depth_multiplier,
    min_depth=trunk.min_depth,
    freeze_batch_norm=trunk.freeze_batch_norm,
    separable_max_pool=trunk.separable_max_pool,
    name="i3d_head_mixed5",
  )


def tx_head_config(config) -> action_transformer.ActionTransformerHeadConfig:
  """The `ActionTransformerHeadConfig` of an `ActionTransformer` proto's
  `action_transformer_head` (read once here; the heads get the dataclass)."""
  tx = config.action_transformer_head
  return action_transformer.ActionTransformerHeadConfig(
    num_heads=tx.num_heads,
    num_layers=tx.num_layers,
    query_size=tx.hidden_size,
    ffn_hidden_size=tx.ffn_hidden_size,
    dropout_rate=tx.dropout_rate,
    query_preprocessor=_QUERY_PREPROCESSORS[tx.query_preprocessor],
    highres_reduced_channels=tx.high_res_reduced_channels,
    use_location_embedding=tx.use_location_embedding,
    location_embedding_hidden_size=tx.location_embedding_hidden_size,
    location_embedding_size=tx.location_embedding_size,
  )


def _head_outputs(config):
  """The keyword arguments every head takes: logits, box classes and RoI pooling sizes."""
  return dict(
    num_logits=config.num_classes + 1,
    num_box_classes=(None if config.class_agnostic_box_regression else config.num_classes),
    crop_size=config.roi_pooling.crop_size,
    pooled_size=config.roi_pooling.pooled_size,
  )


def _build_action_transformer_head(config, attention_outputs):
  return action_transformer.ActionTransformerHead(
    **_head_outputs(config),
    tx_config=tx_head_config(config),
    return_attention=attention_outputs,
    name="action_transformer_head",
  )


def _build_i3d_head(config, attention_outputs):
  del attention_outputs  # The I3D head has no attention.
  return i3d_head.I3DHead(
    **_head_outputs(config),
    mixed5_block=_mixed5_block(config),
    mixed5_output_key=_I3D_HEAD_FINAL_ENDPOINT,
    dropout_rate=config.i3d_head.dropout_rate,
    name="i3d_head",
  )


def _build_tx_i3d_head(config, attention_outputs):
  return tx_i3d_head.TxI3DHead(
    **_head_outputs(config),
    mixed5_block=_mixed5_block(config),
    mixed5_output_key=_I3D_HEAD_FINAL_ENDPOINT,
    i3d_dropout_rate=config.i3d_head.dropout_rate,
    tx_config=tx_head_config(config),
    return_attention=attention_outputs,
    name="tx_i3d_head",
  )


# Head type -> builder `(ActionTransformer proto, attention_outputs) -> keras layer`, as the OD
# API's meta-architecture map and official.vision's backbone factory: a new head is one entry.
HEAD_BUILDERS = {
  _AT.ACTION_TRANSFORMER: _build_action_transformer_head,
  _AT.I3D: _build_i3d_head,
  _AT.TX_I3D: _build_tx_i3d_head,
}


def build_head(config, *, attention_outputs=False):
  """The second-stage head of `config.head_type` (num_classes + 1 logits, index 0 = background).

  attention_outputs: Tx heads also return attention weights and keys (the I3D head has none).

  Raises:
    errors.InputError: `config.head_type` has no builder in HEAD_BUILDERS (the message lists
      the known types).
  """
  builder = HEAD_BUILDERS.get(config.head_type)
  if builder is None:
    known = ", ".join(_AT.HeadType.Name(head_type) for head_type in HEAD_BUILDERS)
    raise errors.InputError(
      f"model.action_transformer.head_type: unknown value "
      f"{config.head_type}; known head types: {known}"
    )
  return builder(config, attention_outputs)


def build_rpn(config, anchor_stride):
  rpn = config.rpn
  return rpn_lib.RegionProposalNetwork(
    anchor_stride=anchor_stride,
    anchor_base_size=rpn.anchor_base_size,
    anchor_scales=tuple(rpn.anchor_scales) or _DEFAULT_ANCHOR_SCALES,
    anchor_aspect_ratios=tuple(rpn.anchor_aspect_ratios) or _DEFAULT_ANCHOR_ASPECT_RATIOS,
    num_convs=rpn.num_convs,
    num_filters=rpn.num_filters,
    train_pre_nms_top_k=rpn.pre_nms_top_k_train,
    train_num_proposals=rpn.num_proposals_train,
    test_pre_nms_top_k=rpn.pre_nms_top_k_test,
    test_num_proposals=rpn.num_proposals_test,
    nms_iou_threshold=rpn.nms_iou_threshold,
    positive_iou_threshold=rpn.positive_iou_threshold,
    negative_iou_threshold=rpn.negative_iou_threshold,
    batch_size_per_image=rpn.anchors_per_image,
    positive_fraction=rpn.positive_fraction,
    name="rpn",
  )


def uses_rpn(config) -> bool:
  """Whether an `ActionTransformer` config's proposals include the RPN's."""
  return config.proposals in (_AT.RPN, _AT.RPN_AND_PERSON_DETECTOR)


def uses_person_detector_boxes(config) -> bool:
  """Whether an `ActionTransformer` config's proposals include person-detector boxes."""
  return config.proposals in (_AT.PERSON_DETECTOR, _AT.RPN_AND_PERSON_DETECTOR)


def build_proposal_providers(config, anchor_stride):
  """The proposal providers of `config.proposals` (an `ActionTransformer.ProposalSource`)."""
  if config.proposals == _AT.GROUNDTRUTH:
    return (proposal_providers.GroundtruthProposals(),)
  providers = []
  if uses_rpn(config):
    providers.append(proposal_providers.RpnProposals(build_rpn(config, anchor_stride)))
  if uses_person_detector_boxes(config):
    providers.append(proposal_providers.PersonDetectorProposals())
  if not providers:
    raise errors.InputError(f"model.action_transformer.proposals: unknown value {config.proposals}")
  return tuple(providers)


def build(model_config, *, attention_outputs: bool = False):
  """Builds an `ActionTransformerMetaArch`.

  Args:
    model_config: a `pipeline_pb2.DetectionModel` (the pipeline's `model { ... }`) or an
      `action_transformer_pb2.ActionTransformer`.
    attention_outputs: the Tx head returns its attention weights and keys, and postprocess
      adds DetectionFields.detection_attention_weights and attention_key_embeddings (for
      export and visualisation; off in training and evaluation).

  Returns:
    The meta-architecture, unbuilt (variables are created on the first call). Training mode is
    passed to each call, not fixed here.

  Raises:
    TypeError: `model_config` is neither message type.
    ValueError: an invalid or contradictory field, named by its dotted path.
  """
  if isinstance(model_config, pipeline_pb2.DetectionModel):
    model_config = config_util.get_action_transformer_config(model_config)
  if not isinstance(model_config, action_transformer_pb2.ActionTransformer):
    raise TypeError(
      "model_config must be a DetectionModel or ActionTransformer message, got "
      f"{type(model_config).__name__}"
    )
  config_validation.validate_action_transformer(model_config)

  trunk = _trunk(model_config)
  anchor_stride = trunk.endpoint_stride(model_config.trunk.final_endpoint)[1]
  return meta_arch.ActionTransformerMetaArch(
    num_classes=model_config.num_classes,
    trunk=trunk,
    trunk_endpoint=model_config.trunk.final_endpoint,
    second_stage_head=build_head(model_config, attention_outputs=attention_outputs),
    proposal_providers=build_proposal_providers(model_config, anchor_stride),
    preprocessing=meta_arch.PreprocessConfig(
      resize_height=model_config.image_height, resize_width=model_config.image_width
    ),
    sampling=_sampling_config(model_config.proposal_sampler),
    loss_config=_loss_config(model_config.loss_weights),
    postprocessing=_postprocess_config(model_config.post_processing),
    name="action_transformer",
  )


def _sampling_config(sampler) -> target_assigner.ProposalSamplingConfig:
  """The second stage's RoI sampling, from a `ProposalSampler` message."""
  return target_assigner.ProposalSamplingConfig(
    num_samples_per_image=sampler.num_sampled_rois,
    positive_fraction=sampler.positive_fraction,
    positive_iou_threshold=sampler.positive_iou_threshold,
    negative_iou_high=sampler.negative_iou_threshold,
    add_groundtruth_to_proposals=sampler.add_groundtruth_as_proposals,
  )


def _loss_config(weights) -> meta_arch.LossConfig:
  """The loss weights, from a `LossWeights` message."""
  return meta_arch.LossConfig(
    rpn_objectness_weight=weights.rpn_objectness,
    rpn_localization_weight=weights.rpn_localization,
    action_classification_weight=weights.action_classification,
    box_localization_weight=weights.box_localization,
  )


def _postprocess_config(post) -> meta_arch.PostprocessConfig:
  """NMS and top-K settings, from a `PostProcessing` message."""
  return meta_arch.PostprocessConfig(
    max_detections=post.max_detections,
    nms_iou_threshold=post.nms_iou_threshold,
    score_threshold=post.score_threshold,
  )


def i3d_endpoint_layers(model, *, include_i3d_head=True):
  """Endpoint name -> layer of every I3D block in `model` (trunk and I3D-head Mixed_5*, or
  the trunk's alone with include_i3d_head=False).

  The converted Kinetics checkpoint (data_tools.convert_i3d_checkpoint) is keyed by these
  names, so `ava_tx.trunks.i3d_checkpoint.restore_endpoints(path, i3d_endpoint_layers(model))`
  initialises both the trunk and the I3D head's Mixed_5b/5c from it.
  """
  layers = dict(model.restore_from_objects("classification"))
  if not include_i3d_head:
    return layers
  for layer in model.submodules:
    if isinstance(layer, i3d.InceptionI3D) and layer.endpoints[0] == _I3D_HEAD_FIRST_ENDPOINT:
      layers.update(layer.endpoint_layers())
  return layers
