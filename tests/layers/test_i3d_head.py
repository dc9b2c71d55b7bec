"""Tests of ava_tx.layers.i3d_head with a tiny real I3D tail (MaxPool3d_5a_2x2..Mixed_5c)."""

import numpy as np
import pytest

from ava_tx.core.standard_fields import PredictionFields
from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf
from ava_tx.layers import i3d_head
from ava_tx.layers import roi_pooling
from ava_tx.trunks import i3d


def tiny_mixed5(freeze_batch_norm=False):
  """The I3D tail at depth_multiplier 0.02: 15 input channels, 18 output channels."""
  return i3d.InceptionI3D(
    first_endpoint="MaxPool3d_5a_2x2",
    final_endpoint="Mixed_5c",
    depth_multiplier=0.02,
    min_depth=2,
    freeze_batch_norm=freeze_batch_norm,
  )


def inputs(channels=15, seed=0):
  rng = np.random.default_rng(seed)
  features = tf.constant(rng.normal(size=[2, 4, 5, 6, channels]), tf.float32)
  boxes = tf.constant(
    [
      [[0.1, 0.2, 0.6, 0.9], [0.0, 0.0, 1.0, 1.0], [0.5, 0.4, 0.9, 0.6]],
      [[0.3, 0.3, 0.7, 0.5], [0.2, 0.1, 0.4, 0.8], [0.0, 0.0, 0.0, 0.0]],
    ]
  )
  return features, boxes


def test_shapes_class_agnostic_and_class_specific():
  features, boxes = inputs()
  block = tiny_mixed5()
  assert block.input_channels == 15 and block.endpoint_channels("Mixed_5c") == 18
  out = i3d_head.I3DHead(num_logits=5, mixed5_block=block)(features, boxes, training=False)
  assert set(out) == {PredictionFields.action_logits, PredictionFields.box_encodings}
  assert out[PredictionFields.action_logits].shape == (2, 3, 5)
  assert out[PredictionFields.box_encodings].shape == (2, 3, 4)
  head = i3d_head.I3DHead(num_logits=5, num_box_classes=4, mixed5_block=tiny_mixed5())
  assert head(features, boxes, training=False)[PredictionFields.box_encodings].shape == (2, 3, 4, 4)


def test_tube_features_are_mean_of_mixed5c_on_st_pooled_tubes():
  features, boxes = inputs()
  block = tiny_mixed5()
  layer = i3d_head.I3DTubeFeatures(mixed5_block=block, crop_size=4, pooled_size=2)
  out = layer(features, boxes, training=False)
  assert out.shape == (2, 3, 18)
  tubes = roi_pooling.spatio_temporal_roi_pool(features, boxes, 4, 2)  # [2, 3, 4, 2, 2, 15]
  mixed5c = block(tf.reshape(tubes, [6, 4, 2, 2, 15]), training=False)["Mixed_5c"]
  assert mixed5c.shape == (6, 2, 1, 1, 18)  # MaxPool3d_5a_2x2 halves time and space.
  np.testing.assert_allclose(
    out, tf.reshape(tf.reduce_mean(mixed5c, axis=[1, 2, 3]), [2, 3, 18]), atol=1e-5
  )


def test_tensor_returning_block_and_bad_blocks():
  features, boxes = inputs(channels=3)
  conv = keras.layers.Conv3D(7, 1, name="fake_mixed5")
  head = i3d_head.I3DHead(num_logits=2, mixed5_block=conv)
  assert head(features, boxes, training=False)[PredictionFields.action_logits].shape == (2, 3, 2)
  with pytest.raises(TypeError, match="keras Layer"):
    i3d_head.I3DHead(num_logits=2, mixed5_block=lambda x: x)
  wrong_key = i3d_head.I3DHead(
    num_logits=2, mixed5_block=tiny_mixed5(), mixed5_output_key="Mixed_4f"
  )
  with pytest.raises(ValueError, match="Mixed_4f"):
    wrong_key(*inputs(), training=False)


def trainable_variables_and_gradients(head, features, boxes):
  """A head's trainable variables and their gradients under a squared loss on both outputs."""
  with tf.GradientTape() as tape:
    out = head(features, boxes, training=True)
    loss = tf.reduce_sum(out[PredictionFields.action_logits] ** 2) + tf.reduce_sum(
      out[PredictionFields.box_encodings] ** 2
    )
  variables = head.trainable_variables
  return variables, tape.gradient(loss, variables)


def assert_every_gradient_nonzero(variables, gradients):
  for var, grad in zip(variables, gradients):
    assert grad is not None, var.name
    assert np.abs(grad.numpy()).sum() > 0, var.name


def test_gradients_reach_every_variable():
  head = i3d_head.I3DHead(num_logits=5, num_box_classes=2, mixed5_block=tiny_mixed5())
  variables, gradients = trainable_variables_and_gradients(head, *inputs())
  # Mixed_5b and Mixed_5c: 6 units each with a conv kernel and a batch-norm beta; 2 dense.
  assert len(variables) == 2 * 6 * 2 + 4
  assert_every_gradient_nonzero(variables, gradients)


def test_get_config_round_trip_reproduces_outputs():
  features, boxes = inputs()
  head = i3d_head.I3DHead(
    num_logits=5, num_box_classes=3, mixed5_block=tiny_mixed5(), dropout_rate=0.25, name="i3d_head"
  )
  out = head(features, boxes, training=False)
  config = head.get_config()
  assert config["mixed5_block"]["config"]["first_endpoint"] == "MaxPool3d_5a_2x2"
  clone = i3d_head.I3DHead.from_config(config)
  assert clone.get_config()["dropout_rate"] == 0.25
  assert clone.get_config()["num_box_classes"] == 3
  clone(features, boxes, training=False)
  clone.set_weights(head.get_weights())
  cloned = clone(features, boxes, training=False)
  for key in out:
    np.testing.assert_allclose(cloned[key], out[key], atol=1e-6)


def test_dropout_only_in_training():
  features, boxes = inputs()
  layer = i3d_head.I3DTubeFeatures(
    mixed5_block=tiny_mixed5(freeze_batch_norm=True), dropout_rate=0.5
  )
  inference = layer(features, boxes, training=False).numpy()
  np.testing.assert_array_equal(layer(features, boxes, training=False), inference)
  trained = layer(features, boxes, training=True).numpy()
  # Inverted dropout: every element is either dropped (0) or scaled by 1 / (1 - 0.5).
  dropped = trained == 0
  assert dropped.any() and not dropped.all()
  np.testing.assert_allclose(trained[~dropped], 2 * inference[~dropped], rtol=1e-5)
