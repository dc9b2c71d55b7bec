"""The error policy every command line shares: one line for the user's mistakes, tracebacks for
bugs.

An error in what the user gave (`errors.user_error_message` decides: a missing, empty or
unreadable file, a directory where a file is expected, a file of the wrong format, an
unwritable output, a path that is not UTF-8, a corrupt shard, a bad config field) prints
`PROGRAM: error: MESSAGE` on stderr and exits 1; with `--verbose` the traceback is printed
first. Ctrl-C outside training prints `PROGRAM: interrupted` and exits 130. Any other
exception is a bug and propagates with its traceback. TensorFlow's C++ start-up logs are quiet
unless `--verbose` is given (tf_setup.py reads it from sys.argv before TensorFlow loads).

  from ava_tx.core import command_line
  def main(argv): ...
  if __name__ == "__main__":
    app.run(command_line.guarded("my_command", main))

Importing this module defines the absl flag `--verbose` (argparse commands pass `verbose=`).
"""

import sys
import traceback
from typing import Callable, Optional, Sequence

from absl import flags

from ava_tx.core import errors

VERBOSE = flags.DEFINE_bool("verbose", False,
                            "On an error in the input, also print the Python traceback; and "
                            "show TensorFlow's start-up logs (CUDA, oneDNN, CPU features), "
                            "quiet by default (see ava_tx/core/tf_setup.py).")

INTERRUPTED_EXIT_CODE = 130  # 128 + SIGINT, as shells report Ctrl-C.


def define_renamed_flag(old_name: str, new_name: str) -> None:
  """Defines `--old_name` only to refuse it with a message naming `--new_name` (absl then
  prints `FATAL Flags parsing error: ... --old_name is now --new_name` and exits 1)."""
  flags.DEFINE_string(old_name, None, f"Renamed: use --{new_name}.")
  flags.register_validator(
      old_name, lambda value: value is None,
      message=f"--{old_name} is now --{new_name} (the Object Detection API's name)")


def _verbose_flag() -> bool:
  return bool(flags.FLAGS.is_parsed() and VERBOSE.value)


def _has_surrogates(text: str) -> bool:
  """True if `text` holds bytes that were not UTF-8 (Python decodes them to surrogates)."""
  return any(0xDC80 <= ord(c) <= 0xDCFF for c in text)


def _check_flags_are_utf8() -> None:
  """InputError naming the first parsed absl flag whose value is not valid UTF-8: TensorFlow's
  file functions cannot open such paths (they fail deep inside with a TypeError)."""
  if not flags.FLAGS.is_parsed():
    return
  for name in sorted(flags.FLAGS):
    value = flags.FLAGS[name].value
    if isinstance(value, str) and _has_surrogates(value):
      raise errors.InputError(f"--{name}={ascii(value)[1:-1]}: not valid UTF-8; TensorFlow's "
                              "file functions need UTF-8 paths: rename the file or directory")


def run_guarded(program: str, main_fn: Callable[[Sequence[str]], Optional[int]], argv,
                *, verbose: Optional[bool] = None) -> int:
  """Runs `main_fn(argv)` under the policy above; returns its exit code (None counts as 0).

  Args:
    program: name printed before "error:".
    main_fn: the command's main.
    argv: passed to main_fn.
    verbose: print tracebacks of user errors too (default: the --verbose flag).
  """
  verbose = _verbose_flag() if verbose is None else verbose
  try:
    _check_flags_are_utf8()
    code = main_fn(argv)
  except KeyboardInterrupt:
    print(f"{program}: interrupted", file=sys.stderr)
    return INTERRUPTED_EXIT_CODE
  except Exception as error:  # pylint: disable=broad-except
    message = errors.user_error_message(error)
    if message is None:
      raise
    if verbose:
      traceback.print_exc()
    print(f"{program}: error: {message}", file=sys.stderr)
    return 1
  return 0 if code is None else int(code)


def guarded(program: str, main_fn: Callable[[Sequence[str]], Optional[int]]):
  """`argv -> exit code`: `main_fn` under `run_guarded`, for `absl.app.run`."""
  return lambda argv: run_guarded(program, main_fn, argv)
