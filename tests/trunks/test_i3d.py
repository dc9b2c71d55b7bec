"""Tests of the Keras I3D (ava_tx.trunks.i3d): shapes, channels, frozen batch norm, config."""

import numpy as np
import pytest

from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf
from ava_tx.trunks import i3d

TINY = dict(depth_multiplier=0.125, min_depth=4)

# DeepMind InceptionI3d at depth_multiplier 1: (channels, temporal stride, spatial stride).
EXPECTED_SPECS = {
  "Conv3d_1a_7x7": (64, 2, 2),
  "MaxPool3d_2a_3x3": (64, 2, 4),
  "Conv3d_2b_1x1": (64, 2, 4),
  "Conv3d_2c_3x3": (192, 2, 4),
  "MaxPool3d_3a_3x3": (192, 2, 8),
  "Mixed_3b": (256, 2, 8),
  "Mixed_3c": (480, 2, 8),
  "MaxPool3d_4a_3x3": (480, 4, 16),
  "Mixed_4b": (512, 4, 16),
  "Mixed_4c": (512, 4, 16),
  "Mixed_4d": (512, 4, 16),
  "Mixed_4e": (528, 4, 16),
  "Mixed_4f": (832, 4, 16),
  "MaxPool3d_5a_2x2": (832, 8, 32),
  "Mixed_5b": (832, 8, 32),
  "Mixed_5c": (1024, 8, 32),
}


def test_endpoint_specs_match_deepmind():
  model = i3d.InceptionI3D(final_endpoint="Mixed_5c")
  assert model.endpoints == tuple(EXPECTED_SPECS)
  for name, (channels, t_stride, s_stride) in EXPECTED_SPECS.items():
    assert model.endpoint_channels(name) == channels, name
    assert model.endpoint_stride(name) == (t_stride, s_stride), name


def test_paper_size_mixed_4f_shape_is_symbolic_16x25x25x832():
  model = i3d.InceptionI3D()
  shapes = model.compute_output_shape([2, 64, 400, 400, 3])
  assert shapes["Mixed_4f"].as_list() == [2, 16, 25, 25, 832]
  assert list(shapes) == list(EXPECTED_SPECS)[:13]
  # The same through a Keras functional graph (no real computation).
  outputs = i3d.InceptionI3D()(keras.Input([64, 400, 400, 3]))
  assert outputs["Mixed_4f"].shape.as_list() == [None, 16, 25, 25, 832]
  assert outputs["Conv3d_1a_7x7"].shape.as_list() == [None, 32, 200, 200, 64]
  assert outputs["MaxPool3d_4a_3x3"].shape.as_list() == [None, 16, 25, 25, 480]


def test_tiny_forward_shapes_match_compute_output_shape():
  model = i3d.InceptionI3D(final_endpoint="Mixed_5c", **TINY)
  inputs = tf.random.stateless_normal([2, 8, 33, 20, 3], seed=[1, 2])
  outputs = model(inputs, training=False)
  expected = model.compute_output_shape(inputs.shape)
  assert list(outputs) == list(EXPECTED_SPECS)
  for name, tensor in outputs.items():
    assert tensor.shape == expected[name], name
    assert tensor.dtype == tf.float32
  # TF 'SAME' rounds up: 33 -> 17 -> 9 -> 5 -> 3 -> 2; 20 -> 10 -> 5 -> 3 -> 2 -> 1.
  assert outputs["Conv3d_1a_7x7"].shape.as_list() == [2, 4, 17, 10, 8]
  assert outputs["Mixed_3b"].shape.as_list() == [2, 4, 5, 3, 32]
  # 0.125 * (256, 320, 128, 128) = 32 + 40 + 16 + 16.
  assert outputs["Mixed_4f"].shape.as_list() == [2, 2, 3, 2, 104]
  assert outputs["Mixed_5c"].shape.as_list() == [2, 1, 2, 1, 48 + 48 + 16 + 16]
  assert all(bool(tf.reduce_all(t >= 0)) for t in outputs.values())  # ReLU / pools of ReLU.


def test_depth_multiplier_and_min_depth_scale_every_conv():
  model = i3d.InceptionI3D(final_endpoint="Mixed_3b", **TINY)
  model.build([None, None, None, None, 3])
  shapes = {k: v.shape.as_list() for k, v in model.named_variables().items()}
  assert shapes["Conv3d_1a_7x7/conv_3d/w"] == [7, 7, 7, 3, 8]
  assert shapes["Conv3d_1a_7x7/batch_norm/beta"] == [8]
  assert shapes["Conv3d_2c_3x3/conv_3d/w"] == [3, 3, 3, 8, 24]
  assert shapes["Mixed_3b/Branch_1/Conv3d_0b_3x3/conv_3d/w"] == [3, 3, 3, 12, 16]
  # 16 * 0.125 = 2 < min_depth 4.
  assert shapes["Mixed_3b/Branch_2/Conv3d_0a_1x1/conv_3d/w"] == [1, 1, 1, 24, 4]
  assert shapes["Mixed_3b/Branch_3/Conv3d_0b_1x1/batch_norm/moving_variance"] == [4]
  assert i3d.scaled_depth(832, 0.5, 16) == 416
  assert i3d.scaled_depth(20, 0.5, 16) == 16
  full = i3d.InceptionI3D(final_endpoint="Mixed_5c")
  full.build([None, None, None, None, 3])
  assert full.named_variables()["Mixed_5c/Branch_1/Conv3d_0b_3x3/conv_3d/w"].shape == [
    3,
    3,
    3,
    192,
    384,
  ]


def test_unit3d_has_no_bias_no_gamma_and_deepmind_epsilon():
  unit = i3d.Unit3D(filters=5, kernel_size=(3, 3, 3))
  unit.build([None, 4, 6, 6, 2])
  assert sorted(unit.named_variables()) == [
    "batch_norm/beta",
    "batch_norm/moving_mean",
    "batch_norm/moving_variance",
    "conv_3d/w",
  ]
  assert len(unit.weights) == 4
  assert [v.shape.as_list() for v in unit.trainable_weights] == [[3, 3, 3, 2, 5], [5]]
  assert unit.batch_norm.epsilon == 1e-3


def test_tail_from_maxpool_5a_takes_mixed_4f_channels():
  tail = i3d.InceptionI3D(first_endpoint="MaxPool3d_5a_2x2", final_endpoint="Mixed_5c")
  assert tail.input_channels == 832
  assert tail.endpoints == ("MaxPool3d_5a_2x2", "Mixed_5b", "Mixed_5c")
  shapes = tail.compute_output_shape([1, 16, 14, 14, 832])
  assert shapes["Mixed_5c"].as_list() == [1, 8, 7, 7, 1024]
  tiny_tail = i3d.InceptionI3D(first_endpoint="MaxPool3d_5a_2x2", final_endpoint="Mixed_5c", **TINY)
  assert tiny_tail.input_channels == 104
  out = tiny_tail(tf.ones([3, 4, 5, 5, 104]), training=False)
  assert out["Mixed_5c"].shape.as_list() == [3, 2, 3, 3, 128]
  assert sorted(tiny_tail.endpoint_layers()) == ["MaxPool3d_5a_2x2", "Mixed_5b", "Mixed_5c"]
  with pytest.raises(ValueError, match="expects 104 input channels"):
    tiny_tail(tf.ones([1, 2, 2, 2, 3]))


def test_bad_arguments_and_inputs_raise_clear_errors():
  with pytest.raises(ValueError, match="final_endpoint='Mixed_6a' is not an I3D endpoint"):
    i3d.InceptionI3D(final_endpoint="Mixed_6a")
  with pytest.raises(ValueError, match="comes after"):
    i3d.InceptionI3D(first_endpoint="Mixed_4b", final_endpoint="Mixed_3b")
  with pytest.raises(ValueError, match="depth_multiplier must be > 0"):
    i3d.InceptionI3D(depth_multiplier=0.0)
  model = i3d.InceptionI3D(final_endpoint="Conv3d_1a_7x7", **TINY)
  with pytest.raises(ValueError, match="rank 5"):
    model(tf.ones([1, 8, 8, 3]))
  with pytest.raises(ValueError, match="expects 3 input channels"):
    model(tf.ones([1, 2, 8, 8, 1]))
  with pytest.raises(ValueError, match="not computed by this I3D"):
    model.endpoint_channels("Mixed_4f")


def test_get_config_round_trip():
  model = i3d.InceptionI3D(
    first_endpoint="Conv3d_2b_1x1",
    final_endpoint="Mixed_3c",
    depth_multiplier=0.25,
    min_depth=8,
    freeze_batch_norm=True,
    name="trunk",
  )
  config = model.get_config()
  assert config["first_endpoint"] == "Conv3d_2b_1x1"
  assert config["freeze_batch_norm"] is True
  clone = i3d.InceptionI3D.from_config(config)
  assert clone.get_config() == config
  model.build([None, None, None, None, 16])
  clone.build([None, None, None, None, 16])
  assert {k: v.shape for k, v in clone.named_variables().items()} == {
    k: v.shape for k, v in model.named_variables().items()
  }
  for layer_cls, layer in [
    (i3d.Unit3D, model.endpoint_layers()["Conv3d_2c_3x3"]),
    (i3d.InceptionBlock, model.endpoint_layers()["Mixed_3c"]),
  ]:
    assert layer_cls.from_config(layer.get_config()).get_config() == layer.get_config()


def _bn_layers(model):
  return [
    layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)
  ]


def _train_step(model, inputs):
  optimizer = keras.optimizers.SGD(learning_rate=0.1)
  with tf.GradientTape() as tape:
    outputs = model(inputs, training=True)
    loss = tf.reduce_mean(tf.square(outputs["Mixed_3b"] - 1.0))
  grads = tape.gradient(loss, model.trainable_variables)
  optimizer.apply_gradients(zip(grads, model.trainable_variables))
  return outputs


def test_frozen_batch_norm_keeps_moving_statistics_and_trains_beta():
  # Seeded weights: unseeded, about 1 run in 8 (and seed 0) had a 4-channel unit whose ReLUs
  # were all dead on this input, so that unit's beta got no gradient.
  keras.utils.set_random_seed(1)
  model = i3d.InceptionI3D(final_endpoint="Mixed_3b", freeze_batch_norm=True, **TINY)
  inputs = tf.random.stateless_normal([2, 4, 16, 16, 3], seed=[3, 4]) * 3.0 + 1.0
  model.build(inputs.shape)
  bns = _bn_layers(model)
  assert len(bns) == 3 + 6
  # Non-default statistics, so using them (or not) changes the output.
  for i, bn in enumerate(bns):
    bn.moving_mean.assign(tf.fill(bn.moving_mean.shape, 0.01 * i))
    bn.moving_variance.assign(tf.fill(bn.moving_variance.shape, 1.0 + 0.1 * i))
  before = {
    id(bn): (bn.moving_mean.numpy(), bn.moving_variance.numpy(), bn.beta.numpy()) for bn in bns
  }
  inference = model(inputs, training=False)["Mixed_3b"]
  training = _train_step(model, inputs)["Mixed_3b"]
  np.testing.assert_allclose(training.numpy(), inference.numpy(), rtol=1e-5, atol=1e-5)
  assert all(v.trainable for bn in bns for v in [bn.beta])
  for bn in bns:
    mean, var, beta = before[id(bn)]
    np.testing.assert_array_equal(bn.moving_mean.numpy(), mean)
    np.testing.assert_array_equal(bn.moving_variance.numpy(), var)
    assert not np.array_equal(bn.beta.numpy(), beta), bn.name


def test_unfrozen_batch_norm_updates_moving_statistics():
  model = i3d.InceptionI3D(final_endpoint="Mixed_3b", freeze_batch_norm=False, **TINY)
  inputs = tf.random.stateless_normal([2, 4, 16, 16, 3], seed=[3, 4]) * 3.0 + 1.0
  model.build(inputs.shape)
  bns = _bn_layers(model)
  inference = model(inputs, training=False)["Mixed_3b"]
  training = _train_step(model, inputs)["Mixed_3b"]
  assert not np.allclose(training.numpy(), inference.numpy(), atol=1e-3)
  for bn in bns:
    # Moving mean starts at 0 and moves by (1 - 0.999) * batch mean.
    assert not np.array_equal(bn.moving_mean.numpy(), np.zeros(bn.moving_mean.shape)), bn.name
    assert not np.array_equal(bn.moving_variance.numpy(), np.ones(bn.moving_variance.shape)), (
      bn.name
    )
  # The update follows sonnet's decay 0.999: new = 0.999 * old + 0.001 * batch mean.
  stem = model.endpoint_layers()["Conv3d_1a_7x7"]
  stem_bn = stem.batch_norm
  mean_before = stem_bn.moving_mean.numpy()
  batch_mean = tf.reduce_mean(stem.conv_3d(inputs), axis=[0, 1, 2, 3]).numpy()
  stem(inputs, training=True)
  np.testing.assert_allclose(
    stem_bn.moving_mean.numpy(), 0.999 * mean_before + 0.001 * batch_mean, rtol=1e-4, atol=1e-6
  )


@pytest.mark.parametrize(
  "pool_size, strides, shape",
  [
    ((3, 3, 3), (1, 1, 1), (2, 5, 7, 6, 3)),  # Mixed blocks' Branch_3.
    ((1, 3, 3), (1, 2, 2), (1, 4, 9, 8, 2)),  # MaxPool3d_2a_3x3, MaxPool3d_3a_3x3.
    ((3, 3, 3), (2, 2, 2), (1, 7, 8, 9, 2)),  # MaxPool3d_4a_3x3.
    ((2, 2, 2), (2, 2, 2), (1, 5, 6, 7, 2)),  # MaxPool3d_5a_2x2.
    ((3, 2, 1), (1, 1, 1), (1, 5, 6, 7, 2)),  # Uneven stride-1 windows (shifted maxima).
  ],
)
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_separable_max_pool_equals_the_3d_pool_values_and_gradients(
  pool_size, strides, shape, padding
):
  # Distinct values, so every window's maximum is unique and the gradients must agree too.
  x = tf.constant(np.random.default_rng(0).permutation(np.prod(shape)).reshape(shape), tf.float32)
  pools = [
    cls(pool_size=pool_size, strides=strides, padding=padding)
    for cls in (keras.layers.MaxPool3D, i3d.SeparableMaxPool3D)
  ]
  results = []
  for pool in pools:
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = pool(x)
      # Weighted by position, so a gradient routed to the wrong input element shows.
      loss = tf.reduce_sum(y * tf.reshape(tf.range(tf.size(y), dtype=tf.float32), tf.shape(y)))
    results.append((y.numpy(), tape.gradient(loss, x).numpy()))
  (y_ref, g_ref), (y_sep, g_sep) = results
  assert y_sep.shape == y_ref.shape == tuple(pools[0].compute_output_shape(shape))
  np.testing.assert_array_equal(y_sep, y_ref)
  np.testing.assert_array_equal(g_sep, g_ref)
  assert np.count_nonzero(g_ref) > 0


def test_separable_max_pool_gives_a_tied_maximum_the_gradient_once():
  # One axis, stride 1, SAME, over [0, 2, 2, 1, 2]: each output's gradient goes to exactly one
  # input (TensorFlow's MaxPool3DGrad gives it to every tied 2: [0, 111, 1110, 0, 11000]).
  x = tf.reshape(tf.constant([0.0, 2.0, 2.0, 1.0, 2.0]), [1, 5, 1, 1, 1])
  pool = i3d.SeparableMaxPool3D(pool_size=(3, 1, 1), strides=(1, 1, 1), padding="same")
  weights = tf.reshape(tf.constant([1.0, 10.0, 100.0, 1000.0, 10000.0]), [1, 5, 1, 1, 1])
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = pool(x)
    loss = tf.reduce_sum(y * weights)
  np.testing.assert_array_equal(tf.reshape(y, [-1]).numpy(), [2.0, 2.0, 2.0, 2.0, 2.0])
  # Windows (padding, 0, 2), (0, 2, 2), (2, 2, 1) take the 2 at index 1; (2, 1, 2) the first 2,
  # index 2; (1, 2, padding) index 4. Each weight lands exactly once.
  gradient = tf.reshape(tape.gradient(loss, x), [-1]).numpy()
  np.testing.assert_array_equal(gradient, [0.0, 111.0, 1000.0, 0.0, 10000.0])


def _trunks_without_and_with(option: str, final_endpoint: str):
  """Two small trunks with the same weights, `option` False then True, and their outputs."""
  frames = tf.random.stateless_uniform((1, 8, 32, 32, 3), seed=(1, 2), minval=-1.0, maxval=1.0)
  trunks = [
    i3d.InceptionI3D(
      final_endpoint=final_endpoint, depth_multiplier=0.125, min_depth=8, **{option: value}
    )
    for value in (False, True)
  ]
  for trunk in trunks:
    trunk(frames)
  trunks[1].set_weights(trunks[0].get_weights())
  assert trunks[0].get_config()[option] is False and trunks[1].get_config()[option] is True
  return trunks, [trunk(frames)[final_endpoint].numpy() for trunk in trunks]


def _layers(trunk, layer_class):
  return [layer for layer in trunk._flatten_layers() if isinstance(layer, layer_class)]


def test_separable_max_pool_option_switches_every_pool_and_keeps_the_outputs():
  trunks, outputs = _trunks_without_and_with("separable_max_pool", "Mixed_4b")
  pools = [_layers(trunk, keras.layers.MaxPool3D) for trunk in trunks]
  # MaxPool3d_2a, 3a, 4a and the Branch_3 pools of Mixed_3b, 3c, 4b.
  assert len(pools[0]) == len(pools[1]) == 6
  assert not any(isinstance(p, i3d.SeparableMaxPool3D) for p in pools[0])
  assert all(isinstance(p, i3d.SeparableMaxPool3D) for p in pools[1])
  np.testing.assert_allclose(outputs[1], outputs[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
  "kernel, stride, shape, bias",
  [
    (7, 2, (2, 8, 12, 10, 3), False),  # The stem: 7x7x7, stride 2, 3 channels.
    (7, 2, (1, 7, 9, 13, 3), False),  # Odd sizes: 'SAME' pads 2 before and 2 or 3 after.
    (3, 2, (1, 5, 6, 7, 4), True),  # A kernel that is not a multiple of the stride.
    (4, 2, (1, 6, 8, 8, 2), True),  # One that is.
    (5, 3, (1, 7, 10, 11, 2), False),  # Stride 3.
  ],
)
def test_space_to_depth_conv_equals_conv3d_values_and_gradients(kernel, stride, shape, bias):
  rng = np.random.default_rng(3)
  x = tf.constant(rng.normal(size=shape), tf.float32)
  convs = [
    cls(5, kernel, strides=stride, padding="same", use_bias=bias, activation="relu")
    for cls in (keras.layers.Conv3D, i3d.SpaceToDepthConv3D)
  ]
  for conv in convs:
    conv.build(x.shape)
  convs[0].set_weights([rng.normal(size=w.shape) for w in convs[0].get_weights()])
  convs[1].set_weights(convs[0].get_weights())
  assert [v.shape for v in convs[1].weights] == [v.shape for v in convs[0].weights]
  results = []
  for conv in convs:
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = conv(x)
      loss = tf.reduce_sum(y * tf.reshape(tf.range(tf.size(y), dtype=tf.float32), tf.shape(y)))
    results.append([y.numpy()] + [g.numpy() for g in tape.gradient(loss, [x] + conv.weights)])
  assert results[1][0].shape == results[0][0].shape == tuple(convs[0].compute_output_shape(shape))
  assert np.count_nonzero(results[0][0]) > 0
  for got, want in zip(results[1], results[0]):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_space_to_depth_conv_without_static_sizes_is_the_plain_convolution():
  conv = i3d.SpaceToDepthConv3D(4, 7, strides=2, padding="same", use_bias=False)
  plain = keras.layers.Conv3D(4, 7, strides=2, padding="same", use_bias=False)
  x = tf.random.stateless_normal((1, 6, 10, 10, 3), seed=(4, 5))
  conv.build(x.shape)
  plain.build(x.shape)
  plain.set_weights(conv.get_weights())
  dynamic = tf.function(conv, input_signature=[tf.TensorSpec([None, None, None, None, 3])])
  np.testing.assert_allclose(dynamic(x).numpy(), plain(x).numpy(), rtol=1e-5, atol=1e-5)


def test_space_to_depth_stem_option_changes_only_the_stem_and_keeps_outputs_and_names():
  trunks, outputs = _trunks_without_and_with("space_to_depth_stem", "Mixed_3b")
  convs = [_layers(trunk, keras.layers.Conv3D) for trunk in trunks]
  assert not any(isinstance(c, i3d.SpaceToDepthConv3D) for c in convs[0])
  assert [isinstance(c, i3d.SpaceToDepthConv3D) for c in convs[1]] == [True] + [False] * (
    len(convs[1]) - 1
  )
  assert sorted(trunks[1].named_variables()) == sorted(trunks[0].named_variables())
  np.testing.assert_allclose(outputs[1], outputs[0], rtol=1e-4, atol=1e-5)
