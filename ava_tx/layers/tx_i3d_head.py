"""The "Tx+I3D" head (paper Table 3): the I3D head regresses boxes, the Tx head classifies.

Both branches read the same trunk map and proposals; only the Tx feature feeds the action
logits and only the I3D tube feature feeds the box encodings (so no variable is left without a
gradient).
"""

import dataclasses

from ava_tx.core.tf_setup import keras
from ava_tx.layers import action_transformer
from ava_tx.layers import i3d_head


class TxI3DHead(action_transformer.PredictionLayers, keras.layers.Layer):
  """Tx classification + I3D box regression.

  Constructor (keyword-only):
    num_logits: int, action logits per proposal (num_classes + 1 with a background logit).
    num_box_classes: None for class-agnostic boxes, else int for class-specific boxes.
    mixed5_block, mixed5_output_key, i3d_dropout_rate: the I3D branch (see
      i3d_head.I3DTubeFeatures; i3d_dropout_rate is its dropout_rate).
    crop_size, pooled_size: RoI pooling sizes of both branches (14, 7).
    tx_config: an `action_transformer.ActionTransformerHeadConfig`, the Tx branch's sizes.
    return_attention: the Tx branch also returns its attention (see
      action_transformer.ActionTransformerFeatures).
    **kwargs: keras.layers.Layer arguments (name, dtype, ...).

  call(features, proposal_boxes, *, training) -> dict keyed by PredictionFields:
    features: float32 [batch_size, num_frames, height, width, channels].
    proposal_boxes: float32 [batch_size, num_proposals, 4], normalized.
    action_logits: float32 [batch_size, num_proposals, num_logits] (from the Tx branch).
    box_encodings: float32 [batch_size, num_proposals, 4] or
      [batch_size, num_proposals, num_box_classes, 4] (from the I3D branch).
    attention_weights, attention_key_embeddings: only with return_attention=True (shapes in
      action_transformer.ActionTransformerFeatures).
  """

  def __init__(
    self,
    *,
    num_logits,
    num_box_classes=None,
    mixed5_block,
    mixed5_output_key="Mixed_5c",
    i3d_dropout_rate=0.0,
    crop_size=14,
    pooled_size=7,
    tx_config=action_transformer.ActionTransformerHeadConfig(),
    return_attention=False,
    **kwargs,
  ):
    super().__init__(**kwargs)
    self.mixed5_output_key = mixed5_output_key
    self.i3d_dropout_rate = i3d_dropout_rate
    self.crop_size = crop_size
    self.pooled_size = pooled_size
    self.tx_features = action_transformer.ActionTransformerFeatures(
      tx_config=tx_config,
      crop_size=crop_size,
      pooled_size=pooled_size,
      return_attention=return_attention,
      name="action_transformer",
    )
    self.i3d_features = i3d_head.I3DTubeFeatures(
      mixed5_block=mixed5_block,
      mixed5_output_key=mixed5_output_key,
      dropout_rate=i3d_dropout_rate,
      crop_size=crop_size,
      pooled_size=pooled_size,
      name="i3d",
    )
    self._build_prediction_layers(num_logits, num_box_classes)

  def call(self, features, proposal_boxes, *, training):
    tx_features, attention = self.tx_features(features, proposal_boxes, training=training)
    tube_features = self.i3d_features(features, proposal_boxes, training=training)
    return self._predictions(tx_features, tube_features, attention)

  def get_config(self):
    config = {**super().get_config(), **self._prediction_config()}
    config.update(
      mixed5_block=i3d_head.serialize_mixed5_block(self.i3d_features.mixed5_block),
      mixed5_output_key=self.mixed5_output_key,
      i3d_dropout_rate=self.i3d_dropout_rate,
      crop_size=self.crop_size,
      pooled_size=self.pooled_size,
      tx_config=dataclasses.asdict(self.tx_features.tx_config),
      return_attention=self.tx_features.return_attention,
    )
    return config

  @classmethod
  def from_config(cls, config):
    config = dict(config)
    config["mixed5_block"] = i3d_head.deserialize_mixed5_block(config["mixed5_block"])
    return cls(**config)
