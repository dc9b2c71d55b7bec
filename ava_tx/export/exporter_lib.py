"""Writes a trained checkpoint as a SavedModel that runs with plain TensorFlow.

OUTPUT_DIRECTORY/
  saved_model/                      signature `serving_default` (inference_module docstring)
    assets.extra/export_info.json   what a client needs: input type, clip size, label map, ...
  checkpoint/ckpt-<step>            the model's variables only (no optimizer)
  pipeline.config                   the config the export was built from (overrides merged)
"""

import json
import logging
import os

from ava_tx.builders import config_util
from ava_tx.builders import config_validation
from ava_tx.builders import export_builder
from ava_tx.core import errors
from ava_tx.core.tf_setup import tf

SAVED_MODEL_DIR = "saved_model"
CHECKPOINT_DIR = "checkpoint"
EXPORT_INFO_PATH = os.path.join("assets.extra", "export_info.json")
_log = logging.getLogger(__name__)


def resolve_checkpoint(trained_checkpoint_dir):
  """The latest checkpoint of a directory, or the given `.../ckpt-N` prefix; its step (-1 if
  unnumbered). FileNotFoundError naming the directory when there is none."""
  path = trained_checkpoint_dir
  if tf.io.gfile.isdir(path):
    path = tf.train.latest_checkpoint(path)
  elif not tf.io.gfile.exists(path + ".index"):
    path = None
  if path is None:
    raise FileNotFoundError(f"--trained_checkpoint_dir: no checkpoint in {trained_checkpoint_dir}")
  step = path.rsplit("-", 1)[-1]
  return path, int(step) if step.isdigit() else -1


def build_variables(module):
  """Creates the model's variables by running it once on a tiny zero clip."""
  frames = tf.zeros([1, module.num_frames, *module.image_size, 3])
  boxes, num_boxes = tf.zeros([1, 1, 4]), tf.zeros([1], tf.int32)
  module.detect_frames(frames, boxes, num_boxes)


def restore_model(module, checkpoint_path):
  """Restores the module's model from a training checkpoint (every model variable must match)."""
  build_variables(module)
  status = tf.train.Checkpoint(model=module.model).read(checkpoint_path)
  try:
    status.assert_existing_objects_matched()
  except AssertionError as error:
    raise errors.InputError(
      f"--trained_checkpoint_dir: {checkpoint_path} does not match the "
      f"model of the pipeline config: {str(error)[:500]}"
    ) from None
  status.expect_partial()  # The optimizer's slots are not needed.


def load_config(pipeline_config_path, config_override=""):
  """The pipeline config with the override merged, validated."""
  config = config_util.load_pipeline_config(pipeline_config_path)
  config_util.merge_config_override(config, config_override)
  config_validation.validate_action_transformer(config_util.get_action_transformer_config(config))
  return config


def export_inference_graph(
  *,
  input_type,
  pipeline_config_path,
  trained_checkpoint_dir,
  output_directory,
  config_override="",
  export_attention=False,
):
  """Exports the checkpoint (see the module docstring). Returns the export_info dict."""
  config = load_config(pipeline_config_path, config_override)
  checkpoint_path, step = resolve_checkpoint(trained_checkpoint_dir)
  module = export_builder.build_inference_module(
    config, input_type=input_type, attention_outputs=export_attention
  )
  restore_model(module, checkpoint_path)
  info = export_builder.export_info(
    config, input_type=input_type, attention_outputs=export_attention, checkpoint_step=step
  )
  write_export(module, config, info, output_directory)
  _log.info("Exported %s (step %d) to %s", checkpoint_path, step, output_directory)
  return info


def saved_model_root(module):
  """(root, signatures) for tf.saved_model.save: a plain tf.Module holding the model's variables
  and the serving function (also as `root.detect`). Saving the Keras layers themselves would
  trace every layer's call for Keras metadata that plain TensorFlow never reads (minutes)."""
  root = tf.Module()
  root.model_variables = list(module.model.variables)
  root.detect = module.serving_function()
  return root, {"serving_default": root.detect.get_concrete_function()}


def write_export(module, config, info, output_directory):
  """Writes saved_model/ (with export_info.json), checkpoint/ and pipeline.config."""
  tf.io.gfile.makedirs(output_directory)
  checkpoint = tf.train.Checkpoint(model=module.model)
  manager = tf.train.CheckpointManager(
    checkpoint, os.path.join(output_directory, CHECKPOINT_DIR), max_to_keep=1
  )
  manager.save(checkpoint_number=max(info["checkpoint_step"], 0))
  saved_model_dir = os.path.join(output_directory, SAVED_MODEL_DIR)
  root, signatures = saved_model_root(module)
  # No custom gradients: the export is for inference, and saving them retraces the model.
  tf.saved_model.save(
    root,
    saved_model_dir,
    signatures=signatures,
    options=tf.saved_model.SaveOptions(experimental_custom_gradients=False),
  )
  info_path = os.path.join(saved_model_dir, EXPORT_INFO_PATH)
  tf.io.gfile.makedirs(os.path.dirname(info_path))
  with tf.io.gfile.GFile(info_path, "w") as f:
    json.dump(info, f, indent=2)
  config_util.save_pipeline_config(config, output_directory)
