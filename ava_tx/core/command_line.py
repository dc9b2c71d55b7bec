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
or, with the flag style below, `command_line.run_program("my_command", main, define_flags=...)`.

Importing this module defines the absl flag `--verbose` (argparse commands pass `verbose=`).

One flag style for every command (ava_tx/*.py mains, ava_tx/experiments, data_tools/,
benchmarks/): a command defines its flags in `define_flags()`, decorated with
`@command_line.flag_definitions`, and calls it under `if __name__ == "__main__":`, never at
import. Why: absl keeps one flag registry per process, and the tests (several in one pytest-xdist
worker) and tests/reliability/cli_runner import many commands into one process; commands share
flag names (--output_dir, --label_map_path, --checkpoint_dir, ...), and two modules defining one
name raise DuplicateFlagError. So importing a command leaves the registry alone, and a test that
runs a command's main calls its `define_flags()` first (a second call does nothing).

  @command_line.flag_definitions
  def define_flags():
    flags.DEFINE_string("output_dir", None, "...")
  ...
  if __name__ == "__main__":
    command_line.run_program("my_command", main, define_flags=define_flags,
                             required_flags=["output_dir"])

Flags two commands share are defined by one such function in a module of their own (e.g.
data_tools/conversion_flags.py), which each command's `define_flags()` calls and then makes its
flags key flags with `flags.adopt_module_key_flags`, so `--help` lists them as before.
"""

import functools
import sys
import traceback
from typing import Callable, Optional, Sequence

from absl import app
from absl import flags

from ava_tx.core import errors

VERBOSE = flags.DEFINE_bool(
  "verbose",
  False,
  "On an error in the input, also print the Python traceback; and "
  "show TensorFlow's start-up logs (CUDA, oneDNN, CPU features), "
  "quiet by default (see ava_tx/core/tf_setup.py).",
)

INTERRUPTED_EXIT_CODE = 130  # 128 + SIGINT, as shells report Ctrl-C.


def flag_definitions(define: Callable[[], None]) -> Callable[[], None]:
  """Decorator of a command's `define_flags()` (see the module docstring): the flags are
  defined on the first call; later calls do nothing (absl would raise DuplicateFlagError)."""
  return functools.cache(define)


def define_renamed_flag(old_name: str, new_name: str) -> None:
  """Defines `--old_name` only to refuse it with a message naming `--new_name` (absl then
  prints `FATAL Flags parsing error: ... --old_name is now --new_name` and exits 1)."""
  flags.DEFINE_string(old_name, None, f"Renamed: use --{new_name}.")
  flags.register_validator(
    old_name,
    lambda value: value is None,
    message=f"--{old_name} is now --{new_name} (the Object Detection API's name)",
  )


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
      raise errors.InputError(
        f"--{name}={ascii(value)[1:-1]}: not valid UTF-8; TensorFlow's "
        "file functions need UTF-8 paths: rename the file or directory"
      )


def run_guarded(
  program: str,
  main_fn: Callable[[Sequence[str]], Optional[int]],
  argv,
  *,
  verbose: Optional[bool] = None,
) -> int:
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


def run_program(
  program: str,
  main_fn: Callable[[Sequence[str]], Optional[int]],
  *,
  define_flags: Callable[[], None],
  required_flags: Sequence[str] = (),
) -> None:
  """A command run as a program: defines its flags, marks `required_flags` required (absl exits
  1 naming a missing one) and runs `main_fn` under `absl.app.run` and the policy above."""
  define_flags()
  flags.mark_flags_as_required(list(required_flags))
  app.run(guarded(program, main_fn))


def flag_values(names: Sequence[str]) -> dict:
  """{name: the parsed value of --name}: the keyword arguments of a command's library call whose
  parameters are named as its flags."""
  return {name: flags.FLAGS[name].value for name in names}


def reject_arguments(argv: Sequence[str]) -> None:
  """For a command that takes only flags: absl's UsageError (usage, exit 1) on any argument."""
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
