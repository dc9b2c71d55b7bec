"""Tests of ava_tx.layers.tx_i3d_head: Tx classifies, I3D regresses boxes."""

import dataclasses

import numpy as np

from ava_tx.core.standard_fields import PredictionFields
from ava_tx.core.tf_setup import tf
from ava_tx.layers import action_transformer
from ava_tx.layers import tx_i3d_head
from tests.layers.test_i3d_head import assert_every_gradient_nonzero
from tests.layers.test_i3d_head import inputs
from tests.layers.test_i3d_head import tiny_mixed5
from tests.layers.test_i3d_head import trainable_variables_and_gradients

TX = action_transformer.ActionTransformerHeadConfig(
  num_heads=2,
  num_layers=2,
  query_size=8,
  ffn_hidden_size=12,
  highres_reduced_channels=3,
  location_embedding_hidden_size=5,
  location_embedding_size=4,
)


def test_outputs_come_from_the_right_branch():
  features, boxes = inputs()
  head = tx_i3d_head.TxI3DHead(
    num_logits=5, mixed5_block=tiny_mixed5(), return_attention=True, tx_config=TX
  )
  out = head(features, boxes, training=False)
  assert out[PredictionFields.action_logits].shape == (2, 3, 5)
  assert out[PredictionFields.box_encodings].shape == (2, 3, 4)
  assert out[PredictionFields.attention_weights].shape == (2, 3, 2, 2, 4, 5, 6)
  assert out[PredictionFields.attention_key_embeddings].shape == (2, 2, 2, 4, 5, 6, 8)
  tx_features, _ = head.tx_features(features, boxes, training=False)
  tube_features = head.i3d_features(features, boxes, training=False)
  assert tx_features.shape == (2, 3, 16) and tube_features.shape == (2, 3, 18)
  np.testing.assert_allclose(
    out[PredictionFields.action_logits], head.action_logits_layer(tx_features), atol=1e-6
  )
  np.testing.assert_allclose(
    out[PredictionFields.box_encodings], head.box_predictor(tube_features), atol=1e-6
  )
  specific = tx_i3d_head.TxI3DHead(
    num_logits=5, num_box_classes=6, mixed5_block=tiny_mixed5(), tx_config=TX
  )
  assert specific(features, boxes, training=False)[PredictionFields.box_encodings].shape == (
    2,
    3,
    6,
    4,
  )


def test_gradients_reach_every_variable():
  tf.random.set_seed(4)
  features, boxes = inputs()
  head = tx_i3d_head.TxI3DHead(
    num_logits=5,
    mixed5_block=tiny_mixed5(),
    tx_config=dataclasses.replace(TX, query_preprocessor="lowres"),
  )
  variables, gradients = trainable_variables_and_gradients(head, features, boxes)
  # Tx: 8 location + 2 lowres + 4 units x 14; I3D tail: 24; outputs: 4.
  assert len(variables) == 8 + 2 + 4 * 14 + 24 + 4
  assert_every_gradient_nonzero(variables, gradients)


def test_get_config_round_trip():
  features, boxes = inputs()
  head = tx_i3d_head.TxI3DHead(
    num_logits=5,
    num_box_classes=2,
    mixed5_block=tiny_mixed5(),
    i3d_dropout_rate=0.1,
    name="tx_i3d",
    tx_config=TX,
  )
  out = head(features, boxes, training=False)
  config = head.get_config()
  assert config["tx_config"] == dataclasses.asdict(TX)
  assert config["tx_config"]["num_heads"] == 2
  assert config["tx_config"]["query_preprocessor"] == "highres"
  clone = tx_i3d_head.TxI3DHead.from_config(config)
  assert clone.get_config() == config
  clone(features, boxes, training=False)
  clone.set_weights(head.get_weights())
  cloned = clone(features, boxes, training=False)
  for key in out:
    np.testing.assert_allclose(cloned[key], out[key], atol=1e-6)
