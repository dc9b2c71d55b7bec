"""Errors that the command lines report as one line (no traceback) and exit 1 on.

`InputError` is a problem in what the user gave: a config file or field, a flag, an annotation
or data file, an environment variable such as TF_CONFIG; its message names the file, row, field
or flag. It subclasses ValueError, so callers that catch ValueError keep working. The training
stops below are reported the same way. Any other exception is a bug and keeps its traceback.
"""

import re
import sys
from typing import Optional


class InputError(ValueError):
  """Bad user input; the message names what and where (file, row, field or flag)."""


class NonFiniteLossError(RuntimeError):
  """A training loss became NaN or Inf; the message names the step and the loss."""


class TrainingInterruptedError(RuntimeError):
  """SIGTERM or SIGINT arrived during training; a checkpoint of the current step was written
  first."""


CORRUPT_SHARD_MARK = "CorruptShardError:"
"""Starts the message of the InputError for a corrupt or truncated TFRecord shard
(`ava_tx.data.record_reader.corrupt_shard_message`)."""


# What every command line catches and prints as `PROGRAM: error: MESSAGE` (missing files
# included: their message names the path).
USER_ERRORS = (InputError, FileNotFoundError, NonFiniteLossError, TrainingInterruptedError)


# TensorFlow errors that are about the user's files, not bugs (by class name, so this module
# does not import TensorFlow).
_TF_FILE_ERRORS = (
  "NotFoundError",
  "PermissionDeniedError",
  "DataLossError",
  "UnimplementedError",
  "AlreadyExistsError",
)


def _tf_error_text(error) -> str:
  """One line of a tf.errors.OpError message, without the function-node and op decorations."""
  text = getattr(error, "message", str(error))
  text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", text)
  text = re.sub(r"\s*\[\[\{\{node [^]]*\]\]", "", text)
  text = re.sub(r"\s*\[Op:[^]]*\].*$", "", text, flags=re.S)
  return " ".join(text.split())


def user_error_message(error) -> Optional[str]:
  """The one-line message for an error in the user's input or files, or None for a bug.

  User errors: `USER_ERRORS`, OSError (permission denied, a directory where a file is
  expected, ...; the message names the path), a path that is not valid UTF-8 (TensorFlow's
  file functions need UTF-8), TensorFlow's file errors (not found, permission denied, data
  loss, unknown file system).
  """
  if isinstance(error, (*USER_ERRORS, OSError)):
    return " ".join(str(error).split()) or type(error).__name__
  if (
    isinstance(error, UnicodeEncodeError)
    and isinstance(error.object, str)
    and any(0xDC80 <= ord(c) <= 0xDCFF for c in error.object)
  ):
    return (
      f"path {ascii(error.object)} is not valid UTF-8: TensorFlow's file functions need "
      "UTF-8 paths; rename the file or directory"
    )
  tf_errors = sys.modules.get("tensorflow.python.framework.errors_impl")
  if tf_errors is None or not isinstance(error, tf_errors.OpError):
    return None
  text = _tf_error_text(error)
  if type(error).__name__ in _TF_FILE_ERRORS or (
    type(error).__name__ == "FailedPreconditionError"
    and re.search(r"(is|not) a directory", text, re.I)
  ):
    return text
  return None
