"""Builds the serving module and the export description from a pipeline config.

The only export code that reads protos: ava_tx.export receives plain values from here.
"""

import logging
import os

from ava_tx.builders import config_util
from ava_tx.builders import config_validation
from ava_tx.builders import model_builder
from ava_tx.core import errors
from ava_tx.data import label_map_util
from ava_tx.data import parser as parser_lib
from ava_tx.export import inference_module
from ava_tx.protos import action_transformer_pb2

_AT = action_transformer_pb2.ActionTransformer
_log = logging.getLogger(__name__)


def label_map_classes(config):
  """[(id, name)] of the model's classes in class-index order, and where they come from.

  From the first readable label map of eval_input_reader and train_input_reader (the model's
  classes; eval_config's map may be the evaluated subset, e.g. AVA's 60 of 80); without one,
  ids 1..num_classes named by their id (a warning is logged).
  """
  num_classes = config.model.action_transformer.num_classes
  for field, path in (
    ("eval_input_reader.label_map_path", config.eval_input_reader.label_map_path),
    ("train_input_reader.label_map_path", config.train_input_reader.label_map_path),
  ):
    if path and ("://" in path or os.path.exists(path)):
      entries = label_map_util.read_label_map(path)
      if len(entries) != num_classes:
        raise errors.InputError(
          f"{field}: {path} has {len(entries)} classes but "
          f"model.action_transformer.num_classes is {num_classes}"
        )
      return [(entry.id, entry.name) for entry in entries], path
  _log.warning(
    "No readable label map in the config: classes are named by their ids 1..%d", num_classes
  )
  return [(i, str(i)) for i in range(1, num_classes + 1)], None


def _eval_reader(config):
  return (
    config.eval_input_reader
    if config.HasField("eval_input_reader")
    else (config.train_input_reader)
  )


def build_example_parser(config, class_ids):
  """The evaluation-mode AvaParser that the tf_example input type runs (no augmentation)."""
  model_config = config.model.action_transformer
  reader = _eval_reader(config)
  return parser_lib.AvaParser(
    num_frames=reader.num_frames or model_config.num_frames,
    frame_stride=reader.frame_stride,
    output_size=(model_config.image_height, model_config.image_width),
    label_map_ids=class_ids,
    max_num_boxes=reader.max_num_boxes,
    max_num_proposals=(
      reader.max_num_proposals if model_builder.uses_person_detector_boxes(model_config) else 0
    ),
    proposal_min_score=reader.proposal_min_score,
    random_flip=False,
    random_crop=False,
  )


def build_inference_module(config, *, input_type, attention_outputs=False, model=None):
  """A DetectionInferenceModule for a `TrainEvalPipelineConfig`.

  Args:
    config: the pipeline config.
    input_type: one of inference_module.INPUT_TYPES.
    attention_outputs: the model also outputs attention weights and keys.
    model: an already built model of this config (else a new one is built).
  """
  model_config = config_util.get_action_transformer_config(config)
  config_validation.validate_action_transformer(model_config)
  if input_type not in inference_module.INPUT_TYPES:
    raise errors.InputError(
      f"--input_type: must be one of {', '.join(inference_module.INPUT_TYPES)}, got {input_type!r}"
    )
  if attention_outputs and model_config.head_type == _AT.I3D:
    raise errors.InputError(
      "--export_attention: model.action_transformer.head_type is I3D, which has no attention"
    )
  if model is None:
    model = model_builder.build(model_config, attention_outputs=attention_outputs)
  classes, _ = label_map_classes(config)
  class_ids = [class_id for class_id, _ in classes]
  parser = build_example_parser(config, class_ids) if input_type == "tf_example" else None
  return inference_module.DetectionInferenceModule(
    model,
    input_type=input_type,
    num_frames=model_config.num_frames,
    image_height=model_config.image_height,
    image_width=model_config.image_width,
    class_ids=class_ids,
    parser=parser,
  )


def export_info(config, *, input_type, attention_outputs, checkpoint_step):
  """The dict written as saved_model/assets.extra/export_info.json (see docs/EXPORT.md)."""
  model_config = config.model.action_transformer
  has_tx = model_config.head_type in (_AT.ACTION_TRANSFORMER, _AT.TX_I3D)
  tx = model_config.action_transformer_head
  classes, label_map_path = label_map_classes(config)
  return {
    "input_type": input_type,
    "num_frames": model_config.num_frames,
    "frame_stride": _eval_reader(config).frame_stride,
    "image_height": model_config.image_height,
    "image_width": model_config.image_width,
    "proposals": _AT.ProposalSource.Name(model_config.proposals),
    "uses_person_boxes": model_builder.uses_person_detector_boxes(model_config),
    "has_rpn": model_builder.uses_rpn(model_config),
    "num_classes": model_config.num_classes,
    "label_map": [[class_id, name] for class_id, name in classes],
    "label_map_path": label_map_path,
    "max_detections": model_config.post_processing.max_detections,
    "export_attention": bool(attention_outputs),
    "num_layers": tx.num_layers if has_tx else 0,
    "num_heads": tx.num_heads if has_tx else 0,
    "attention_key_size": tx.hidden_size if has_tx else 0,
    "checkpoint_step": int(checkpoint_step),
  }
