"""Tests of model_main_tf2's evaluation-mode flags (no TensorFlow work: flag logic only)."""

import pytest

from ava_tx import model_main_tf2
from ava_tx.core import errors


@pytest.mark.parametrize(
  "eval_once, wait_for_checkpoints, continuous",
  [
    (False, None, True),  # The OD API's default: follow new checkpoints.
    (True, None, False),  # --eval_once
    (False, True, True),  # deprecated --wait_for_checkpoints: the default anyway
    (False, False, False),  # deprecated --nowait_for_checkpoints: --eval_once
  ],
)
def test_continuous_evaluation(eval_once, wait_for_checkpoints, continuous, caplog):
  assert (
    model_main_tf2.continuous_evaluation(
      eval_once=eval_once, wait_for_checkpoints=wait_for_checkpoints
    )
    is continuous
  )
  if wait_for_checkpoints is None:
    assert not caplog.records
  else:
    assert "wait_for_checkpoints is deprecated: use " in caplog.text
  if wait_for_checkpoints is False:
    assert "use --eval_once" in caplog.text


def test_eval_once_with_wait_for_checkpoints_is_an_input_error():
  with pytest.raises(errors.InputError, match="--wait_for_checkpoints is deprecated"):
    model_main_tf2.continuous_evaluation(eval_once=True, wait_for_checkpoints=True)
