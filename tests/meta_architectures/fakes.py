"""Tiny fake trunk and head for meta-architecture tests (fast, deterministic given a seed)."""

from ava_tx.core import standard_fields
from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf

PredictionFields = standard_fields.PredictionFields


class FakeTrunk(keras.layers.Layer):
  """[b, t, h, w, 3] -> {"Mixed_4f": [b, t/2, h/16, w/16, channels]} via pooling and a Dense."""

  def __init__(self, channels=8, **kwargs):
    super().__init__(**kwargs)
    self.pool = keras.layers.AveragePooling3D(pool_size=(2, 16, 16), padding="same")
    self.dense = keras.layers.Dense(channels, activation="relu")
    self.norm = keras.layers.BatchNormalization()

  def call(self, inputs, training=None):
    x = self.dense(self.pool(inputs))
    return {"Mixed_4f": self.norm(x, training=training)}


class FakeHead(keras.layers.Layer):
  """Crops the centre frame per proposal (2x2), concatenates the box, Dense layers to outputs."""

  def __init__(self, num_logits, num_box_classes=None, with_attention=False, **kwargs):
    super().__init__(**kwargs)
    self.num_logits = num_logits
    self.num_box_classes = num_box_classes
    self.with_attention = with_attention
    self.hidden = keras.layers.Dense(32, activation="relu")
    self.logits = keras.layers.Dense(num_logits)
    self.boxes = keras.layers.Dense(4 * (num_box_classes or 1))

  def call(self, features, proposal_boxes, *, training):
    b = tf.shape(proposal_boxes)[0]
    n = tf.shape(proposal_boxes)[1]
    centre = tf.gather(features, tf.shape(features)[1] // 2, axis=1)
    flat_boxes = tf.reshape(proposal_boxes, [-1, 4])
    box_index = tf.repeat(tf.range(b), n)
    crops = tf.image.crop_and_resize(centre, flat_boxes, box_index, [2, 2])
    x = tf.concat([tf.reshape(crops, [-1, 4 * features.shape[-1]]), flat_boxes], axis=-1)
    x = self.hidden(x)
    logits = tf.reshape(self.logits(x), [b, n, self.num_logits])
    if self.num_box_classes:
      boxes = tf.reshape(self.boxes(x), [b, n, self.num_box_classes, 4])
    else:
      boxes = tf.reshape(self.boxes(x), [b, n, 4])
    out = {PredictionFields.action_logits: logits, PredictionFields.box_encodings: boxes}
    if self.with_attention:
      shape = tf.shape(features)
      out[PredictionFields.attention_weights] = tf.ones(
        [b, n, 1, 1, shape[1], shape[2], shape[3]]
      ) / tf.cast(shape[1] * shape[2] * shape[3], tf.float32)
    return out
