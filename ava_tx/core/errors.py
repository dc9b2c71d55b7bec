"""Errors that the command lines report as one line (no traceback) and exit 1 on.

`InputError` is a problem in what the user gave: a config file or field, a flag, an annotation
or data file, an environment variable such as TF_CONFIG; its message names the file, row, field
or flag. It subclasses ValueError, so callers that catch ValueError keep working. The training
stops below are reported the same way. Any other exception is a bug and keeps its traceback.
"""


class InputError(ValueError):
  """Bad user input; the message names what and where (file, row, field or flag)."""


class NonFiniteLossError(RuntimeError):
  """A training loss became NaN or Inf; the message names the step and the loss."""


class TrainingInterruptedError(RuntimeError):
  """SIGTERM arrived during training; a checkpoint of the current step was written first."""


# What every command line catches and prints as `PROGRAM: error: MESSAGE` (missing files
# included: their message names the path).
USER_ERRORS = (InputError, FileNotFoundError, NonFiniteLossError, TrainingInterruptedError)
