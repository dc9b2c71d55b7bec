"""Tests of the analytic FLOP count (ava_tx.core.flops) on single layers, with exact numbers."""

import pytest

from ava_tx.core import flops
from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf
from ava_tx.trunks import i3d


def _spec(*shape):
  return tf.TensorSpec(shape, tf.float32)


def test_pure_formulas():
  # Conv3D 3x3x3, 3 -> 16 channels, output 4x8x8x16: 2 * 4096 outputs * 81.
  assert flops.conv_flops([1, 4, 8, 8, 16], [3, 3, 3, 3, 16]) == 663552
  assert flops.matmul_flops([10, 7], [10, 3]) == 420
  assert flops.matmul_flops([7, 10], [10, 3], contract_first=True) == 420
  # Attention logits: b=2, r=5, x=9 cells, d=4.
  assert flops.einsum_flops("brd,bxd->brx", [[2, 5, 4], [2, 9, 4]]) == 2 * 2 * 5 * 4 * 9


def test_conv3d_layer_forward_and_training():
  conv = keras.layers.Conv3D(16, 3, padding="same", use_bias=False)
  count = flops.function_flops(conv, _spec(1, 4, 8, 8, 3))
  assert count.forward == 663552
  # The input is data (no gradient): forward + weight gradient only.
  assert count.training == 2 * 663552
  assert [op.type for op in count.ops] == ["Conv3D"]


def test_strided_conv3d_counts_outputs():
  conv = keras.layers.Conv3D(8, (3, 7, 7), strides=2, padding="same", use_bias=False)
  count = flops.function_flops(conv, _spec(2, 8, 16, 16, 3))
  # Output [2, 4, 8, 8, 8]; kernel volume 3*7*7*3 = 441.
  assert count.forward == 2 * (2 * 4 * 8 * 8 * 8) * 441


def test_dense_layer_on_rank3_input():
  dense = keras.layers.Dense(3)
  count = flops.function_flops(dense, _spec(2, 5, 7))
  assert count.forward == 2 * 2 * 5 * 7 * 3


def test_training_rule_trained_frozen_and_attention():
  first = keras.layers.Dense(6, use_bias=False)
  second = keras.layers.Dense(4, use_bias=False)

  def net(x):
    h = second(first(x))  # [2, 5, 4]
    logits = tf.einsum("brd,bxd->brx", h, h)  # both operands depend on the weights
    return tf.einsum("brx,bxd->brd", tf.nn.softmax(logits), h)

  count = flops.function_flops(net, _spec(2, 5, 3))
  f1, f2 = 2 * 10 * 3 * 6, 2 * 10 * 6 * 4
  f_logits = f_values = 2 * 2 * 5 * 4 * 5
  assert count.forward == f1 + f2 + f_logits + f_values
  assert count.training == 2 * f1 + 3 * f2 + 3 * f_logits + 3 * f_values
  first.trainable = False  # A frozen first layer: forward only; the second: no input gradient.
  count = flops.function_flops(
    net, _spec(2, 5, 3), trainable_variables=first.trainable_variables + second.trainable_variables
  )
  assert count.training == f1 + 2 * f2 + 3 * f_logits + 3 * f_values


def test_stop_gradient_cuts_the_backward_pass():
  dense = keras.layers.Dense(4, use_bias=False)
  count = flops.function_flops(lambda x: tf.stop_gradient(dense(x)), _spec(3, 2))
  assert count.training == count.forward


def test_rule_matches_the_traced_gradient_graph():
  model = i3d.InceptionI3D(final_endpoint="Mixed_3b", depth_multiplier=0.25, min_depth=8)
  spec = _spec(1, 8, 32, 32, 3)
  model.build(spec.shape)
  model.endpoint_layers()["Conv3d_1a_7x7"].trainable = False
  loss = lambda x: tf.reduce_sum(model(x, training=True)["Mixed_3b"])  # noqa: E731
  # A callable: the variables are read after the trace (which would create them).
  count = flops.function_flops(loss, spec, trainable_variables=lambda: model.trainable_variables)
  traced = flops.gradient_graph_flops(loss, lambda: model.trainable_variables, spec)
  assert count.training == traced
  stem = [op for op in count.ops if "Conv3d_1a_7x7" in op.name]
  assert len(stem) == 1 and stem[0].gradient_operands == 0


def test_paper_size_trunk_is_697_gflop():
  # The network's arithmetic: the stem as the plain 7x7x7 convolution.
  trunk = i3d.InceptionI3D(final_endpoint="Mixed_4f", space_to_depth_stem=False)
  count = flops.function_flops(
    lambda x: trunk(x, training=False)["Mixed_4f"], _spec(1, 64, 400, 400, 3)
  )
  assert round(count.forward / 1e9, 1) == 697.0
  stem = count.by_scope(depth=2)
  assert round(sum(v for k, v in stem.items() if "Conv3d_1a_7x7" in k) / 1e9, 1) == 168.6
  # The space-to-depth stem multiplies a 4x4x4x24 kernel (the 7x7x7x3 one zero-padded to
  # 8x8x8x3) at the same 32x200x200 outputs: 1536 / 1029 of the plain stem's products.
  s2d = i3d.InceptionI3D(final_endpoint="Mixed_4f", space_to_depth_stem=True)
  s2d_count = flops.function_flops(
    lambda x: s2d(x, training=False)["Mixed_4f"], _spec(1, 64, 400, 400, 3)
  )
  assert s2d_count.forward - count.forward == pytest.approx(168.6e9 * (1536 / 1029 - 1), rel=0.01)
