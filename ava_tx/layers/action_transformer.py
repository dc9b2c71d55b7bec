"""The Action Transformer head (paper Section 3.2): query preprocessors, Tx unit, Tx head.

Data flow of `ActionTransformerHead.call(features, proposal_boxes, training=...)`:
  1. Optional `LocationEmbedding`: the trunk map [batch_size, num_frames, height, width,
     channels] gets 2 * location_embedding_size more channels.
  2. Query: RoI pooling (RoIAlign 14x14 -> max-pool 7x7) of each proposal on the temporally
     centre frame num_frames // 2 of that map, then a query preprocessor to query_size (D):
     HighRes (1x1 conv + ReLU to `highres_reduced_channels`, concatenate the 7x7 cells, linear
     to D) or LowRes (spatial average, linear to D).
  3. Context: every cell of the map (num_frames * height * width of them), channels as in 1.
  4. num_layers layers of num_heads `TxUnit`s; the heads' outputs of a layer are concatenated
     (num_heads * D) and are the query of every head of the next layer.
  5. The last layer's concatenated output [batch_size, num_proposals, num_heads * D] goes
     through linear layers to action logits and box encodings.

Tx unit, paper equations, for one head with query Q (D), keys K_x, values V_x (D) of cells x:
    a = sum_x softmax_x(Q . K_x / sqrt(D)) V_x
    Q' = LayerNorm(Q + Dropout(a))
    Q'' = LayerNorm(Q' + Dropout(FFN(Q')))           FFN = Dense(ffn_hidden_size, ReLU) -> Dense(D)

Choices where the paper is silent (Transformer / Faster R-CNN practice):
  * Every head of every layer has its own linear (with bias) query, key and value projections
    (the Transformer's W^Q_i, W^K_i, W^V_i), keys and values computed from the (location-
    embedded) trunk map. The head's query Q is its projection of the incoming query (D from the
    preprocessor in layer 1, num_heads * D afterwards); the residual adds this projected Q.
  * HighRes: the 1x1 conv reduces to highres_reduced_channels = 128 (= D) and is followed by a
    ReLU (as the conv layers of Faster R-CNN box heads are); 7 * 7 * 128 = 6272 -> D linear.
  * FFN hidden size 4 * D = 512 (the Transformer's d_ff = 4 d_model); LayerNorm epsilon 1e-6.
  * Dropout (0.3) exactly where the equations put it (on a and on the FFN output), no dropout on
    the attention weights or the final feature.
  * The query is pooled from the location-embedded map (so the query knows where the person
    is, which lets Q . K depend on the cell's position relative to the person).
  * With return_attention=True (export and visualisation; off in training and evaluation),
    the heads also return the attention: attention_weights float32 [batch_size, num_proposals,
    num_layers, num_heads, num_frames, height, width], each (proposal, layer, head) slice sums
    to 1, and attention_key_embeddings float32 [batch_size, num_layers, num_heads, num_frames,
    height, width, query_size], the projected keys each head attends over.
"""

import dataclasses
import math

from ava_tx.core import standard_fields
from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf
from ava_tx.layers import location_embedding as location_embedding_lib
from ava_tx.layers import roi_pooling

HIGHRES = "highres"
LOWRES = "lowres"
_LAYER_NORM_EPSILON = 1e-6


@dataclasses.dataclass(frozen=True)
class ActionTransformerHeadConfig:
  """The Tx branch's sizes (paper Section 3.2; defaults are the paper's), in one place.

  Built once by `ava_tx.builders.model_builder` from the `ActionTransformerHead` proto and
  given to `ActionTransformerFeatures`, `ActionTransformerHead` and `TxI3DHead`.

  Attributes:
    num_heads, num_layers: Tx units per layer and layers (2 and 3 in the paper).
    query_size: D, the size of a head's query, keys and values (128).
    ffn_hidden_size: hidden units of each unit's feed-forward network (4 * D).
    dropout_rate: dropout on the attention output and the FFN output (0.3).
    query_preprocessor: HIGHRES or LOWRES.
    highres_reduced_channels: channels of HighRes' 1x1 conv before flattening (128).
    use_location_embedding: append the location embedding to the trunk map.
    location_embedding_hidden_size, location_embedding_size: its MLP's hidden and output sizes.
  """

  num_heads: int = 2
  num_layers: int = 3
  query_size: int = 128
  ffn_hidden_size: int = 512
  dropout_rate: float = 0.3
  query_preprocessor: str = HIGHRES
  highres_reduced_channels: int = 128
  use_location_embedding: bool = True
  location_embedding_hidden_size: int = 64
  location_embedding_size: int = 64

  def __post_init__(self):
    if self.query_preprocessor not in (HIGHRES, LOWRES):
      raise ValueError(
        f"query_preprocessor must be {HIGHRES!r} or {LOWRES!r}, got {self.query_preprocessor!r}."
      )
    if self.num_heads < 1 or self.num_layers < 1:
      raise ValueError(
        f"num_heads ({self.num_heads}) and num_layers ({self.num_layers}) must be >= 1."
      )

  @classmethod
  def coerce(cls, value):
    """`value` if already a config, else the config of a dict (as `get_config` writes it)."""
    return value if isinstance(value, cls) else cls(**value)


def scaled_dot_product_attention(query, keys, values):
  """softmax(Q K^T / sqrt(D)) V over all context cells.

  Args:
    query: float32 [batch_size, num_proposals, D].
    keys: float32 [batch_size, num_cells, D].
    values: float32 [batch_size, num_cells, D_v].

  Returns:
    attended: float32 [batch_size, num_proposals, D_v].
    weights: float32 [batch_size, num_proposals, num_cells], rows sum to 1.
    Under mixed precision the inputs and `attended` are in the compute dtype (e.g. bfloat16).
  """
  scale = 1.0 / math.sqrt(query.shape[-1])
  logits = tf.einsum("brd,bxd->brx", query, keys) * scale
  # The softmax runs in float32 (under mixed precision too); the weights are returned so.
  weights = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
  return tf.einsum("brx,bxd->brd", tf.cast(weights, values.dtype), values), weights


class HighResQueryPreprocessor(keras.layers.Layer):
  """1x1 conv (+ReLU) to reduce channels, concatenate the cells, linear to query_size.

  call(pooled): pooled float32 [batch_size, num_proposals, pooled_size, pooled_size, channels]
  -> float32 [batch_size, num_proposals, query_size].
  """

  def __init__(self, *, query_size=128, reduced_channels=128, **kwargs):
    super().__init__(**kwargs)
    self.query_size = query_size
    self.reduced_channels = reduced_channels
    self.reduce = keras.layers.Dense(reduced_channels, activation="relu", name="reduce_1x1")
    self.project = keras.layers.Dense(query_size, name="project")

  def call(self, pooled):
    if pooled.shape.rank != 5 or pooled.shape[2] is None or pooled.shape[3] is None:
      raise ValueError(
        "HighResQueryPreprocessor expects [batch_size, num_proposals, pooled_size, "
        f"pooled_size, channels] with static pooled_size, got shape {pooled.shape}."
      )
    cells = pooled.shape[2] * pooled.shape[3]
    reduced = self.reduce(pooled)
    shape = tf.shape(reduced)
    flat = tf.reshape(reduced, [shape[0], shape[1], cells * self.reduced_channels])
    return self.project(flat)

  def get_config(self):
    config = super().get_config()
    config.update(query_size=self.query_size, reduced_channels=self.reduced_channels)
    return config


class LowResQueryPreprocessor(keras.layers.Layer):
  """Spatial average of the pooled cells, linear to query_size.

  call(pooled): pooled float32 [batch_size, num_proposals, pooled_size, pooled_size, channels]
  -> float32 [batch_size, num_proposals, query_size].
  """

  def __init__(self, *, query_size=128, **kwargs):
    super().__init__(**kwargs)
    self.query_size = query_size
    self.project = keras.layers.Dense(query_size, name="project")

  def call(self, pooled):
    if pooled.shape.rank != 5:
      raise ValueError(
        "LowResQueryPreprocessor expects [batch_size, num_proposals, pooled_size, "
        f"pooled_size, channels], got shape {pooled.shape}."
      )
    return self.project(tf.reduce_mean(pooled, axis=[2, 3]))

  def get_config(self):
    config = super().get_config()
    config.update(query_size=self.query_size)
    return config


class TxUnit(keras.layers.Layer):
  """One head of one layer of the Action Transformer (equations in the module docstring).

  call(query, context, *, training):
    query: float32 [batch_size, num_proposals, query_channels] (any query_channels).
    context: float32 [batch_size, num_cells, channels], the flattened trunk map.
    Returns (output float32 [batch_size, num_proposals, query_size],
             weights float32 [batch_size, num_proposals, num_cells], rows sum to 1).
  """

  def __init__(self, *, query_size=128, ffn_hidden_size=512, dropout_rate=0.3, **kwargs):
    super().__init__(**kwargs)
    self.query_size = query_size
    self.ffn_hidden_size = ffn_hidden_size
    self.dropout_rate = dropout_rate
    self.query_projection = keras.layers.Dense(query_size, name="query")
    self.key_projection = keras.layers.Dense(query_size, name="key")
    self.value_projection = keras.layers.Dense(query_size, name="value")
    self.attention_dropout = keras.layers.Dropout(dropout_rate)
    self.attention_norm = keras.layers.LayerNormalization(
      epsilon=_LAYER_NORM_EPSILON, name="attention_layer_norm"
    )
    self.ffn_hidden = keras.layers.Dense(ffn_hidden_size, activation="relu", name="ffn_hidden")
    self.ffn_output = keras.layers.Dense(query_size, name="ffn_output")
    self.ffn_dropout = keras.layers.Dropout(dropout_rate)
    self.ffn_norm = keras.layers.LayerNormalization(
      epsilon=_LAYER_NORM_EPSILON, name="ffn_layer_norm"
    )

  def call(self, query, context, *, training):
    if query.shape.rank != 3 or context.shape.rank != 3:
      raise ValueError(
        "TxUnit expects query [batch_size, num_proposals, query_channels] and context "
        f"[batch_size, num_cells, channels], got {query.shape} and {context.shape}."
      )
    q = self.query_projection(query)
    attended, weights = scaled_dot_product_attention(
      q, self.key_projection(context), self.value_projection(context)
    )
    q = self.attention_norm(q + self.attention_dropout(attended, training=training))
    ffn = self.ffn_output(self.ffn_hidden(q))
    q = self.ffn_norm(q + self.ffn_dropout(ffn, training=training))
    return q, weights

  def get_config(self):
    config = super().get_config()
    config.update(
      query_size=self.query_size,
      ffn_hidden_size=self.ffn_hidden_size,
      dropout_rate=self.dropout_rate,
    )
    return config


class BoxEncodingPredictor(keras.layers.Layer):
  """Linear box regression, class-agnostic or class-specific.

  call(features): features float32 [batch_size, num_proposals, channels] ->
    float32 [batch_size, num_proposals, 4] when num_box_classes is None (class-agnostic), else
    float32 [batch_size, num_proposals, num_box_classes, 4].
  """

  def __init__(self, *, num_box_classes=None, box_code_size=4, **kwargs):
    super().__init__(**kwargs)
    if num_box_classes is not None and num_box_classes < 1:
      raise ValueError(f"num_box_classes must be None or >= 1, got {num_box_classes}.")
    self.num_box_classes = num_box_classes
    self.box_code_size = box_code_size
    # float32 outputs under mixed precision (the losses and box decoding need them).
    self.dense = keras.layers.Dense(
      (num_box_classes or 1) * box_code_size, name="box", dtype="float32"
    )

  def call(self, features):
    encodings = self.dense(features)
    if self.num_box_classes is None:
      return encodings
    shape = tf.shape(features)
    return tf.reshape(encodings, [shape[0], shape[1], self.num_box_classes, self.box_code_size])

  def get_config(self):
    config = super().get_config()
    config.update(num_box_classes=self.num_box_classes, box_code_size=self.box_code_size)
    return config


class PredictionLayers:
  """Mixin of every head's output layers (the Action Transformer, I3D and Tx+I3D heads).

  `_build_prediction_layers(num_logits, num_box_classes)` makes `action_logits_layer`, a Dense
  of num_logits float32 logits (float32 under mixed precision, see ava_tx/core/precision.py), and
  `box_predictor`, a BoxEncodingPredictor. `_predictions(action_features, box_features,
  attention)`, features float32 [batch_size, num_proposals, channels], returns the
  PredictionFields dict (shapes in ActionTransformerHead). `_prediction_config()` is their part
  of get_config.
  """

  def _build_prediction_layers(self, num_logits, num_box_classes):
    self.num_logits = num_logits
    self.num_box_classes = num_box_classes
    self.action_logits_layer = keras.layers.Dense(num_logits, name="action_logits", dtype="float32")
    self.box_predictor = BoxEncodingPredictor(num_box_classes=num_box_classes, name="box_predictor")

  def _predictions(self, action_features, box_features, attention=None) -> dict:
    fields = standard_fields.PredictionFields
    return {
      fields.action_logits: self.action_logits_layer(action_features),
      fields.box_encodings: self.box_predictor(box_features),
      **(attention or {}),
    }

  def _prediction_config(self) -> dict:
    return dict(num_logits=self.num_logits, num_box_classes=self.num_box_classes)


def check_head_inputs(features, proposal_boxes, head_name):
  """Raises ValueError unless features is [batch_size, num_frames, height, width, channels]
  (static channels) and proposal_boxes is [batch_size, num_proposals, 4]."""
  if features.shape.rank != 5:
    raise ValueError(
      f"{head_name}: features must be [batch_size, num_frames, height, width, channels], "
      f"got shape {features.shape}."
    )
  if features.shape[-1] is None:
    raise ValueError(f"{head_name}: features must have a static channels dimension.")
  if proposal_boxes.shape.rank != 3 or proposal_boxes.shape[-1] != 4:
    raise ValueError(
      f"{head_name}: proposal_boxes must be [batch_size, num_proposals, 4], got shape "
      f"{proposal_boxes.shape}."
    )


class ActionTransformerFeatures(keras.layers.Layer):
  """Steps 1-4 of the module docstring: the Tx feature of each proposal and the attention.

  Constructor (keyword-only):
    tx_config: an `ActionTransformerHeadConfig` (or its `dataclasses.asdict`), the Tx sizes.
    crop_size, pooled_size: the query's RoI pooling (RoIAlign crop_size, then max-pool to
      pooled_size: 14 and 7).
    return_attention: also return the attention weights and keys (export, visualisation).
    **kwargs: keras.layers.Layer arguments (name, dtype, ...).

  call(features, proposal_boxes, *, training):
    features: float32 [batch_size, num_frames, height, width, channels].
    proposal_boxes: float32 [batch_size, num_proposals, 4], normalized.
    Returns (float32 [batch_size, num_proposals, num_heads * query_size], attention), where
    attention is {} unless return_attention, else a dict keyed by PredictionFields:
      attention_weights: float32 [batch_size, num_proposals, num_layers, num_heads,
        num_frames, height, width];
      attention_key_embeddings: float32 [batch_size, num_layers, num_heads, num_frames,
        height, width, query_size].
  """

  def __init__(
    self,
    *,
    tx_config=ActionTransformerHeadConfig(),
    crop_size=14,
    pooled_size=7,
    return_attention=False,
    **kwargs,
  ):
    super().__init__(**kwargs)
    tx = self.tx_config = ActionTransformerHeadConfig.coerce(tx_config)
    self.num_heads = tx.num_heads
    self.num_layers = tx.num_layers
    self.query_size = tx.query_size
    self.crop_size = crop_size
    self.pooled_size = pooled_size
    self.return_attention = bool(return_attention)

    self.location_embedding = None
    if tx.use_location_embedding:
      self.location_embedding = location_embedding_lib.LocationEmbedding(
        hidden_size=tx.location_embedding_hidden_size,
        output_size=tx.location_embedding_size,
        name="location_embedding",
      )
    self.roi_pooling = roi_pooling.RoIPooling(
      crop_size=crop_size, pooled_size=pooled_size, name="query_roi_pooling"
    )
    if tx.query_preprocessor == HIGHRES:
      self.query_preprocessor = HighResQueryPreprocessor(
        query_size=tx.query_size,
        reduced_channels=tx.highres_reduced_channels,
        name="highres_query_preprocessor",
      )
    else:
      self.query_preprocessor = LowResQueryPreprocessor(
        query_size=tx.query_size, name="lowres_query_preprocessor"
      )
    self.tx_units = [
      [
        TxUnit(
          query_size=tx.query_size,
          ffn_hidden_size=tx.ffn_hidden_size,
          dropout_rate=tx.dropout_rate,
          name=f"tx_layer{layer}_head{head}",
        )
        for head in range(tx.num_heads)
      ]
      for layer in range(tx.num_layers)
    ]

  @property
  def output_size(self):
    return self.num_heads * self.query_size

  def call(self, features, proposal_boxes, *, training):
    check_head_inputs(features, proposal_boxes, type(self).__name__)
    if self.location_embedding is not None:
      features = self.location_embedding(features)
    shape = tf.shape(features)
    batch_size, num_frames, height, width = shape[0], shape[1], shape[2], shape[3]
    channels = features.shape[-1]

    centre_frame = tf.gather(features, num_frames // 2, axis=1)
    pooled = self.roi_pooling(centre_frame, proposal_boxes)
    query = self.query_preprocessor(pooled)
    context = tf.reshape(features, [batch_size, num_frames * height * width, channels])

    weights = []
    for layer_units in self.tx_units:
      outputs, layer_weights = zip(
        *[unit(query, context, training=training) for unit in layer_units]
      )
      query = tf.concat(outputs, axis=-1) if len(outputs) > 1 else outputs[0]
      weights.append(layer_weights)
    if not self.return_attention:
      return query, {}
    layers_heads = [self.num_layers, self.num_heads]
    attention = tf.stack([tf.stack(w, axis=2) for w in weights], axis=2)  # [b, n, L, H, cells]
    attention = tf.reshape(
      attention, [batch_size, tf.shape(proposal_boxes)[1], *layers_heads, num_frames, height, width]
    )
    # The keys each head attends over (its own projection of the context).
    keys = tf.stack(
      [
        tf.stack([unit.key_projection(context) for unit in units], axis=1)
        for units in self.tx_units
      ],
      axis=1,
    )  # [b, L, H, cells, D]
    keys = tf.reshape(keys, [batch_size, *layers_heads, num_frames, height, width, self.query_size])
    fields = standard_fields.PredictionFields
    return query, {fields.attention_weights: attention, fields.attention_key_embeddings: keys}

  def get_config(self):
    config = super().get_config()
    config.update(
      tx_config=dataclasses.asdict(self.tx_config),
      crop_size=self.crop_size,
      pooled_size=self.pooled_size,
      return_attention=self.return_attention,
    )
    return config


class ActionTransformerHead(PredictionLayers, ActionTransformerFeatures):
  """The Tx head: `ActionTransformerFeatures`, then linear action logits and box encodings.

  Constructor: the keyword arguments of ActionTransformerFeatures, plus
    num_logits: int, action logits per proposal (the meta-architecture passes num_classes + 1
      with a background logit).
    num_box_classes: None for class-agnostic boxes, else int for class-specific boxes.

  call(features, proposal_boxes, *, training) -> dict keyed by PredictionFields:
    action_logits: float32 [batch_size, num_proposals, num_logits].
    box_encodings: float32 [batch_size, num_proposals, 4] (class-agnostic) or
      [batch_size, num_proposals, num_box_classes, 4].
    attention_weights, attention_key_embeddings: only with return_attention=True (shapes in
      ActionTransformerFeatures).
  """

  def __init__(self, *, num_logits, num_box_classes=None, **kwargs):
    super().__init__(**kwargs)
    self._build_prediction_layers(num_logits, num_box_classes)

  def call(self, features, proposal_boxes, *, training):
    tx_features, attention = super().call(features, proposal_boxes, training=training)
    return self._predictions(tx_features, tx_features, attention)

  def get_config(self):
    return {**super().get_config(), **self._prediction_config()}
