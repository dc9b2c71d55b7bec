r"""The I3D stem convolution (7x7x7, stride 2, 3 channels) as keras Conv3D and as the trunk's
SpaceToDepthConv3D, on this CPU, in one run.

  python -m benchmarks.stem_benchmark [--repeats 3]

For each clip shape (the tiny config's, the quick benchmark sizes', the mid and the paper size):
forward, and forward + weight gradient (what a training step with the stem trained pays), of
both layers with the same weights, median of --repeats warm calls each, the two called
alternately so that a change of load hits both. Prints one markdown table and the ratios.
"""

import statistics
import time

from absl import app
from absl import flags

from ava_tx.core import command_line
from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf
from ava_tx.trunks import i3d

FLAGS = flags.FLAGS


@command_line.flag_definitions
def define_flags():
  flags.DEFINE_integer("repeats", 3, "Warm calls per figure (median).")


# (name, [batch, frames, height, width, 3], output channels).
SHAPES = [
  ("quick tiny 2x8x64^2, 1/4 width", (2, 8, 64, 64, 3), 16),
  ("quick mid 1x8x112^2, full width", (1, 8, 112, 112, 3), 64),
  ("tiny config 4x16x112^2, 1/4 width", (4, 16, 112, 112, 3), 16),
  ("1x16x112^2, full width", (1, 16, 112, 112, 3), 64),
  ("mid 1x32x224^2, full width", (1, 32, 224, 224, 3), 64),
  ("paper 1x64x400^2, full width", (1, 64, 400, 400, 3), 64),
]


def _seconds(function):
  start = time.perf_counter()
  function()
  return time.perf_counter() - start


def _functions(layer, clip):
  forward = tf.function(lambda: layer(clip))

  @tf.function
  def weight_gradient():
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(tf.square(layer(clip)))
    return tape.gradient(loss, layer.kernel)

  return forward, weight_gradient


def measure(shape, channels, repeats):
  """{'plain': (forward s, forward + dW s), 'space_to_depth': (...)} for one clip shape."""
  clip = tf.random.stateless_uniform(shape, seed=(0, 1), minval=-1.0, maxval=1.0)
  layers = {
    name: cls(channels, 7, strides=2, padding="same", use_bias=False)
    for name, cls in (("plain", keras.layers.Conv3D), ("space_to_depth", i3d.SpaceToDepthConv3D))
  }
  for layer in layers.values():
    layer.build(clip.shape)
  layers["space_to_depth"].set_weights(layers["plain"].get_weights())
  functions = {name: _functions(layer, clip) for name, layer in layers.items()}
  for forward, gradient in functions.values():  # Warm-up: trace and first run.
    forward()
    gradient()
  result = {name: [[], []] for name in layers}
  for _ in range(repeats):  # Alternate the two layers, one call each at a time.
    for name, (forward, gradient) in functions.items():
      result[name][0].append(_seconds(forward))
      result[name][1].append(_seconds(gradient))
  return {name: tuple(statistics.median(s) for s in pair) for name, pair in result.items()}


def main(argv):
  del argv
  print(
    "| clip | plain forward s | plain fwd+dW s | s2d forward s | s2d fwd+dW s | "
    "fwd+dW plain / s2d |"
  )
  print("|---|---:|---:|---:|---:|---:|")
  for name, shape, channels in SHAPES:
    times = measure(shape, channels, FLAGS.repeats)
    (pf, pb), (sf, sb) = times["plain"], times["space_to_depth"]
    print(f"| {name} | {pf:.3f} | {pb:.3f} | {sf:.3f} | {sb:.3f} | {pb / sb:.2f} |", flush=True)


if __name__ == "__main__":
  define_flags()
  app.run(main)
