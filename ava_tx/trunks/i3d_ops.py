"""Primitive 3D layers of the I3D trunk that compute a keras layer's exact values another way.

SeparableMaxPool3D: a max pool over the strided axes, then shifted maxima along the others.
Conv3D: keras Conv3D that never hands oneDNN a bfloat16 'SAME' convolution whose kernel is longer
than its input along an axis (that weight gradient is wrong and writes out of bounds).
SpaceToDepthConv3D: a strided convolution as a stride-1 convolution over the space-to-depth
rearranged input (the I3D stem).
"""

from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf


class SeparableMaxPool3D(keras.layers.MaxPool3D):
  """keras MaxPool3D ('SAME' or 'VALID', channels_last): strided axes, then the others.

  A max over a t x h x w window is the max over t of the max over h of the max over w, and
  'SAME' padding and strides act on each axis independently, so pooling some axes after the
  others gives exactly the values of the 3-D pool (and, wherever a window's maximum is unique,
  the same gradient). The strided axes are pooled together by one tf.nn.max_pool3d (all axes of
  MaxPool3d_2a..5a, which are then exactly MaxPool3D). Each axis pooled with stride 1 (all of
  every Mixed block's Branch_3) is then the elementwise maximum of k shifted slices of the input
  padded with -inf: same values, and a gradient made of a few elementwise selects instead of
  MaxPool3DGrad, the largest cost of a tiny-config training step on a 2-core AVX2 EPYC (that
  step went from 0.89 to 0.58-0.70 s; a Branch_3 pool's forward + backward at paper size 5-11x
  faster). Where a window has tied maxima (equal ReLU outputs, or one value repeated by an
  overlapping strided pool before it), this gradient goes to one of them, a subgradient whose
  total equals the output gradient's total; TensorFlow's MaxPool3DGrad gives the whole output
  gradient to every tied element. Whether the layer is faster than MaxPool3D depends on the
  device (`python -m benchmarks.maxpool_benchmark` measures both on the machine at hand). Off by
  default (`separable_max_pool`); same configuration and output shape as MaxPool3D.
  """

  def call(self, inputs):
    if self.data_format != "channels_last":
      return super().call(inputs)
    window, steps, shifted_axes = [1, 1, 1, 1, 1], [1, 1, 1, 1, 1], []
    for axis, (size, stride) in enumerate(zip(self.pool_size, self.strides), start=1):
      if stride == 1 and inputs.shape[axis] is not None:
        if size > 1:
          shifted_axes.append((axis, size))
      else:
        window[axis], steps[axis] = size, stride
    net = inputs
    if any(size > 1 or stride > 1 for size, stride in zip(window, steps)):
      net = tf.nn.max_pool3d(net, window, steps, self.padding.upper())
    for axis, size in shifted_axes:
      net = _shifted_max(net, axis, size, same=self.padding == "same")
    return net


def _shifted_max(inputs: tf.Tensor, axis: int, size: int, same: bool) -> tf.Tensor:
  """Stride-1 max pool of window `size` along `axis` (static length) as shifted maxima.

  'SAME' pads (size - 1) // 2 before and the rest after with -inf, which no window maximum
  can take, as TensorFlow's max pool ignores its padding; 'VALID' does not pad.
  """
  length = inputs.shape[axis]
  if same:
    paddings = [[0, 0]] * 5
    paddings[axis] = [(size - 1) // 2, size - 1 - (size - 1) // 2]
    inputs = tf.pad(inputs, paddings, constant_values=float("-inf"))
    output_length = length
  else:
    output_length = length - size + 1
  sizes = [-1] * 5
  sizes[axis] = output_length
  output = None
  for offset in range(size):
    begin = [0] * 5
    begin[axis] = offset
    window_part = tf.slice(inputs, begin, sizes)
    output = window_part if output is None else tf.maximum(output, window_part)
  return output


def max_pool_class(separable: bool) -> type:
  """SeparableMaxPool3D if `separable`, else keras MaxPool3D (same constructor, same values)."""
  return SeparableMaxPool3D if separable else keras.layers.MaxPool3D


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
  """(output size, padding before, padding after) of TensorFlow's 'SAME' along one axis."""
  output = -(-size // stride)
  total = max((output - 1) * stride + kernel - size, 0)
  return output, total // 2, total - total // 2


def _plain_options(conv: keras.layers.Conv3D) -> bool:
  """Whether `conv` is 'SAME', channels_last, undilated and ungrouped (what the rewrites handle)."""
  return (
    conv.padding == "same"
    and conv.data_format == "channels_last"
    and all(d == 1 for d in conv.dilation_rate)
    and conv.groups == 1
  )


def _bias_and_activation(conv: keras.layers.Conv3D, net: tf.Tensor) -> tf.Tensor:
  if conv.use_bias:
    net = tf.nn.bias_add(net, tf.cast(conv.bias, net.dtype))
  return conv.activation(net) if conv.activation is not None else net


def _zero_pad_by_concat(net: tf.Tensor, axis: int, before: int, after: int) -> tf.Tensor:
  """Zero-pads one static axis by concatenation. Not tf.pad: Grappler's remapper fuses a Pad
  into the convolution after it, which the weight gradient still reads, and then gives up
  optimising the whole graph ("remapper failed: ... missing node .../Pad")."""

  def zeros(count):
    shape = tf.unstack(tf.shape(net), num=5)
    shape[axis] = count
    return [tf.zeros(tf.stack(shape), net.dtype)] if count else []

  if not before and not after:
    return net
  return tf.concat(zeros(before) + [net] + zeros(after), axis)


class Conv3D(keras.layers.Conv3D):
  """keras Conv3D; in bfloat16, a 'SAME' convolution whose kernel is longer than its input along
  some axis is computed as the explicitly zero-padded input convolved 'VALID' (the same values).

  Why: with TensorFlow 2.20 on AVX512_BF16 CPUs, oneDNN's bfloat16 weight gradient
  (Conv3DBackpropFilterV2) of such a convolution is wrong whenever the output is longer than one
  cell along that axis (measured along time: input 2..4 frames under a 3-, 5- or 7-frame
  kernel), and it writes out of bounds: other gradients of the same step come out as garbage,
  and the process can abort with "double free or corruption". The forward pass and the input
  gradient are right; float32 and float16 are right. The explicitly padded convolution reads an
  input at least as long as its kernel, which oneDNN computes correctly
  (`benchmarks/bf16_conv3d_check.py` shows both on the machine at hand). It arises in I3D when
  a 3x3x3 block sees 2 frames: Mixed_4 of an 8-frame clip, Mixed_5 (the I3D head) of a
  16-frame clip. Other dtypes, shapes and options take keras's own path unchanged.
  """

  def _needs_explicit_padding(self, inputs) -> bool:
    spatial = inputs.shape[1:4]
    return (
      inputs.dtype == tf.bfloat16
      and _plain_options(self)
      and all(n is not None for n in spatial)
      and any(k > n for k, n in zip(self.kernel_size, spatial))
    )

  def call(self, inputs):
    if not self._needs_explicit_padding(inputs):
      return super().call(inputs)
    net = inputs
    for axis, (kernel, stride) in enumerate(zip(self.kernel_size, self.strides), start=1):
      _, before, after = _same_padding(net.shape[axis], kernel, stride)
      net = _zero_pad_by_concat(net, axis, before, after)
    net = tf.nn.conv3d(net, tf.cast(self.kernel, net.dtype), [1, *self.strides, 1], "VALID")
    return _bias_and_activation(self, net)


class SpaceToDepthConv3D(Conv3D):
  """keras Conv3D ('SAME', no dilation, channels_last, equal strides s > 1) computed as a
  stride-1 convolution over the space-to-depth rearranged input.

  Each s x s x s cube of input cells becomes one cell of s^3 * channels features, and the
  k x k x k kernel (zero-padded to a multiple of s) becomes a ceil(k/s)^3 kernel over them;
  the output is the same sum of the same products (equal to float rounding). The variable is
  the ordinary [k, k, k, in, out] kernel, so checkpoints do not change. For I3D's stem (7x7x7,
  stride 2, 3 input channels) oneDNN's weight gradient of the plain convolution is
  pathologically slow for some shapes on some CPUs (on a 2-core AVX2 EPYC: 50 s for one
  clip of 8x112x112, against 1 s this way); the rearranged convolution has 24 input
  channels and no stride, which every backend handles well (`benchmarks/stem_benchmark.py`).
  Inputs without static time, height and width fall back to the plain convolution (Conv3D).
  """

  def call(self, inputs):
    stride = self.strides[0]
    spatial = inputs.shape[1:4]
    if (
      not _plain_options(self)
      or stride < 2
      or any(s != stride for s in self.strides)
      or any(n is None for n in spatial)
    ):
      return super().call(inputs)
    channels = inputs.shape[-1]
    blocks = [-(-k // stride) for k in self.kernel_size]  # kernel size in s-cubes
    outputs, paddings = [], [[0, 0]]
    for size, kernel, block in zip(spatial, self.kernel_size, blocks):
      output, before, _ = _same_padding(size, kernel, stride)
      # Pad so that s-cubes tile the `output + block - 1` cells the valid convolution reads.
      paddings.append([before, stride * (output + block - 1) - size - before])
      outputs.append(output)
    paddings.append([0, 0])
    net = tf.pad(inputs, paddings)
    cubes = [o + b - 1 for o, b in zip(outputs, blocks)]
    net = tf.reshape(net, [-1, cubes[0], stride, cubes[1], stride, cubes[2], stride, channels])
    net = tf.transpose(net, [0, 1, 3, 5, 2, 4, 6, 7])
    net = tf.reshape(net, [-1] + cubes + [stride**3 * channels])
    kernel = tf.pad(
      self.kernel,
      [[0, b * stride - k] for b, k in zip(blocks, self.kernel_size)] + [[0, 0], [0, 0]],
    )
    kernel = tf.reshape(
      kernel, [blocks[0], stride, blocks[1], stride, blocks[2], stride, channels, self.filters]
    )
    kernel = tf.transpose(kernel, [0, 2, 4, 1, 3, 5, 6, 7])
    kernel = tf.reshape(kernel, blocks + [stride**3 * channels, self.filters])
    net = tf.nn.conv3d(net, tf.cast(kernel, net.dtype), [1, 1, 1, 1, 1], "VALID")
    net = net[:, : outputs[0], : outputs[1], : outputs[2]]
    return _bias_and_activation(self, net)
