"""Checks a pipeline config for invalid or contradictory values before anything is built.

Every error is an `errors.InputError` (a ValueError) whose message starts with the dotted path
of the field at fault, e.g.
`model.action_transformer.num_frames: must be a positive multiple of 8, got 12`.
"""

from ava_tx.builders import config_util
from ava_tx.core import errors
from ava_tx.protos import action_transformer_pb2
from ava_tx.protos import train_pb2
from ava_tx.trunks import i3d

_AT = action_transformer_pb2.ActionTransformer
# Values of I3DTrunk.fine_tune_checkpoint_type (the Object Detection API's names).
FINE_TUNE_CHECKPOINT_TYPES = ("classification", "detection", "full")


def _check(condition, field, message):
  if not condition:
    raise errors.InputError(f"{field}: {message}")


def _unit_interval(value, field, *, closed_low=True, closed_high=True):
  low_ok = value >= 0 if closed_low else value > 0
  high_ok = value <= 1 if closed_high else value < 1
  _check(
    low_ok and high_ok,
    field,
    f"must be in {'[' if closed_low else '('}0, 1{']' if closed_high else ')'}, got {value}",
  )


def _proposals_replacing(config):
  """The `proposals` value equivalent to the deprecated use_* fields of `config`."""
  if config.use_groundtruth_boxes:
    return "GROUNDTRUTH"
  if config.use_external_proposals:
    return "RPN_AND_PERSON_DETECTOR" if config.use_rpn else "PERSON_DETECTOR"
  return "RPN"


def check_deprecated_proposal_fields(config, prefix="model.action_transformer"):
  """InputError naming `proposals` if a config still sets use_rpn / use_external_proposals /
  use_groundtruth_boxes (replaced by the one enum field)."""
  for name in ("use_groundtruth_boxes", "use_external_proposals", "use_rpn"):
    if config.HasField(name):
      raise errors.InputError(
        f"{prefix}.{name}: replaced by `proposals` (one of RPN, RPN_AND_PERSON_DETECTOR, "
        f"PERSON_DETECTOR, GROUNDTRUTH); for this config write `proposals: "
        f"{_proposals_replacing(config)}` and remove use_rpn, use_external_proposals and "
        "use_groundtruth_boxes"
      )


def _validate_input_shape(config, p):
  _check(config.num_classes > 0, f"{p}.num_classes", f"must be positive, got {config.num_classes}")
  _check(
    config.num_frames > 0 and config.num_frames % 8 == 0,
    f"{p}.num_frames",
    f"must be a positive multiple of 8 (trunk temporal stride 4, then Mixed_5a's 2), "
    f"got {config.num_frames}",
  )
  for name in ("image_height", "image_width"):
    value = getattr(config, name)
    _check(
      value > 0 and value % 16 == 0,
      f"{p}.{name}",
      f"must be a positive multiple of 16 (the trunk's spatial stride), got {value}",
    )


def validate_trunk(trunk, p, *, head_type=_AT.ACTION_TRANSFORMER):
  """An `I3DTrunk` message at `p` (the I3D heads need the trunk to end at Mixed_4f)."""
  _check(
    trunk.final_endpoint in i3d.ENDPOINTS,
    f"{p}.final_endpoint",
    f"unknown I3D endpoint {trunk.final_endpoint!r}; expected one of {', '.join(i3d.ENDPOINTS)}",
  )
  if trunk.freeze_up_to_endpoint:
    trunk_endpoints = i3d.ENDPOINTS[: i3d.ENDPOINTS.index(trunk.final_endpoint) + 1]
    _check(
      trunk.freeze_up_to_endpoint in trunk_endpoints,
      f"{p}.freeze_up_to_endpoint",
      f"must be an I3D endpoint up to trunk.final_endpoint ({trunk.final_endpoint}), "
      f"got {trunk.freeze_up_to_endpoint!r}",
    )
  _check(
    trunk.depth_multiplier > 0,
    f"{p}.depth_multiplier",
    f"must be positive, got {trunk.depth_multiplier}",
  )
  _check(trunk.min_depth > 0, f"{p}.min_depth", f"must be positive, got {trunk.min_depth}")
  _check(
    trunk.fine_tune_checkpoint_type in FINE_TUNE_CHECKPOINT_TYPES,
    f"{p}.fine_tune_checkpoint_type",
    f"must be one of {', '.join(FINE_TUNE_CHECKPOINT_TYPES)}, got "
    f"{trunk.fine_tune_checkpoint_type!r}",
  )
  if trunk.fine_tune_checkpoint and trunk.fine_tune_checkpoint_type == "classification":
    _check(
      trunk.depth_multiplier == 1.0,
      f"{p}.depth_multiplier",
      "must be 1.0 when trunk.fine_tune_checkpoint is set (the Kinetics checkpoint has the "
      f"full channel counts), got {trunk.depth_multiplier}",
    )
  if head_type in (_AT.I3D, _AT.TX_I3D):
    _check(
      trunk.final_endpoint == "Mixed_4f",
      f"{p}.final_endpoint",
      "must be Mixed_4f with the I3D head (it applies Mixed_5a..Mixed_5c to the person "
      f"tubes), got {trunk.final_endpoint!r}",
    )


def validate_rpn(rpn, p):
  """A `RegionProposalNetwork` message at `p`."""
  _check(
    rpn.anchor_base_size > 0,
    f"{p}.anchor_base_size",
    f"must be positive, got {rpn.anchor_base_size}",
  )
  for i, scale in enumerate(rpn.anchor_scales):
    _check(scale > 0, f"{p}.anchor_scales[{i}]", f"must be positive, got {scale}")
  for i, ratio in enumerate(rpn.anchor_aspect_ratios):
    _check(ratio > 0, f"{p}.anchor_aspect_ratios[{i}]", f"must be positive, got {ratio}")
  for name in (
    "num_proposals_train",
    "num_proposals_test",
    "anchors_per_image",
    "num_filters",
    "num_convs",
  ):
    _check(getattr(rpn, name) > 0, f"{p}.{name}", f"must be positive, got {getattr(rpn, name)}")
  for mode in ("train", "test"):
    top_k, kept = getattr(rpn, f"pre_nms_top_k_{mode}"), getattr(rpn, f"num_proposals_{mode}")
    _check(
      top_k >= kept,
      f"{p}.pre_nms_top_k_{mode}",
      f"must be >= rpn.num_proposals_{mode} ({kept}), got {top_k}",
    )
  _unit_interval(rpn.nms_iou_threshold, f"{p}.nms_iou_threshold", closed_low=False)
  _check_iou_thresholds(rpn, p, "rpn")
  _unit_interval(rpn.positive_fraction, f"{p}.positive_fraction", closed_low=False)


def _check_iou_thresholds(message, p, name):
  """positive_iou_threshold and negative_iou_threshold in [0, 1], negative <= positive."""
  _unit_interval(message.positive_iou_threshold, f"{p}.positive_iou_threshold")
  _unit_interval(message.negative_iou_threshold, f"{p}.negative_iou_threshold")
  _check(
    message.negative_iou_threshold <= message.positive_iou_threshold,
    f"{p}.negative_iou_threshold",
    f"must not exceed {name}.positive_iou_threshold ({message.positive_iou_threshold}), "
    f"got {message.negative_iou_threshold}",
  )


def validate_proposal_sampler(sampler, p):
  """A `ProposalSampler` message at `p`."""
  _check(
    sampler.num_sampled_rois > 0,
    f"{p}.num_sampled_rois",
    f"must be positive, got {sampler.num_sampled_rois}",
  )
  _unit_interval(sampler.positive_fraction, f"{p}.positive_fraction", closed_low=False)
  _check_iou_thresholds(sampler, p, "proposal_sampler")


def validate_roi_pooling(roi, p):
  """A `RoiPooling` message at `p`."""
  _check(roi.pooled_size > 0, f"{p}.pooled_size", f"must be positive, got {roi.pooled_size}")
  _check(
    roi.crop_size >= roi.pooled_size and roi.crop_size % roi.pooled_size == 0,
    f"{p}.crop_size",
    f"must be a multiple of roi_pooling.pooled_size ({roi.pooled_size}), got {roi.crop_size}",
  )


def validate_action_transformer_head(tx, p):
  """An `ActionTransformerHead` message at `p`."""
  for name in (
    "num_heads",
    "num_layers",
    "hidden_size",
    "ffn_hidden_size",
    "high_res_reduced_channels",
    "location_embedding_size",
    "location_embedding_hidden_size",
  ):
    _check(getattr(tx, name) > 0, f"{p}.{name}", f"must be positive, got {getattr(tx, name)}")
  _unit_interval(tx.dropout_rate, f"{p}.dropout_rate", closed_high=False)


def _validate_heads(config, p):
  """The head sub-messages that `head_type` uses; the others must be unset."""
  head_name = _AT.HeadType.Name(config.head_type)
  if config.head_type in (_AT.ACTION_TRANSFORMER, _AT.TX_I3D):
    validate_action_transformer_head(config.action_transformer_head, f"{p}.action_transformer_head")
  elif config.HasField("action_transformer_head"):
    raise errors.InputError(
      f"{p}.action_transformer_head: set, but head_type is {head_name}, "
      "which has no Action Transformer head"
    )
  if config.head_type in (_AT.I3D, _AT.TX_I3D):
    _unit_interval(config.i3d_head.dropout_rate, f"{p}.i3d_head.dropout_rate", closed_high=False)
  elif config.HasField("i3d_head"):
    raise errors.InputError(
      f"{p}.i3d_head: set, but head_type is {head_name}, which has no I3D head"
    )


def validate_loss_weights(weights, p):
  """A `LossWeights` message at `p`: every weight >= 0."""
  for name in ("rpn_objectness", "rpn_localization", "action_classification", "box_localization"):
    weight = getattr(weights, name)
    _check(weight >= 0, f"{p}.{name}", f"must be >= 0, got {weight}")


def validate_post_processing(post, p):
  """A `PostProcessing` message at `p`."""
  _unit_interval(post.score_threshold, f"{p}.score_threshold")
  _unit_interval(post.nms_iou_threshold, f"{p}.nms_iou_threshold", closed_low=False)
  _check(
    post.max_detections > 0, f"{p}.max_detections", f"must be positive, got {post.max_detections}"
  )


def validate_action_transformer(config, prefix="model.action_transformer"):
  """Validates an `ActionTransformer` message; raises ValueError naming the field.

  One validator per sub-message, each given the dotted path of that sub-message.
  """
  p = prefix
  _validate_input_shape(config, p)
  validate_trunk(config.trunk, f"{p}.trunk", head_type=config.head_type)
  validate_rpn(config.rpn, f"{p}.rpn")
  validate_proposal_sampler(config.proposal_sampler, f"{p}.proposal_sampler")
  validate_roi_pooling(config.roi_pooling, f"{p}.roi_pooling")
  _validate_heads(config, p)
  check_deprecated_proposal_fields(config, p)
  validate_loss_weights(config.loss_weights, f"{p}.loss_weights")
  validate_post_processing(config.post_processing, f"{p}.post_processing")


def validate_train_config(config, prefix="train_config"):
  """Validates a `TrainConfig`; raises InputError naming the field."""
  _validate_schedule(config, prefix)
  _validate_optimizer(config, prefix)
  _validate_checkpoints_and_precision(config, prefix)


def _validate_schedule(config, p):
  """Batch size, steps and the learning-rate schedule."""
  _check(config.batch_size > 0, f"{p}.batch_size", f"must be positive, got {config.batch_size}")
  _check(config.num_steps > 0, f"{p}.num_steps", f"must be positive, got {config.num_steps}")
  _check(
    config.base_learning_rate > 0,
    f"{p}.base_learning_rate",
    f"must be positive, got {config.base_learning_rate}",
  )
  _check(
    config.warmup_learning_rate >= 0,
    f"{p}.warmup_learning_rate",
    f"must be >= 0, got {config.warmup_learning_rate}",
  )
  _check(
    0 <= config.warmup_steps <= config.num_steps,
    f"{p}.warmup_steps",
    f"must be in [0, num_steps={config.num_steps}], got {config.warmup_steps}",
  )
  _check(
    config.final_learning_rate >= 0,
    f"{p}.final_learning_rate",
    f"must be >= 0, got {config.final_learning_rate}",
  )


def _validate_optimizer(config, p):
  """Momentum, weight decay (one form of it), Adam's constants and gradient clipping."""
  _check(0 <= config.momentum < 1, f"{p}.momentum", f"must be in [0, 1), got {config.momentum}")
  _check(config.weight_decay >= 0, f"{p}.weight_decay", f"must be >= 0, got {config.weight_decay}")
  _check(
    config.decoupled_weight_decay >= 0,
    f"{p}.decoupled_weight_decay",
    f"must be >= 0, got {config.decoupled_weight_decay}",
  )
  _check(
    not (config.weight_decay > 0 and config.decoupled_weight_decay > 0),
    f"{p}.decoupled_weight_decay",
    f"and weight_decay ({config.weight_decay:g}) are both set: use one form of weight decay",
  )
  for name in ("adam_beta1", "adam_beta2"):
    value = getattr(config, name)
    _check(0 <= value < 1, f"{p}.{name}", f"must be in [0, 1), got {value}")
  _check(
    config.adam_epsilon > 0, f"{p}.adam_epsilon", f"must be positive, got {config.adam_epsilon}"
  )
  _check(
    config.gradient_clip_norm >= 0,
    f"{p}.gradient_clip_norm",
    f"must be >= 0, got {config.gradient_clip_norm}",
  )


def _validate_checkpoints_and_precision(config, p):
  _check(
    config.checkpoint_every_n_steps > 0,
    f"{p}.checkpoint_every_n_steps",
    f"must be positive, got {config.checkpoint_every_n_steps}",
  )
  _check(
    config.max_checkpoints_to_keep > 0,
    f"{p}.max_checkpoints_to_keep",
    f"must be positive, got {config.max_checkpoints_to_keep}",
  )
  _check(
    not config.use_mixed_precision
    or config.precision
    in (train_pb2.TrainConfig.PRECISION_UNSPECIFIED, train_pb2.TrainConfig.MIXED_FLOAT16),
    f"{p}.use_mixed_precision",
    "(deprecated, means MIXED_FLOAT16) contradicts precision "
    f"{train_pb2.TrainConfig.Precision.Name(config.precision)}: remove use_mixed_precision",
  )


def validate_input_reader(config, prefix):
  p = prefix
  _check(
    len(config.input_path) > 0, f"{p}.input_path", "at least one TFRecord path or glob is required"
  )
  _check(config.num_frames >= 0, f"{p}.num_frames", f"must be >= 0, got {config.num_frames}")
  _check(
    config.frame_stride > 0, f"{p}.frame_stride", f"must be positive, got {config.frame_stride}"
  )
  _check(
    config.max_num_boxes > 0, f"{p}.max_num_boxes", f"must be positive, got {config.max_num_boxes}"
  )
  _check(
    config.max_num_proposals > 0,
    f"{p}.max_num_proposals",
    f"must be positive, got {config.max_num_proposals}",
  )
  _check(
    config.sample_1_of_n_examples > 0,
    f"{p}.sample_1_of_n_examples",
    f"must be positive, got {config.sample_1_of_n_examples}",
  )
  _check(
    0 < config.min_crop_fraction <= 1,
    f"{p}.min_crop_fraction",
    f"must be in (0, 1], got {config.min_crop_fraction}",
  )
  _unit_interval(config.min_box_visible_fraction, f"{p}.min_box_visible_fraction")
  _check(
    config.shuffle_buffer_size > 0,
    f"{p}.shuffle_buffer_size",
    f"must be positive, got {config.shuffle_buffer_size}",
  )


def validate_pipeline_config(config):
  """Validates a whole `TrainEvalPipelineConfig`; raises ValueError naming the field."""
  validate_action_transformer(config_util.get_action_transformer_config(config))
  validate_train_config(config.train_config)
  if config.HasField("train_input_reader"):
    validate_input_reader(config.train_input_reader, "train_input_reader")
  if config.HasField("eval_input_reader"):
    validate_input_reader(config.eval_input_reader, "eval_input_reader")
  _check(
    config.eval_config.batch_size > 0,
    "eval_config.batch_size",
    f"must be positive, got {config.eval_config.batch_size}",
  )
  _check(
    config.eval_config.num_examples >= 0,
    "eval_config.num_examples",
    f"must be >= 0, got {config.eval_config.num_examples}",
  )
