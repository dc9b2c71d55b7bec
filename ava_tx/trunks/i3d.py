"""Keras I3D (Inflated Inception-V1) reproducing DeepMind's kinetics-i3d `InceptionI3d`.

Carreira & Zisserman, "Quo Vadis, Action Recognition?", CVPR 2017. The layout (endpoint names,
channel counts, kernel sizes, strides, TF 'SAME' padding, batch norm without scale and with
epsilon 1e-3) follows DeepMind's released model so that its Kinetics checkpoints load exactly
(see `ava_tx.trunks.i3d_checkpoint`).

Endpoints, in order (channels at depth_multiplier 1; strides relative to the input clip as
(temporal, spatial)):

  Conv3d_1a_7x7      64   (2, 2)     Mixed_4b     512  (4, 16)
  MaxPool3d_2a_3x3   64   (2, 4)     Mixed_4c     512  (4, 16)
  Conv3d_2b_1x1      64   (2, 4)     Mixed_4d     512  (4, 16)
  Conv3d_2c_3x3     192   (2, 4)     Mixed_4e     528  (4, 16)
  MaxPool3d_3a_3x3  192   (2, 8)     Mixed_4f     832  (4, 16)
  Mixed_3b          256   (2, 8)     MaxPool3d_5a_2x2  832  (8, 32)
  Mixed_3c          480   (2, 8)     Mixed_5b     832  (8, 32)
  MaxPool3d_4a_3x3  480   (4, 16)    Mixed_5c    1024  (8, 32)

The paper's "Mixed_5a" is MaxPool3d_5a_2x2. The Action Transformer uses the trunk
Conv3d_1a_7x7..Mixed_4f; its I3D head uses the tail MaxPool3d_5a_2x2..Mixed_5c.

An optional last endpoint, `Logits` (final_endpoint="Logits"), is DeepMind's Kinetics
classifier (`KineticsLogits`): [batch_size, num_classes] logits, so that a converted checkpoint
can be checked on a real clip (data_tools.classify_kinetics).

Variables are named as in DeepMind's checkpoint (relative to `RGB/inception_i3d/`), e.g.
`Mixed_4f/Branch_1/Conv3d_0b_3x3/conv_3d/w`, see `InceptionI3D.named_variables`. The one naming
irregularity of the release (Mixed_5b/Branch_2/Conv3d_0a_3x3) is NOT reproduced here: every
block uses Conv3d_0b_3x3 and the checkpoint converter maps the odd name explicitly.

The blocks (Unit3D, InceptionBlock) are in `ava_tx.trunks.i3d_blocks`, re-exported here.
"""

import dataclasses
import math
from typing import NamedTuple

from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf
from ava_tx.trunks import kinetics_logits
from ava_tx.trunks.i3d_blocks import BranchFilters
from ava_tx.trunks.i3d_blocks import InceptionBlock
from ava_tx.trunks.i3d_blocks import Unit3D
from ava_tx.trunks.i3d_ops import SeparableMaxPool3D  # noqa: F401 (part of this module's API)
from ava_tx.trunks.i3d_ops import SpaceToDepthConv3D  # noqa: F401 (part of this module's API)
from ava_tx.trunks.i3d_ops import max_pool_class


class _Unit(NamedTuple):
  filters: int
  kernel_size: tuple[int, int, int]
  strides: tuple[int, int, int]


class _Pool(NamedTuple):
  pool_size: tuple[int, int, int]
  strides: tuple[int, int, int]


# DeepMind kinetics-i3d i3d.py, InceptionI3d._build, in order.
ARCHITECTURE = {
  "Conv3d_1a_7x7": _Unit(64, (7, 7, 7), (2, 2, 2)),
  "MaxPool3d_2a_3x3": _Pool((1, 3, 3), (1, 2, 2)),
  "Conv3d_2b_1x1": _Unit(64, (1, 1, 1), (1, 1, 1)),
  "Conv3d_2c_3x3": _Unit(192, (3, 3, 3), (1, 1, 1)),
  "MaxPool3d_3a_3x3": _Pool((1, 3, 3), (1, 2, 2)),
  "Mixed_3b": BranchFilters(64, 96, 128, 16, 32, 32),
  "Mixed_3c": BranchFilters(128, 128, 192, 32, 96, 64),
  "MaxPool3d_4a_3x3": _Pool((3, 3, 3), (2, 2, 2)),
  "Mixed_4b": BranchFilters(192, 96, 208, 16, 48, 64),
  "Mixed_4c": BranchFilters(160, 112, 224, 24, 64, 64),
  "Mixed_4d": BranchFilters(128, 128, 256, 24, 64, 64),
  "Mixed_4e": BranchFilters(112, 144, 288, 32, 64, 64),
  "Mixed_4f": BranchFilters(256, 160, 320, 32, 128, 128),
  "MaxPool3d_5a_2x2": _Pool((2, 2, 2), (2, 2, 2)),
  "Mixed_5b": BranchFilters(256, 160, 320, 32, 128, 128),
  "Mixed_5c": BranchFilters(384, 192, 384, 48, 128, 128),
}
ENDPOINTS = tuple(ARCHITECTURE)
INPUT_CHANNELS = 3  # RGB.
# The optional classifier after Mixed_5c; not a feature map, so not in ENDPOINTS.
LOGITS_ENDPOINT = kinetics_logits.LOGITS_ENDPOINT
KINETICS_NUM_CLASSES = kinetics_logits.KINETICS_NUM_CLASSES
KineticsLogits = kinetics_logits.KineticsLogits


@dataclasses.dataclass(frozen=True)
class EndpointSpec:
  """Static description of one endpoint's output, so that heads can size themselves.

  Attributes:
    channels: number of output channels (after depth_multiplier / min_depth).
    temporal_stride: input frames per output frame, relative to the clip fed to a full I3D.
    spatial_stride: input pixels per output pixel (height and width), same reference.
  """

  channels: int
  temporal_stride: int
  spatial_stride: int


def scaled_depth(channels: int, depth_multiplier: float, min_depth: int) -> int:
  """Returns max(int(channels * depth_multiplier), min_depth), the channel rule for small models."""
  return max(int(channels * depth_multiplier), min_depth)


def endpoint_specs(
  *, depth_multiplier: float = 1.0, min_depth: int = 16
) -> dict[str, EndpointSpec]:
  """Returns EndpointSpec for every endpoint of a full I3D, in network order."""
  specs = {}
  channels, t_stride, s_stride = INPUT_CHANNELS, 1, 1
  for name, spec in ARCHITECTURE.items():
    if isinstance(spec, _Unit):
      channels = scaled_depth(spec.filters, depth_multiplier, min_depth)
    elif isinstance(spec, BranchFilters):
      channels = sum(
        scaled_depth(c, depth_multiplier, min_depth) for c in (spec.b0, spec.b1b, spec.b2b, spec.b3)
      )
    t_stride *= _strides(spec)[0]
    s_stride *= _strides(spec)[1]
    specs[name] = EndpointSpec(channels, t_stride, s_stride)
  return specs


def _strides(spec) -> tuple[int, int, int]:
  """Strides of one block (Inception blocks are stride 1)."""
  return (1, 1, 1) if isinstance(spec, BranchFilters) else spec.strides


def _same_output_size(size, stride):
  """Output length of a TF 'SAME' conv/pool along one axis (None stays None)."""
  return None if size is None else int(math.ceil(size / stride))


def _check_endpoint(arg_name: str, value: str, allow_logits: bool = False) -> int:
  """Index of endpoint `value` in ENDPOINTS (+ LOGITS_ENDPOINT last, if `allow_logits`)."""
  names = ENDPOINTS + ((LOGITS_ENDPOINT,) if allow_logits else ())
  if value not in names:
    raise ValueError(f"{arg_name}={value!r} is not an I3D endpoint; expected one of {list(names)}.")
  return names.index(value)


def _check_arguments(first_endpoint, final_endpoint, depth_multiplier, min_depth):
  """Indices of the first and final endpoints; ValueError unless they are endpoints in that
  order, depth_multiplier > 0 and min_depth >= 1."""
  first = _check_endpoint("first_endpoint", first_endpoint)
  final = _check_endpoint("final_endpoint", final_endpoint, allow_logits=True)
  if first > final:
    raise ValueError(
      f"first_endpoint={first_endpoint!r} comes after final_endpoint={final_endpoint!r} in the I3D."
    )
  if not depth_multiplier > 0:
    raise ValueError(f"depth_multiplier must be > 0, got {depth_multiplier}.")
  if int(min_depth) < 1:
    raise ValueError(f"min_depth must be >= 1, got {min_depth}.")
  return first, final


class InceptionI3D(keras.layers.Layer):
  """I3D from `first_endpoint` to `final_endpoint` (inclusive), returning every endpoint.

  Call: `outputs = layer(inputs, training=...)`.
    inputs: float32 [batch_size, num_frames, height, width, channels], channels = 3 (RGB in
      [-1, 1], as DeepMind's checkpoints expect) when first_endpoint is Conv3d_1a_7x7, else the
      channels of the endpoint before first_endpoint (e.g. 832 for MaxPool3d_5a_2x2).
    outputs: dict endpoint_name -> float32 [batch_size, num_frames', height', width',
      endpoint_channels(name)] for every endpoint from first_endpoint to final_endpoint, with
      each size divided (rounding up, TF 'SAME') by that block's strides.
  For 64x400x400 RGB input, Mixed_4f is [batch_size, 16, 25, 25, 832]. With
  final_endpoint="Logits", outputs["Logits"] is float32 [batch_size, num_classes] (Kinetics
  logits; see KineticsLogits).

  Args (keyword-only):
    first_endpoint: name of the first block to build (default the input stem).
    final_endpoint: name of the last block to build (default Mixed_4f, the paper's trunk).
    depth_multiplier: every conv has max(int(c * depth_multiplier), min_depth) channels;
      1.0 reproduces DeepMind's model (small values give tiny test models).
    min_depth: lower bound of the channel count of every conv.
    freeze_batch_norm: if True, batch norm always uses and never updates its moving
      statistics, whatever `training` is (beta stays trainable).
    separable_max_pool: compute every max pool with SeparableMaxPool3D (same values) instead
      of keras MaxPool3D.
    space_to_depth_stem: compute the stem convolution (Conv3d_1a_7x7) with
      SpaceToDepthConv3D (same values and variables, robustly fast weight gradient).
    num_classes: classes of the Logits endpoint (used only if final_endpoint="Logits").
    logits_dropout_rate: dropout before the Logits conv (training only).
    **kwargs: keras.layers.Layer arguments (name, dtype, ...).
  """

  def __init__(
    self,
    *,
    first_endpoint: str = ENDPOINTS[0],
    final_endpoint: str = "Mixed_4f",
    depth_multiplier: float = 1.0,
    min_depth: int = 16,
    freeze_batch_norm: bool = False,
    separable_max_pool: bool = False,
    space_to_depth_stem: bool = True,
    num_classes: int = KINETICS_NUM_CLASSES,
    logits_dropout_rate: float = 0.0,
    **kwargs,
  ):
    """Creates the blocks (arguments: see the class docstring)."""
    kwargs.setdefault("name", "inception_i3d")
    super().__init__(**kwargs)
    first, final = _check_arguments(first_endpoint, final_endpoint, depth_multiplier, min_depth)
    self._first_endpoint = first_endpoint
    self._final_endpoint = final_endpoint
    self._depth_multiplier = float(depth_multiplier)
    self._min_depth = int(min_depth)
    self._freeze_batch_norm = bool(freeze_batch_norm)
    self._separable_max_pool = bool(separable_max_pool)
    self._space_to_depth_stem = bool(space_to_depth_stem)
    self._num_classes = int(num_classes)
    self._logits_dropout_rate = float(logits_dropout_rate)
    self._all_specs = endpoint_specs(
      depth_multiplier=self._depth_multiplier, min_depth=self._min_depth
    )
    self._endpoints = (ENDPOINTS + (LOGITS_ENDPOINT,))[first : final + 1]
    self._input_channels = (
      INPUT_CHANNELS if first == 0 else self._all_specs[ENDPOINTS[first - 1]].channels
    )
    self._blocks = {name: self._make_block(name) for name in self._endpoints}

  def _make_block(self, name: str) -> keras.layers.Layer:
    """The Keras layer computing endpoint `name`, at this I3D's width."""
    depth = lambda c: scaled_depth(c, self._depth_multiplier, self._min_depth)  # noqa: E731
    spec = ARCHITECTURE.get(name)
    if name == LOGITS_ENDPOINT:
      return KineticsLogits(
        num_classes=self._num_classes, dropout_rate=self._logits_dropout_rate, name=name
      )
    if isinstance(spec, _Unit):
      return Unit3D(
        filters=depth(spec.filters),
        kernel_size=spec.kernel_size,
        strides=spec.strides,
        freeze_batch_norm=self._freeze_batch_norm,
        space_to_depth=self._space_to_depth_stem and name == ENDPOINTS[0],
        name=name,
      )
    if isinstance(spec, _Pool):
      return max_pool_class(self._separable_max_pool)(
        pool_size=spec.pool_size, strides=spec.strides, padding="same", name=name
      )
    return InceptionBlock(
      branch_filters=[depth(c) for c in spec],
      freeze_batch_norm=self._freeze_batch_norm,
      separable_max_pool=self._separable_max_pool,
      name=name,
    )

  @property
  def endpoints(self) -> tuple[str, ...]:
    """Names of the endpoints this layer computes, in order."""
    return self._endpoints

  @property
  def input_channels(self) -> int:
    """Channels the input must have (3 for the stem, else the previous endpoint's)."""
    return self._input_channels

  def endpoint_spec(self, name: str) -> EndpointSpec:
    """Channels and strides (relative to the clip fed to a full I3D) of feature endpoint `name`."""
    if name not in self._endpoints:
      raise ValueError(
        f"Endpoint {name!r} is not computed by this I3D; it has {list(self._endpoints)}."
      )
    if name == LOGITS_ENDPOINT:
      raise ValueError(
        "Logits is [batch_size, num_classes], not a feature map: it has no "
        "EndpointSpec (endpoint_channels('Logits') is num_classes)."
      )
    return self._all_specs[name]

  def endpoint_channels(self, name: str) -> int:
    """Number of output channels of endpoint `name` (num_classes for Logits)."""
    if name == LOGITS_ENDPOINT and name in self._endpoints:
      return self._num_classes
    return self.endpoint_spec(name).channels

  def endpoint_stride(self, name: str) -> tuple[int, int]:
    """(temporal_stride, spatial_stride) of endpoint `name`, relative to the input clip of a full
    I3D."""
    spec = self.endpoint_spec(name)
    return spec.temporal_stride, spec.spatial_stride

  def endpoint_layers(self) -> dict[str, keras.layers.Layer]:
    """Returns endpoint_name -> the Keras sub-layer computing it (checkpoint keys)."""
    return dict(self._blocks)

  def named_variables(self) -> dict[str, tf.Variable]:
    """Returns every variable by its DeepMind name relative to `RGB/inception_i3d/`.

    For example 'Conv3d_1a_7x7/conv_3d/w' or 'Mixed_4f/Branch_1/Conv3d_0b_3x3/batch_norm/beta'.
    The layer must be built.
    """
    if not self.built:
      raise ValueError("InceptionI3D.named_variables needs a built layer; call build() first.")
    named = {}
    for name, block in self._blocks.items():
      if hasattr(block, "named_variables"):
        named.update({f"{name}/{k}": v for k, v in block.named_variables().items()})
    return named

  def _check_input_shape(self, input_shape):
    input_shape = tf.TensorShape(input_shape)
    if input_shape.rank != 5:
      raise ValueError(
        "InceptionI3D expects inputs [batch_size, num_frames, height, width, "
        f"channels] (rank 5), got shape {input_shape}."
      )
    if input_shape[-1] is not None and input_shape[-1] != self._input_channels:
      raise ValueError(
        f"InceptionI3D starting at {self._first_endpoint} expects "
        f"{self._input_channels} input channels, got shape {input_shape}."
      )
    return input_shape

  def build(self, input_shape):
    shape = self._check_input_shape(input_shape)
    shape = shape[:-1].concatenate([self._input_channels])
    for block in self._blocks.values():
      block.build(shape)
      shape = block.compute_output_shape(shape)
    super().build(input_shape)

  def call(self, inputs, training=None):
    self._check_input_shape(inputs.shape)
    outputs = {}
    net = inputs
    for name, block in self._blocks.items():
      if isinstance(block, keras.layers.MaxPool3D):
        net = block(net)
      else:
        net = block(net, training=training)
      outputs[name] = net
    return outputs

  def compute_output_shape(self, input_shape):
    """Returns endpoint_name -> TensorShape, by 'SAME' arithmetic (no computation)."""
    shape = self._check_input_shape(input_shape)
    shapes = {}
    for name in self._endpoints:
      if name == LOGITS_ENDPOINT:
        shapes[name] = self._blocks[name].compute_output_shape(shape)
        continue
      strides = _strides(ARCHITECTURE[name])
      dims = [_same_output_size(shape[i + 1], strides[i]) for i in range(3)]
      shape = tf.TensorShape([shape[0], *dims, self._all_specs[name].channels])
      shapes[name] = shape
    return shapes

  def get_config(self):
    config = super().get_config()
    config.update(
      first_endpoint=self._first_endpoint,
      final_endpoint=self._final_endpoint,
      depth_multiplier=self._depth_multiplier,
      min_depth=self._min_depth,
      freeze_batch_norm=self._freeze_batch_norm,
      separable_max_pool=self._separable_max_pool,
      space_to_depth_stem=self._space_to_depth_stem,
      num_classes=self._num_classes,
      logits_dropout_rate=self._logits_dropout_rate,
    )
    return config
