"""Reading, overriding and writing text-format pipeline configs.

Pure protobuf (no TensorFlow import at module load); file access goes through
`tf.io.gfile` only when a path is not local, so gs:// works.
"""

import os

from google.protobuf import text_format

from ava_tx.core import errors
from ava_tx.core import file_io
from ava_tx.protos import pipeline_pb2

PIPELINE_CONFIG_NAME = "pipeline.config"
PLACEHOLDER = "PATH_TO_BE_CONFIGURED"


def _open(path, mode):
  if "://" in path:
    from ava_tx.core.tf_setup import tf  # Remote paths (gs://) need TensorFlow's filesystems.

    return tf.io.gfile.GFile(path, mode)
  return open(path, mode, encoding="utf-8")


def _exists(path):
  if "://" in path:
    from ava_tx.core.tf_setup import tf

    return tf.io.gfile.exists(path)
  return os.path.exists(path)


def parse_pipeline_config(text, source="<string>"):
  """Parses text-format `TrainEvalPipelineConfig`; errors name `source` and the line."""
  config = pipeline_pb2.TrainEvalPipelineConfig()
  try:
    text_format.Merge(text, config)
  except text_format.ParseError as error:
    raise errors.InputError(f"{source}: invalid pipeline config: {error}") from None
  return config


def merge_config_override(config, text, source="--config_override"):
  """Merges text-format `TrainEvalPipelineConfig` fields into `config` (in place); returns it."""
  if text:
    try:
      text_format.Merge(text, config)
    except text_format.ParseError as error:
      raise errors.InputError(f"{source}: invalid pipeline config text: {error}") from None
  return config


def load_pipeline_config(path):
  """Reads a pipeline.config file into a `TrainEvalPipelineConfig`.

  Raises:
    FileNotFoundError: the file does not exist (the message names it).
    errors.InputError: the file is empty, not text, or does not parse; the message names the
      file (and the line and column).
  """
  if not _exists(path):
    raise FileNotFoundError(f"pipeline config not found: {path}")
  try:
    with _open(path, "r") as f:
      text = f.read()
  except UnicodeDecodeError as e:
    raise errors.InputError(
      f"{path}: not a text-format pipeline config (byte {e.start} is not UTF-8)"
    ) from None
  if not text.strip():
    raise errors.InputError(f"{path}: the pipeline config is empty")
  return parse_pipeline_config(text, source=path)


def save_pipeline_config(config, directory):
  """Writes `config` as `directory/pipeline.config` atomically (local or remote); returns its
  path."""
  path = file_io.join(directory, PIPELINE_CONFIG_NAME)
  file_io.makedirs(directory)
  return file_io.write_text(path, text_format.MessageToString(config))


def find_placeholders(config):
  """Returns the dotted names of string fields still set to PATH_TO_BE_CONFIGURED."""
  found = []

  def visit(message, prefix):
    for field, value in message.ListFields():
      name = f"{prefix}{field.name}"
      if field.message_type is not None:
        items = value if field.is_repeated else [value]
        for i, item in enumerate(items):
          visit(item, f"{name}[{i}]." if field.is_repeated else f"{name}.")
      elif field.type == field.TYPE_STRING:
        values = value if field.is_repeated else [value]
        if any(PLACEHOLDER in v for v in values):
          found.append(name)

  visit(config, "")
  return found


def get_action_transformer_config(config):
  """The `ActionTransformer` message of a pipeline config or of its `model { ... }`.

  The one place that checks the meta-architecture (the validator, the model builder and the
  exporter all call it).

  Args:
    config: a `TrainEvalPipelineConfig` or a `DetectionModel`.

  Raises:
    errors.InputError: `model` does not hold `action_transformer { ... }` (the message names
      what it holds instead).
  """
  model = config.model if isinstance(config, pipeline_pb2.TrainEvalPipelineConfig) else config
  if model.WhichOneof("model") != "action_transformer":
    raise errors.InputError(
      "model: expected `action_transformer { ... }` (the only "
      f"meta-architecture); got {model.WhichOneof('model')!r}"
    )
  return model.action_transformer
