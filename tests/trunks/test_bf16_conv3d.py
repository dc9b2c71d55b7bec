"""i3d_ops.Conv3D: keras's Conv3D, padded explicitly in bfloat16 where the kernel is longer than
the input (oneDNN's bfloat16 weight gradient of that 'SAME' convolution is wrong)."""

import numpy as np
import pytest

from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf
from ava_tx.trunks import i3d_ops

_BF16 = keras.mixed_precision.Policy("mixed_bfloat16")


def _bf16_exact(rng, shape):
  """Random values that bfloat16 represents exactly, so the two dtypes see the same numbers."""
  return tf.cast(tf.cast(rng.normal(size=shape).astype(np.float32), tf.bfloat16), tf.float32)


def _values_and_gradients(conv, x):
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = tf.cast(conv(x), tf.float32)
    weights = tf.reshape(tf.range(tf.size(y), dtype=tf.float32) % 7 - 3, tf.shape(y))
    loss = tf.reduce_sum(y * weights)
  return [y.numpy()] + [
    tf.cast(g, tf.float32).numpy() for g in tape.gradient(loss, [x] + conv.weights)
  ]


@pytest.mark.parametrize(
  "shape, kernel, stride, bias",
  [
    ((2, 2, 4, 4, 8), 3, 1, False),  # A 3x3x3 Inception conv seeing 2 frames (Mixed_4 of 8).
    ((2, 2, 4, 4, 8), (3, 1, 1), 1, True),  # Only the time axis is short.
    ((2, 3, 5, 4, 6), 5, 1, False),  # 3 frames under a 5-frame kernel, odd 'SAME' padding.
    ((2, 4, 8, 8, 3), 7, 2, False),  # The stem (7x7x7, stride 2) on 4 frames.
    ((2, 6, 2, 3, 8), 3, 1, True),  # Height and width shorter than the kernel.
  ],
)
def test_bf16_conv_with_a_kernel_longer_than_the_input_matches_float32(shape, kernel, stride, bias):
  rng = np.random.default_rng(5)
  x = _bf16_exact(rng, shape)
  reference = keras.layers.Conv3D(4, kernel, strides=stride, padding="same", use_bias=bias)
  conv = i3d_ops.Conv3D(4, kernel, strides=stride, padding="same", use_bias=bias, dtype=_BF16)
  reference.build(x.shape)
  conv.build(x.shape)
  reference.set_weights([_bf16_exact(rng, w.shape).numpy() for w in reference.get_weights()])
  conv.set_weights(reference.get_weights())
  want = _values_and_gradients(reference, x)
  got = _values_and_gradients(conv, x)
  assert got[0].shape == want[0].shape == tuple(reference.compute_output_shape(shape))
  # Products of bfloat16 values are exact in float32; only the bfloat16 rounding of the output
  # (and of the gradients flowing in) differs: within 1% of each array's largest value.
  for name, g, w in zip(
    ["values", "input gradient", "kernel gradient", "bias gradient"], got, want
  ):
    assert np.all(np.isfinite(g)), name
    np.testing.assert_allclose(g, w, rtol=0, atol=1e-2 * np.abs(w).max(), err_msg=name)


def _conv3d_paddings(conv, x):
  """The padding attribute of every Conv3D op in the graph of conv(x)."""
  graph = tf.function(conv).get_concrete_function(tf.TensorSpec(x.shape, x.dtype)).graph
  return [op.get_attr("padding").decode() for op in graph.get_operations() if op.type == "Conv3D"]


@pytest.mark.parametrize(
  "dtype, frames, padding",
  [
    ("mixed_bfloat16", 2, "VALID"),  # 2 frames, 3-frame kernel: padded explicitly.
    ("mixed_bfloat16", 3, "SAME"),  # Long enough: keras's own convolution.
    ("float32", 2, "SAME"),  # float32 is right: keras's own convolution.
  ],
)
def test_only_bf16_convs_with_a_short_axis_are_padded_explicitly(dtype, frames, padding):
  x = tf.zeros([2, frames, 4, 4, 8])
  conv = i3d_ops.Conv3D(4, 3, padding="same", dtype=keras.mixed_precision.Policy(dtype))
  conv.build(x.shape)
  assert _conv3d_paddings(conv, x) == [padding]


def test_explicit_padding_keeps_a_dynamic_batch_size():
  conv = i3d_ops.Conv3D(4, 3, padding="same", dtype=_BF16)
  conv.build([None, 2, 4, 4, 8])
  x = tf.random.stateless_normal([3, 2, 4, 4, 8], seed=(1, 2))
  dynamic = tf.function(conv, input_signature=[tf.TensorSpec([None, 2, 4, 4, 8])])
  np.testing.assert_array_equal(dynamic(x).numpy(), conv(x).numpy())
  assert dynamic(x).shape == (3, 2, 4, 4, 4)
