"""The I3D head (paper Section 3.1 baseline): ST-RoIPool tubes through I3D's last blocks.

`I3DHead.call(features, proposal_boxes, training=...)`:
  1. ST-RoIPool: each proposal box replicated over the num_frames time steps of the trunk map,
     each step RoIAligned to 14x14 and max-pooled to 7x7:
     [batch_size * num_proposals, num_frames, 7, 7, channels].
  2. The I3D tail MaxPool3d_5a_2x2 (the paper's "Mixed_5a"), Mixed_5b, Mixed_5c, passed in
     ready-built as `mixed5_block` (e.g. `ava_tx.trunks.i3d.InceptionI3D(first_endpoint=
     "MaxPool3d_5a_2x2", final_endpoint="Mixed_5c")`): for the paper size [.., 8, 4, 4, 1024].
  3. Global average pooling over time and space (I3D's logits average-pool the whole final map),
     optional dropout (I3D's pre-logits dropout, `dropout_rate`, off by default as in Faster
     R-CNN box heads), then linear action logits and box encodings.
"""

from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf
from ava_tx.layers import action_transformer
from ava_tx.layers import roi_pooling


def serialize_mixed5_block(block):
  """Returns the Keras serialization (plain dict) of a mixed5 block, for get_config."""
  return keras.layers.serialize(block)


def deserialize_mixed5_block(config):
  """Inverse of serialize_mixed5_block; knows ava_tx.trunks.i3d.InceptionI3D."""
  # Imported here so that ava_tx.layers does not depend on ava_tx.trunks at import time.
  from ava_tx.trunks import i3d  # pylint: disable=import-outside-toplevel

  return keras.layers.deserialize(config, custom_objects={"InceptionI3D": i3d.InceptionI3D})


class I3DTubeFeatures(keras.layers.Layer):
  """Steps 1-3 (up to the dropout) of the module docstring.

  Constructor:
    mixed5_block: keras Layer mapping float32 [num_tubes, num_frames, 7, 7, channels] (called
      with training=...) to a tensor [num_tubes, num_frames', height', width', out_channels]
      or to a dict holding that tensor under `mixed5_output_key`.
    mixed5_output_key: key of the block's output dict to use (ignored for tensor outputs).
    dropout_rate: float, dropout on the pooled feature (training only).
    crop_size, pooled_size: ints, the ST-RoIPool crop (14) and pooled (7) sizes.

  call(features, proposal_boxes, *, training):
    features: float32 [batch_size, num_frames, height, width, channels].
    proposal_boxes: float32 [batch_size, num_proposals, 4], normalized.
    Returns float32 [batch_size, num_proposals, out_channels].
  """

  def __init__(
    self,
    *,
    mixed5_block,
    mixed5_output_key="Mixed_5c",
    dropout_rate=0.0,
    crop_size=14,
    pooled_size=7,
    **kwargs,
  ):
    super().__init__(**kwargs)
    if not isinstance(mixed5_block, keras.layers.Layer):
      raise TypeError(f"mixed5_block must be a keras Layer, got {type(mixed5_block).__name__}.")
    self.mixed5_block = mixed5_block
    self.mixed5_output_key = mixed5_output_key
    self.dropout_rate = dropout_rate
    self.crop_size = crop_size
    self.pooled_size = pooled_size
    self.tube_pooling = roi_pooling.SpatioTemporalRoIPooling(
      crop_size=crop_size, pooled_size=pooled_size, name="st_roi_pooling"
    )
    self.dropout = keras.layers.Dropout(dropout_rate)

  def call(self, features, proposal_boxes, *, training):
    action_transformer.check_head_inputs(features, proposal_boxes, type(self).__name__)
    tubes = self.tube_pooling(features, proposal_boxes)
    shape = tf.shape(tubes)
    batch_size, num_proposals, num_frames = shape[0], shape[1], shape[2]
    tubes = tf.reshape(
      tubes,
      [
        batch_size * num_proposals,
        num_frames,
        self.pooled_size,
        self.pooled_size,
        features.shape[-1],
      ],
    )
    outputs = self.mixed5_block(tubes, training=training)
    if isinstance(outputs, dict):
      if self.mixed5_output_key not in outputs:
        raise ValueError(
          f"mixed5_block returned endpoints {list(outputs)}, without mixed5_output_key "
          f"{self.mixed5_output_key!r}."
        )
      outputs = outputs[self.mixed5_output_key]
    if outputs.shape.rank != 5:
      raise ValueError(
        "mixed5_block must return [num_tubes, num_frames, height, width, channels], got "
        f"shape {outputs.shape}."
      )
    pooled = self.dropout(tf.reduce_mean(outputs, axis=[1, 2, 3]), training=training)
    return tf.reshape(pooled, [batch_size, num_proposals, outputs.shape[-1]])

  def get_config(self):
    config = super().get_config()
    config.update(
      mixed5_block=serialize_mixed5_block(self.mixed5_block),
      mixed5_output_key=self.mixed5_output_key,
      dropout_rate=self.dropout_rate,
      crop_size=self.crop_size,
      pooled_size=self.pooled_size,
    )
    return config

  @classmethod
  def from_config(cls, config):
    config = dict(config)
    config["mixed5_block"] = deserialize_mixed5_block(config["mixed5_block"])
    return cls(**config)


class I3DHead(action_transformer.PredictionLayers, I3DTubeFeatures):
  """The I3D head: `I3DTubeFeatures`, then linear action logits and box encodings.

  Constructor: the keyword arguments of I3DTubeFeatures, plus
    num_logits: int, action logits per proposal (num_classes + 1 with a background logit).
    num_box_classes: None for class-agnostic boxes, else int for class-specific boxes.

  call(features, proposal_boxes, *, training) -> dict keyed by PredictionFields:
    action_logits: float32 [batch_size, num_proposals, num_logits].
    box_encodings: float32 [batch_size, num_proposals, 4] (class-agnostic) or
      [batch_size, num_proposals, num_box_classes, 4].
    (no attention_weights)
  """

  def __init__(self, *, num_logits, num_box_classes=None, **kwargs):
    super().__init__(**kwargs)
    self._build_prediction_layers(num_logits, num_box_classes)

  def call(self, features, proposal_boxes, *, training):
    tube_features = super().call(features, proposal_boxes, training=training)
    return self._predictions(tube_features, tube_features)

  def get_config(self):
    return {**super().get_config(), **self._prediction_config()}
