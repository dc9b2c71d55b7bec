"""Error types the command lines report as one line (no traceback), exiting non-zero.

`InputError` is raised for a problem in what the user gave (a config file or field, a flag, an
annotation or data file, an environment variable such as TF_CONFIG), with a message that names
the file, row, field or flag. The command lines print such errors as one line and exit non-zero;
any other exception is a bug and keeps its traceback. It subclasses ValueError, so callers that
catch ValueError keep working.
"""


class InputError(ValueError):
  """Bad user input; the message names what and where (file, row, field or flag)."""


class NonFiniteLossError(RuntimeError):
  """A training loss became NaN or Inf; the message names the step and the loss."""


class TrainingInterruptedError(RuntimeError):
  """SIGTERM arrived during training; a checkpoint of the current step was written first."""
