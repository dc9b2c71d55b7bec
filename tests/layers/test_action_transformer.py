"""Tests of ava_tx.layers.action_transformer against a plain-NumPy version of the paper."""

import numpy as np
import pytest

from ava_tx.core.standard_fields import PredictionFields
from ava_tx.core.tf_setup import tf
from ava_tx.layers import action_transformer as at
from ava_tx.layers import roi_pooling

# Tiny sizes: batch 2, 3 proposals, trunk map 4x3x5 with 6 channels.
SMALL = dict(
  num_heads=2,
  num_layers=3,
  query_size=8,
  ffn_hidden_size=12,
  highres_reduced_channels=3,
  location_embedding_hidden_size=5,
  location_embedding_size=4,
)


def _head(*, num_logits=5, num_box_classes=None, return_attention=False, name=None, **tx):
  """A head with SMALL sizes (overridden by `tx`), RoIAlign 4x4 max-pooled to 2x2."""
  return at.ActionTransformerHead(
    num_logits=num_logits,
    num_box_classes=num_box_classes,
    crop_size=4,
    pooled_size=2,
    tx_config=at.ActionTransformerHeadConfig(**{**SMALL, **tx}),
    return_attention=return_attention,
    name=name,
  )


def _inputs(seed=0):
  rng = np.random.default_rng(seed)
  features = tf.constant(rng.normal(size=[2, 4, 3, 5, 6]), tf.float32)
  boxes = tf.constant(
    [
      [[0.1, 0.2, 0.6, 0.9], [0.0, 0.0, 1.0, 1.0], [0.5, 0.4, 0.9, 0.6]],
      [[0.3, 0.3, 0.7, 0.5], [0.2, 0.1, 0.4, 0.8], [0.0, 0.0, 0.0, 0.0]],
    ]
  )
  return features, boxes


def _dense(x, layer, relu=False):
  y = x @ layer.kernel.numpy().astype(np.float64) + layer.bias.numpy()
  return np.maximum(y, 0) if relu else y


def _layer_norm(x, layer):
  mean = x.mean(-1, keepdims=True)
  var = ((x - mean) ** 2).mean(-1, keepdims=True)
  return (x - mean) / np.sqrt(var + 1e-6) * layer.gamma.numpy() + layer.beta.numpy()


def _np_tx_unit(query, context, unit):
  """The paper's equations, dropout off: returns (Q'', attention weights)."""
  q = _dense(query, unit.query_projection)
  k = _dense(context, unit.key_projection)
  v = _dense(context, unit.value_projection)
  logits = np.einsum("brd,bxd->brx", q, k) / np.sqrt(q.shape[-1])
  weights = np.exp(logits - logits.max(-1, keepdims=True))
  weights /= weights.sum(-1, keepdims=True)
  a = np.einsum("brx,bxd->brd", weights, v)
  q1 = _layer_norm(q + a, unit.attention_norm)
  ffn = _dense(_dense(q1, unit.ffn_hidden, relu=True), unit.ffn_output)
  return _layer_norm(q1 + ffn, unit.ffn_norm), weights


def test_tx_unit_matches_numpy():
  tf.random.set_seed(1)
  unit = at.TxUnit(query_size=8, ffn_hidden_size=12, dropout_rate=0.3)
  rng = np.random.default_rng(1)
  query = rng.normal(size=[2, 3, 16]).astype(np.float32)
  context = rng.normal(size=[2, 20, 6]).astype(np.float32)
  out, weights = unit(tf.constant(query), tf.constant(context), training=False)
  assert out.shape == (2, 3, 8) and weights.shape == (2, 3, 20)
  expected, expected_weights = _np_tx_unit(query.astype(np.float64), context, unit)
  np.testing.assert_allclose(out, expected, atol=1e-5)
  np.testing.assert_allclose(weights, expected_weights, atol=1e-6)
  np.testing.assert_allclose(weights.numpy().sum(-1), 1.0, atol=1e-6)


@pytest.mark.parametrize("preprocessor", [at.HIGHRES, at.LOWRES])
def test_head_matches_numpy_stack(preprocessor):
  tf.random.set_seed(2)
  head = _head(query_preprocessor=preprocessor, return_attention=True)
  features, boxes = _inputs()
  out = head(features, boxes, training=False)

  # NumPy: location embedding and RoI pooling come from their (separately tested) layers;
  # query preprocessing, every Tx unit, head concatenation and the outputs are recomputed here.
  embedded = head.location_embedding(features).numpy().astype(np.float64)
  pooled = roi_pooling.roi_pool(embedded[:, 2].astype(np.float32), boxes, 4, 2).numpy()
  qp = head.query_preprocessor
  if preprocessor == at.HIGHRES:
    reduced = _dense(pooled.astype(np.float64), qp.reduce, relu=True)
    query = _dense(reduced.reshape(2, 3, -1), qp.project)
  else:
    query = _dense(pooled.astype(np.float64).mean(axis=(2, 3)), qp.project)
  context = embedded.reshape(2, 4 * 3 * 5, -1)
  all_weights = []
  for units in head.tx_units:
    outputs, weights = zip(*[_np_tx_unit(query, context, unit) for unit in units])
    query = np.concatenate(outputs, axis=-1)
    all_weights.append(np.stack(weights, axis=2))
  np.testing.assert_allclose(
    out[PredictionFields.action_logits], _dense(query, head.action_logits_layer), atol=1e-5
  )
  np.testing.assert_allclose(
    out[PredictionFields.box_encodings], _dense(query, head.box_predictor.dense), atol=1e-5
  )
  attention = out[PredictionFields.attention_weights].numpy()
  np.testing.assert_allclose(
    attention.reshape(2, 3, 3, 2, -1), np.stack(all_weights, axis=2), atol=1e-6
  )
  # Keys: each head's own projection of the (location-embedded) context, on the trunk grid.
  keys = out[PredictionFields.attention_key_embeddings].numpy()
  assert keys.shape == (2, 3, 2, 4, 3, 5, 8)  # [b, layers, heads, t, h, w, D]
  for layer, units in enumerate(head.tx_units):
    for h, unit in enumerate(units):
      np.testing.assert_allclose(
        keys[:, layer, h].reshape(2, 60, 8), _dense(context, unit.key_projection), atol=1e-5
      )


def test_output_shapes_attention_and_highres_vs_lowres():
  features, boxes = _inputs()
  shapes = {}
  for preprocessor in (at.HIGHRES, at.LOWRES):
    plain = _head(query_preprocessor=preprocessor)
    # Attention outputs only when asked for (training and evaluation do not pay for them).
    assert set(plain(features, boxes, training=False)) == {
      PredictionFields.action_logits,
      PredictionFields.box_encodings,
    }
    head = _head(query_preprocessor=preprocessor, return_attention=True)
    out = head(features, boxes, training=False)
    assert set(out) == {
      PredictionFields.action_logits,
      PredictionFields.box_encodings,
      PredictionFields.attention_weights,
      PredictionFields.attention_key_embeddings,
    }
    assert out[PredictionFields.action_logits].shape == (2, 3, 5)
    assert out[PredictionFields.box_encodings].shape == (2, 3, 4)
    attention = out[PredictionFields.attention_weights]
    assert attention.shape == (2, 3, 3, 2, 4, 3, 5)  # [b, r, layers, heads, t, h, w]
    np.testing.assert_allclose(tf.reduce_sum(attention, axis=[4, 5, 6]), 1.0, atol=1e-5)
    shapes[preprocessor] = [tuple(v.shape) for v in head.query_preprocessor.trainable_variables]
  # HighRes: 1x1 conv 14 -> 3 channels, then 2x2 cells * 3 -> 8; LowRes: 14 -> 8.
  # (14 = 6 trunk channels + 2 * 4 location channels.)
  assert shapes[at.HIGHRES] == [(14, 3), (3,), (12, 8), (8,)]
  assert shapes[at.LOWRES] == [(14, 8), (8,)]


def test_class_specific_boxes_and_no_location_embedding():
  features, boxes = _inputs()
  head = _head(num_logits=4, num_box_classes=3, use_location_embedding=False)
  out = head(features, boxes, training=False)
  assert out[PredictionFields.box_encodings].shape == (2, 3, 3, 4)
  assert head.location_embedding is None
  assert head.tx_units[0][0].key_projection.kernel.shape == (6, 8)
  assert not any("location" in v.name for v in head.trainable_variables)


def test_get_config_round_trip_reproduces_outputs():
  features, boxes = _inputs()
  head = _head(num_box_classes=2, query_preprocessor=at.LOWRES, dropout_rate=0.1, name="tx")
  out = head(features, boxes, training=False)
  clone = at.ActionTransformerHead.from_config(head.get_config())
  assert clone.get_config() == head.get_config()
  clone(features, boxes, training=False)
  clone.set_weights(head.get_weights())
  cloned = clone(features, boxes, training=False)
  for key in out:
    np.testing.assert_allclose(cloned[key], out[key], atol=1e-6)
  for layer_cls, kwargs in [
    (at.TxUnit, dict(query_size=4, ffn_hidden_size=3, dropout_rate=0.2)),
    (at.HighResQueryPreprocessor, dict(query_size=4, reduced_channels=2)),
    (at.LowResQueryPreprocessor, dict(query_size=4)),
    (at.BoxEncodingPredictor, dict(num_box_classes=7)),
  ]:
    layer = layer_cls(**kwargs)
    assert layer_cls.from_config(layer.get_config()).get_config() == layer.get_config()


@pytest.mark.parametrize("preprocessor", [at.HIGHRES, at.LOWRES])
def test_gradients_reach_every_variable(preprocessor):
  tf.random.set_seed(3)
  features, boxes = _inputs()
  head = _head(query_preprocessor=preprocessor)
  with tf.GradientTape() as tape:
    out = head(features, boxes, training=True)
    loss = tf.reduce_sum(out[PredictionFields.action_logits] ** 2) + tf.reduce_sum(
      out[PredictionFields.box_encodings] ** 2
    )
  variables = head.trainable_variables
  # Location MLPs (2 x 4) + preprocessor + 6 units x (3 projections + 2 FFN + 2 LN) x 2 + outputs.
  assert len(variables) == 8 + (4 if preprocessor == at.HIGHRES else 2) + 6 * 14 + 4
  grads = tape.gradient(loss, variables)
  for var, grad in zip(variables, grads):
    assert grad is not None, var.name
    assert np.abs(grad.numpy()).sum() > 0, var.name


def test_dropout_only_in_training():
  features, boxes = _inputs()
  head = _head(num_layers=1)
  logits = lambda training: head(features, boxes, training=training)[  # noqa: E731
    PredictionFields.action_logits
  ].numpy()
  inference = logits(False)
  np.testing.assert_array_equal(logits(False), inference)
  assert np.abs(logits(True) - inference).max() > 1e-3
  no_dropout = _head(dropout_rate=0.0)
  np.testing.assert_allclose(
    no_dropout(features, boxes, training=True)[PredictionFields.action_logits],
    no_dropout(features, boxes, training=False)[PredictionFields.action_logits],
    atol=1e-6,
  )


def test_rejects_bad_inputs_and_arguments():
  features, boxes = _inputs()
  head = _head()
  with pytest.raises(ValueError, match="num_frames, height, width, channels"):
    head(features[:, 0], boxes, training=False)
  with pytest.raises(ValueError, match="num_proposals, 4"):
    head(features, boxes[..., :3], training=False)
  with pytest.raises(ValueError, match="query_preprocessor"):
    at.ActionTransformerHeadConfig(query_preprocessor="medium")
  with pytest.raises(ValueError, match="num_layers"):
    at.ActionTransformerHeadConfig(num_layers=0)
  with pytest.raises(ValueError, match="num_box_classes"):
    at.ActionTransformerHead(num_logits=5, num_box_classes=0)
