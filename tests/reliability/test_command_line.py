"""The shared command-line error policy (ava_tx.core.command_line, errors.user_error_message)."""

import os
import subprocess
import sys

import pytest

from ava_tx.core import command_line
from ava_tx.core import errors
from ava_tx.core.tf_setup import tf
from tests.reliability.conftest import REPO


def _raising(error):
  def main(argv):
    del argv
    raise error

  return main


@pytest.mark.parametrize(
  "error, message",
  [
    (
      IsADirectoryError(21, "Is a directory", "/data/x.csv"),
      "[Errno 21] Is a directory: '/data/x.csv'",
    ),
    (
      tf.errors.NotFoundError(None, None, "/data/x.csv; No such file or directory"),
      "/data/x.csv; No such file or directory",
    ),
    (
      tf.errors.FailedPreconditionError(None, None, "/data/blocker is not a directory"),
      "/data/blocker is not a directory",
    ),
    (
      UnicodeEncodeError("utf-8", "/data/caf\udce9", 9, 10, "surrogates not allowed"),
      "path '/data/caf\\udce9' is not valid UTF-8: TensorFlow's file functions need UTF-8 paths; "
      "rename the file or directory",
    ),
    (
      tf.errors.DataLossError(
        None,
        None,
        "{{function_node __wrapped__IteratorGetNext}} /d/ckpt-3.index: corrupted "
        "record\n\t [[{{node A}}]] [Op:IteratorGetNext] name: ",
      ),
      "/d/ckpt-3.index: corrupted record",
    ),
  ],
)
def test_user_errors_print_one_line_and_exit_1(error, message, capsys):
  assert command_line.run_guarded("cmd", _raising(error), [], verbose=False) == 1
  assert capsys.readouterr().err == f"cmd: error: {message}\n"


@pytest.mark.parametrize(
  "error",
  [
    tf.errors.InvalidArgumentError(None, None, "Incompatible shapes: [2] vs. [3]"),
    tf.errors.FailedPreconditionError(None, None, "Could not find variable dense/kernel"),
    TypeError("bug"),
    KeyError("Loss/total_loss"),
  ],
)
def test_bugs_keep_their_traceback(error):
  assert errors.user_error_message(error) is None
  with pytest.raises(type(error)):
    command_line.run_guarded("cmd", _raising(error), [], verbose=False)


def test_ctrl_c_outside_training_exits_130(capsys):
  assert command_line.run_guarded("cmd", _raising(KeyboardInterrupt()), []) == 130
  assert capsys.readouterr().err == "cmd: interrupted\n"


def test_verbose_prints_the_traceback_then_the_line(capsys):
  code = command_line.run_guarded(
    "cmd", _raising(errors.InputError("x.csv:3: bad box")), [], verbose=True
  )
  err = capsys.readouterr().err
  assert code == 1 and err.startswith("Traceback (most recent call last):")
  assert err.endswith(
    "errors.InputError: x.csv:3: bad box\ncmd: error: x.csv:3: bad box\n"
  ) or err.endswith("InputError: x.csv:3: bad box\ncmd: error: x.csv:3: bad box\n")


def test_renamed_flag_names_its_replacement(tmp_path):
  """An old flag name (here --label_map) stops at parsing with a message naming the new one."""
  script = tmp_path / "renamed.py"
  script.write_text(
    "from absl import app, flags\n"
    "from ava_tx.core import command_line\n"
    "flags.DEFINE_string('label_map_path', None, 'new')\n"
    "command_line.define_renamed_flag('label_map', 'label_map_path')\n"
    "app.run(lambda argv: print('ran with', flags.FLAGS.label_map_path))\n"
  )
  env = dict(os.environ, PYTHONPATH=str(REPO))
  run = lambda *argv: subprocess.run(
    [sys.executable, str(script), *argv],
    env=env,
    capture_output=True,
    text=True,
    timeout=60,
    check=False,
  )
  old = run("--label_map=x.pbtxt")
  assert old.returncode == 1
  assert "--label_map is now --label_map_path" in old.stderr
  new = run("--label_map_path=x.pbtxt")
  assert new.returncode == 0 and new.stdout == "ran with x.pbtxt\n", new.stderr
