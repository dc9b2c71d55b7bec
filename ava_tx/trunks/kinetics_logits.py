"""DeepMind's I3D Kinetics classifier, the optional `Logits` endpoint of `ava_tx.trunks.i3d`."""

from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf

LOGITS_ENDPOINT = "Logits"
KINETICS_NUM_CLASSES = 400
# DeepMind's classifier pools 2 x 7 x 7 (time, height, width) with stride 1, 'VALID'.
LOGITS_POOL_SIZE = (2, 7, 7)


class KineticsLogits(keras.layers.Layer):
  """DeepMind's I3D Kinetics classifier (the `Logits` endpoint after Mixed_5c).

  2 x 7 x 7 average pool (stride 1, 'VALID') -> dropout (identity at inference) -> 1x1x1 conv
  with bias, no batch norm, no ReLU -> mean over time. DeepMind squeezes the spatial axes, which
  are 1 x 1 for 224 x 224 clips; here they are averaged too (the same at 224, and defined for
  larger frames: the mean of the per-position logits).

  Input float32 [batch_size, num_frames, height, width, channels] with num_frames >= 2 and
  height, width >= 7 (Mixed_5c of >= 9 frames at >= 224 x 224); output float32
  [batch_size, num_classes] logits.
  """

  def __init__(
    self, *, num_classes: int = KINETICS_NUM_CLASSES, dropout_rate: float = 0.0, **kwargs
  ):
    kwargs.setdefault("name", LOGITS_ENDPOINT)
    super().__init__(**kwargs)
    self._num_classes = int(num_classes)
    self._dropout_rate = float(dropout_rate)
    self.dropout = keras.layers.Dropout(self._dropout_rate)
    self.conv_3d = keras.layers.Conv3D(self._num_classes, (1, 1, 1), use_bias=True, name="conv_3d")

  def build(self, input_shape):
    input_shape = tf.TensorShape(input_shape)
    self.conv_3d.build(input_shape)
    super().build(input_shape)

  def _check_input_shape(self, shape):
    shape = tf.TensorShape(shape)
    too_small = [d is not None and d < p for d, p in zip(shape[1:4], LOGITS_POOL_SIZE)]
    if shape.rank != 5 or any(too_small):
      raise ValueError(
        "KineticsLogits expects Mixed_5c features [batch_size, num_frames >= 2, "
        f"height >= 7, width >= 7, channels], got shape {shape}: feed at least "
        "9 frames of 224 x 224 to the I3D."
      )

  def call(self, inputs, training=None):
    self._check_input_shape(inputs.shape)
    net = tf.nn.avg_pool3d(inputs, [1, *LOGITS_POOL_SIZE, 1], [1, 1, 1, 1, 1], "VALID")
    net = self.dropout(net, training=training)
    net = self.conv_3d(net)
    return tf.reduce_mean(net, axis=[1, 2, 3])

  def compute_output_shape(self, input_shape):
    return tf.TensorShape([tf.TensorShape(input_shape)[0], self._num_classes])

  def named_variables(self) -> dict[str, tf.Variable]:
    """Returns {'Conv3d_0c_1x1/conv_3d/w': kernel, 'Conv3d_0c_1x1/conv_3d/b': bias}."""
    return {
      "Conv3d_0c_1x1/conv_3d/w": self.conv_3d.kernel,
      "Conv3d_0c_1x1/conv_3d/b": self.conv_3d.bias,
    }

  def get_config(self):
    config = super().get_config()
    config.update(num_classes=self._num_classes, dropout_rate=self._dropout_rate)
    return config
