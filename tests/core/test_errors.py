"""Which errors the command lines report as one line, and that user-input errors are InputError."""

import pytest

from ava_tx import model_main_tf2
from ava_tx.builders import config_util
from ava_tx.builders import config_validation
from ava_tx.core import errors
from ava_tx.data import ava_annotations


def _raising(error):
  def main(argv):
    del argv
    raise error

  return main


@pytest.mark.parametrize(
  "error",
  [
    errors.InputError("x.config: model.action_transformer.num_frames: must be positive"),
    FileNotFoundError("pipeline config not found: x.config"),
    errors.NonFiniteLossError("training step 7: Loss/total_loss is nan"),
    errors.TrainingInterruptedError("SIGTERM after training step 7"),
  ],
)
def test_user_facing_errors_become_one_line_and_exit_1(error, capsys):
  assert model_main_tf2.run_guarded([], main_fn=_raising(error)) == 1
  assert capsys.readouterr().err == f"model_main_tf2: error: {error}\n"


@pytest.mark.parametrize(
  "error",
  [ValueError("shapes (3,) and (4,) differ"), KeyError("Loss/total_loss"), RuntimeError("bug")],
)
def test_other_errors_are_bugs_and_keep_their_traceback(error, capsys):
  with pytest.raises(type(error)):
    model_main_tf2.run_guarded([], main_fn=_raising(error))
  assert capsys.readouterr().err == ""


def test_input_errors_are_value_errors_for_existing_callers():
  assert issubclass(errors.InputError, ValueError)
  assert issubclass(ava_annotations.AnnotationError, errors.InputError)


def test_config_problems_raise_input_error_naming_file_and_field(tmp_path):
  bad = tmp_path / "bad.config"
  bad.write_text("model { action_transformer { num_frames: 12 } }\n")
  config = config_util.load_pipeline_config(str(bad))
  with pytest.raises(errors.InputError, match=r"model\.action_transformer\.num_frames"):
    config_validation.validate_pipeline_config(config)
  bad.write_text("model { action_transformer { no_such_field: 1 } }\n")
  with pytest.raises(errors.InputError, match=r"bad\.config.*no_such_field"):
    config_util.load_pipeline_config(str(bad))
