"""The building blocks of the Keras I3D (`ava_tx.trunks.i3d`), as DeepMind's kinetics-i3d:

Unit3D: Conv3D without bias -> batch norm without scale (epsilon 1e-3) -> ReLU.
InceptionBlock: an Inception "Mixed" block, four branches (1x1; 1x1 -> 3x3x3; 1x1 -> 3x3x3;
3x3x3 max pool -> 1x1) concatenated along channels.
Variable names follow DeepMind's checkpoint (`named_variables`), so that its weights load.
"""

from typing import NamedTuple

from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf
from ava_tx.trunks.i3d_ops import Conv3D
from ava_tx.trunks.i3d_ops import SpaceToDepthConv3D
from ava_tx.trunks.i3d_ops import max_pool_class

# Sonnet 1 snt.BatchNorm defaults, which DeepMind's Unit3D uses (no scale, offset, eps 1e-3,
# decay 0.999).
BATCH_NORM_EPSILON = 1e-3
BATCH_NORM_MOMENTUM = 0.999


class BranchFilters(NamedTuple):
  """Output channels of the Inception branches.

  Branch_0: 1x1 (b0). Branch_1: 1x1 (b1a) -> 3x3x3 (b1b). Branch_2: 1x1 (b2a) -> 3x3x3 (b2b).
  Branch_3: 3x3x3 stride-1 max pool -> 1x1 (b3).
  """

  b0: int
  b1a: int
  b1b: int
  b2a: int
  b2b: int
  b3: int


class Unit3D(keras.layers.Layer):
  """Conv3D (no bias, TF 'SAME') -> batch norm without scale -> ReLU, as DeepMind's Unit3D.

  Input float32 [batch_size, num_frames, height, width, channels]; output float32
  [batch_size, ceil(num_frames / st), ceil(height / sh), ceil(width / sw), filters].
  """

  def __init__(
    self,
    *,
    filters: int,
    kernel_size,
    strides=(1, 1, 1),
    freeze_batch_norm: bool = False,
    space_to_depth: bool = False,
    **kwargs,
  ):
    super().__init__(**kwargs)
    self._filters = int(filters)
    self._kernel_size = tuple(int(k) for k in kernel_size)
    self._strides = tuple(int(s) for s in strides)
    self._freeze_batch_norm = bool(freeze_batch_norm)
    self._space_to_depth = bool(space_to_depth)
    conv_class = SpaceToDepthConv3D if self._space_to_depth else Conv3D
    self.conv_3d = conv_class(
      self._filters,
      self._kernel_size,
      strides=self._strides,
      padding="same",
      use_bias=False,
      name="conv_3d",
    )
    self.batch_norm = keras.layers.BatchNormalization(
      axis=-1,
      momentum=BATCH_NORM_MOMENTUM,
      epsilon=BATCH_NORM_EPSILON,
      center=True,
      scale=False,
      name="batch_norm",
    )

  def build(self, input_shape):
    input_shape = tf.TensorShape(input_shape)
    self.conv_3d.build(input_shape)
    self.batch_norm.build(self.conv_3d.compute_output_shape(input_shape))
    super().build(input_shape)

  def call(self, inputs, training=None):
    # Frozen: always normalise with the moving statistics and never update them (the paper
    # fine-tunes I3D this way); beta stays trainable.
    bn_training = False if self._freeze_batch_norm else training
    net = self.conv_3d(inputs)
    net = self.batch_norm(net, training=bn_training)
    return tf.nn.relu(net)

  def compute_output_shape(self, input_shape):
    return self.conv_3d.compute_output_shape(tf.TensorShape(input_shape))

  def named_variables(self) -> dict[str, tf.Variable]:
    """Returns {'conv_3d/w', 'batch_norm/beta', 'batch_norm/moving_mean', ...: variable}."""
    return {
      "conv_3d/w": self.conv_3d.kernel,
      "batch_norm/beta": self.batch_norm.beta,
      "batch_norm/moving_mean": self.batch_norm.moving_mean,
      "batch_norm/moving_variance": self.batch_norm.moving_variance,
    }

  def get_config(self):
    config = super().get_config()
    config.update(
      filters=self._filters,
      kernel_size=self._kernel_size,
      strides=self._strides,
      freeze_batch_norm=self._freeze_batch_norm,
      space_to_depth=self._space_to_depth,
    )
    return config


class InceptionBlock(keras.layers.Layer):
  """One Inception "Mixed" block: four branches concatenated along channels.

  Input float32 [batch_size, num_frames, height, width, channels]; output float32
  [batch_size, num_frames, height, width, b0 + b1b + b2b + b3] (all stride 1, 'SAME').
  """

  def __init__(
    self,
    *,
    branch_filters,
    freeze_batch_norm: bool = False,
    separable_max_pool: bool = False,
    **kwargs,
  ):
    super().__init__(**kwargs)
    self._branch_filters = BranchFilters(*(int(c) for c in branch_filters))
    self._freeze_batch_norm = bool(freeze_batch_norm)
    self._separable_max_pool = bool(separable_max_pool)
    f = self._branch_filters
    unit = lambda filters, k, name: Unit3D(  # noqa: E731
      filters=filters, kernel_size=(k, k, k), freeze_batch_norm=freeze_batch_norm, name=name
    )
    self.branch_0_0a_1x1 = unit(f.b0, 1, "Branch_0_Conv3d_0a_1x1")
    self.branch_1_0a_1x1 = unit(f.b1a, 1, "Branch_1_Conv3d_0a_1x1")
    self.branch_1_0b_3x3 = unit(f.b1b, 3, "Branch_1_Conv3d_0b_3x3")
    self.branch_2_0a_1x1 = unit(f.b2a, 1, "Branch_2_Conv3d_0a_1x1")
    self.branch_2_0b_3x3 = unit(f.b2b, 3, "Branch_2_Conv3d_0b_3x3")
    self.branch_3_0a_3x3 = max_pool_class(separable_max_pool)(
      pool_size=(3, 3, 3), strides=(1, 1, 1), padding="same", name="Branch_3_MaxPool3d_0a_3x3"
    )
    self.branch_3_0b_1x1 = unit(f.b3, 1, "Branch_3_Conv3d_0b_1x1")

  def _units(self) -> dict[str, Unit3D]:
    return {
      "Branch_0/Conv3d_0a_1x1": self.branch_0_0a_1x1,
      "Branch_1/Conv3d_0a_1x1": self.branch_1_0a_1x1,
      "Branch_1/Conv3d_0b_3x3": self.branch_1_0b_3x3,
      "Branch_2/Conv3d_0a_1x1": self.branch_2_0a_1x1,
      "Branch_2/Conv3d_0b_3x3": self.branch_2_0b_3x3,
      "Branch_3/Conv3d_0b_1x1": self.branch_3_0b_1x1,
    }

  def build(self, input_shape):
    input_shape = tf.TensorShape(input_shape)
    self.branch_0_0a_1x1.build(input_shape)
    self.branch_1_0a_1x1.build(input_shape)
    self.branch_1_0b_3x3.build(self.branch_1_0a_1x1.compute_output_shape(input_shape))
    self.branch_2_0a_1x1.build(input_shape)
    self.branch_2_0b_3x3.build(self.branch_2_0a_1x1.compute_output_shape(input_shape))
    self.branch_3_0b_1x1.build(input_shape)
    super().build(input_shape)

  def call(self, inputs, training=None):
    branch_0 = self.branch_0_0a_1x1(inputs, training=training)
    branch_1 = self.branch_1_0a_1x1(inputs, training=training)
    branch_1 = self.branch_1_0b_3x3(branch_1, training=training)
    branch_2 = self.branch_2_0a_1x1(inputs, training=training)
    branch_2 = self.branch_2_0b_3x3(branch_2, training=training)
    branch_3 = self.branch_3_0a_3x3(inputs)
    branch_3 = self.branch_3_0b_1x1(branch_3, training=training)
    return tf.concat([branch_0, branch_1, branch_2, branch_3], axis=-1)

  def compute_output_shape(self, input_shape):
    f = self._branch_filters
    return tf.TensorShape(input_shape)[:-1].concatenate([f.b0 + f.b1b + f.b2b + f.b3])

  def named_variables(self) -> dict[str, tf.Variable]:
    """Returns {'Branch_1/Conv3d_0b_3x3/conv_3d/w': variable, ...} for all six units."""
    return {
      f"{unit_name}/{var_name}": var
      for unit_name, unit in self._units().items()
      for var_name, var in unit.named_variables().items()
    }

  def get_config(self):
    config = super().get_config()
    config.update(
      branch_filters=tuple(self._branch_filters),
      freeze_batch_norm=self._freeze_batch_norm,
      separable_max_pool=self._separable_max_pool,
    )
    return config
