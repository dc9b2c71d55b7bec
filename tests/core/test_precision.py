"""Tests of ava_tx.core.precision: policy names, loss scaling, the policy scope."""

import pytest

from ava_tx.core import precision
from ava_tx.core.tf_setup import keras


def test_policy_scope_sets_and_restores_the_global_policy():
  assert precision.current_policy() == "float32"
  with precision.policy_scope(precision.MIXED_BFLOAT16):
    dense = keras.layers.Dense(2)
    assert precision.current_policy() == "mixed_bfloat16"
  assert precision.current_policy() == "float32"
  assert (dense.compute_dtype, dense.variable_dtype) == ("bfloat16", "float32")


def test_policy_scope_restores_after_an_error():
  with pytest.raises(RuntimeError):
    with precision.policy_scope(precision.MIXED_FLOAT16):
      raise RuntimeError("boom")
  assert precision.current_policy() == "float32"


def test_only_float16_needs_loss_scaling_and_names_are_checked():
  assert precision.needs_loss_scaling("mixed_float16")
  assert not precision.needs_loss_scaling("mixed_bfloat16")
  assert not precision.needs_loss_scaling("float32")
  with pytest.raises(ValueError, match="mixed_bfloat16"):
    precision.check_policy("bfloat16")
