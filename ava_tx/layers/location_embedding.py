"""Location embedding of trunk feature cells (paper Section 3.2).

Each cell of the trunk feature map gets its spatial position [h, w] and its time [t], relative to
the centre, each through a 2-layer MLP; the two embeddings are concatenated to the features along
channels. The paper does not say how coordinates are normalised nor how big the MLPs are; this
module chooses:
  * spatial coordinates of cell centres relative to the map centre, in units of half the map
    size: h_rel = (h - (height - 1) / 2) / (height / 2), in (-1, 1) (likewise w), i.e. the cell
    centre's normalized image coordinate mapped from [0, 1] to [-1, 1];
  * time relative to the temporally centre frame num_frames // 2 (the keyframe's slice, the one
    the Tx query is pooled from), in the same units: t_rel = (t - num_frames // 2) /
    (num_frames / 2), in [-1, 1);
  * each MLP is Dense(hidden_size, ReLU) -> Dense(output_size) (linear output, so the embedding
    is not confined to the positive orthant), hidden_size = output_size = 64 by default.
"""

from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf


def location_coordinates(num_frames, height, width, dtype=tf.float32):
  """Coordinates of every trunk cell relative to the centre (see module docstring).

  Args:
    num_frames: int or scalar int32 tensor, T' of the trunk map.
    height: int or scalar int32 tensor.
    width: int or scalar int32 tensor.
    dtype: float dtype of the result.

  Returns:
    spatial: dtype [height, width, 2], (h_rel, w_rel) of each cell.
    temporal: dtype [num_frames, 1], t_rel of each time step.
  """

  def centred(size, centre):
    size_f = tf.cast(size, dtype)
    return (tf.range(size_f) - tf.cast(centre, dtype)) / (size_f / 2.0)

  h_rel = centred(height, (tf.cast(height, dtype) - 1.0) / 2.0)
  w_rel = centred(width, (tf.cast(width, dtype) - 1.0) / 2.0)
  t_rel = centred(num_frames, num_frames // 2)
  hh, ww = tf.meshgrid(h_rel, w_rel, indexing="ij")
  return tf.stack([hh, ww], axis=-1), t_rel[:, tf.newaxis]


class LocationEmbedding(keras.layers.Layer):
  """Concatenates a learned location embedding of each cell to the trunk features.

  call(features):
    features: float32 [batch_size, num_frames, height, width, channels].
    Returns float32 [batch_size, num_frames, height, width, channels + 2 * output_size]:
      the features, then the spatial embedding, then the temporal embedding.
  """

  def __init__(self, *, hidden_size=64, output_size=64, **kwargs):
    super().__init__(**kwargs)
    self.hidden_size = hidden_size
    self.output_size = output_size
    self.spatial_mlp = [
      keras.layers.Dense(hidden_size, activation="relu", name="spatial_hidden"),
      keras.layers.Dense(output_size, name="spatial_output"),
    ]
    self.temporal_mlp = [
      keras.layers.Dense(hidden_size, activation="relu", name="temporal_hidden"),
      keras.layers.Dense(output_size, name="temporal_output"),
    ]

  @property
  def num_added_channels(self):
    return 2 * self.output_size

  def call(self, features):
    if features.shape.rank != 5:
      raise ValueError(
        "LocationEmbedding expects features [batch_size, num_frames, height, width, "
        f"channels], got shape {features.shape}."
      )
    shape = tf.shape(features)
    batch_size, num_frames, height, width = shape[0], shape[1], shape[2], shape[3]
    spatial, temporal = location_coordinates(num_frames, height, width, features.dtype)
    for layer in self.spatial_mlp:
      spatial = layer(spatial)
    for layer in self.temporal_mlp:
      temporal = layer(temporal)
    # [height, width, output_size] and [num_frames, output_size] -> every cell of every clip.
    spatial = tf.broadcast_to(
      spatial[tf.newaxis, tf.newaxis], [batch_size, num_frames, height, width, self.output_size]
    )
    temporal = tf.broadcast_to(
      temporal[tf.newaxis, :, tf.newaxis, tf.newaxis],
      [batch_size, num_frames, height, width, self.output_size],
    )
    return tf.concat([features, spatial, temporal], axis=-1)

  def get_config(self):
    config = super().get_config()
    config.update(hidden_size=self.hidden_size, output_size=self.output_size)
    return config
