"""Tests of ava_tx.core.shape_utils.check_rank."""

import pytest

from ava_tx.core import shape_utils
from ava_tx.core.tf_setup import tf


def test_check_rank_names_the_argument_the_expected_shape_and_the_shape_given():
  shape_utils.check_rank("boxes", tf.zeros([2, 3, 4]), 3, "[batch_size, num_proposals, 4]")
  with pytest.raises(ValueError) as raised:
    shape_utils.check_rank("boxes", tf.zeros([3, 4]), 3, "[batch_size, num_proposals, 4]")
  assert str(raised.value) == (
    "boxes must be [batch_size, num_proposals, 4] (rank 3), got shape (3, 4)."
  )


def test_unknown_rank_passes():
  @tf.function(input_signature=[tf.TensorSpec(None, tf.float32)])
  def check(x):
    shape_utils.check_rank("x", x, 3, "[a, b, c]")
    return x

  assert check(tf.zeros([5])).shape == (5,)
