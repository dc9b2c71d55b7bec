"""Tests of ava_tx.layers.location_embedding."""

import numpy as np

from ava_tx.core.tf_setup import tf
from ava_tx.layers import location_embedding


def test_coordinates_exact_values():
  spatial, temporal = location_embedding.location_coordinates(4, 3, 2)
  assert spatial.shape == (3, 2, 2) and temporal.shape == (4, 1)
  # h: (h - 1) / 1.5; w: (w - 0.5) / 1; t: (t - 2) / 2 (centre frame 4 // 2 = 2).
  np.testing.assert_allclose(spatial[:, 0, 0], [-2 / 3, 0, 2 / 3], atol=1e-6)
  np.testing.assert_allclose(spatial[0, :, 1], [-0.5, 0.5], atol=1e-6)
  np.testing.assert_allclose(spatial[2, 1], [2 / 3, 0.5], atol=1e-6)
  np.testing.assert_allclose(temporal[:, 0], [-1, -0.5, 0, 0.5], atol=1e-6)
  spatial, temporal = location_embedding.location_coordinates(1, 1, 1)
  np.testing.assert_allclose(spatial.numpy().ravel(), [0, 0])
  np.testing.assert_allclose(temporal.numpy().ravel(), [0])


def _mlp(x, layers):
  hidden = np.maximum(x @ layers[0].kernel.numpy() + layers[0].bias.numpy(), 0)
  return hidden @ layers[1].kernel.numpy() + layers[1].bias.numpy()


def test_layer_concatenates_mlp_embeddings():
  tf.random.set_seed(0)
  layer = location_embedding.LocationEmbedding(hidden_size=5, output_size=3)
  features = tf.random.stateless_normal([2, 4, 3, 2, 6], seed=[0, 1])
  out = layer(features).numpy()
  assert out.shape == (2, 4, 3, 2, 6 + 6)
  assert layer.num_added_channels == 6
  np.testing.assert_array_equal(out[..., :6], features.numpy())
  spatial, temporal = location_embedding.location_coordinates(4, 3, 2)
  expected_spatial = _mlp(spatial.numpy(), layer.spatial_mlp)  # [3, 2, 3]
  expected_temporal = _mlp(temporal.numpy(), layer.temporal_mlp)  # [4, 3]
  for b in range(2):
    for t in range(4):
      np.testing.assert_allclose(out[b, t, ..., 6:9], expected_spatial, atol=1e-5)
      np.testing.assert_allclose(
        out[b, t, ..., 9:], np.broadcast_to(expected_temporal[t], [3, 2, 3]), atol=1e-5
      )
  assert len(layer.trainable_variables) == 8


def test_config_round_trip():
  layer = location_embedding.LocationEmbedding(hidden_size=7, output_size=2, name="loc")
  clone = location_embedding.LocationEmbedding.from_config(layer.get_config())
  assert clone.get_config() == layer.get_config()
  assert (clone.hidden_size, clone.output_size, clone.name) == (7, 2, "loc")
