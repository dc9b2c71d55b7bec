r"""Does this machine's TensorFlow compute the bfloat16 weight gradient of a 'SAME' Conv3D whose
kernel is longer than its input? keras Conv3D against the trunk's i3d_ops.Conv3D, in one run.

  python -m benchmarks.bf16_conv3d_check [--repeats 3]

For each case, both layers with the same weights compute the kernel gradient of a fixed loss in
mixed_bfloat16 --repeats times; the table gives the largest error against the float64 gradient,
relative to its largest value (bfloat16 rounding alone stays below 1%). Each (case, layer) runs
in a fresh process, because the defective kernel writes out of bounds and can abort the process
("double free or corruption"): the table reports that as "aborted". Measured with TensorFlow 2.20
on a 2-core AMD EPYC with AVX512_BF16 (2026-12-03): keras Conv3D errors of 1, inf and 0.95 in the
three short cases, 0.0037 in the long-enough one; i3d_ops.Conv3D 0.0028-0.0037 in all four. On a
CPU without bfloat16 instructions, or with a later oneDNN, the keras column may be right too:
then the workaround costs only a concatenation of zeros on these small tensors.
"""

from absl import app
from absl import flags
import numpy as np

from ava_tx.core import command_line
from benchmarks import workers

FLAGS = flags.FLAGS
_RESULT_PREFIX = "BF16_CONV3D_JSON "
_LAYERS = ("keras", "ava_tx")
# (name, input [batch, frames, height, width, channels], kernel, stride): I3D's short cases.
CASES = [
  ("3x3x3 on 2 frames (Mixed_4 of 8 frames)", (2, 2, 4, 4, 8), 3, 1),
  ("5x5x5 on 3 frames", (2, 3, 4, 4, 8), 5, 1),
  ("7x7x7 stride 2 on 4 frames (the stem)", (2, 4, 8, 8, 3), 7, 2),
  ("3x3x3 on 3 frames (long enough)", (2, 3, 4, 4, 8), 3, 1),
]


@command_line.flag_definitions
def define_flags():
  flags.DEFINE_integer("repeats", 3, "Gradient computations per case and layer (worst kept).")
  flags.DEFINE_integer("case", None, "Internal: run this case index in this process.")
  flags.DEFINE_enum("layer", None, _LAYERS, "Internal: the layer of --case.")


def measure(case: int, layer: str, repeats: int) -> dict:
  """{"error": worst relative error of the bfloat16 kernel gradient, "finite": all finite}."""
  # pylint: disable=import-outside-toplevel
  from ava_tx.core.tf_setup import keras
  from ava_tx.core.tf_setup import tf
  from ava_tx.trunks import i3d_ops

  _, shape, kernel, stride = CASES[case]
  rng = np.random.default_rng(case)
  x = rng.normal(size=shape).astype(np.float32)
  conv_class = keras.layers.Conv3D if layer == "keras" else i3d_ops.Conv3D
  policy = keras.mixed_precision.Policy("mixed_bfloat16")
  conv = conv_class(8, kernel, strides=stride, padding="same", use_bias=False, dtype=policy)
  conv.build(shape)
  weights = rng.normal(size=conv.kernel.shape).astype(np.float32)
  conv.set_weights([weights])

  def loss_weights(y):
    return tf.cast(tf.reshape(tf.range(tf.size(y)) % 7 - 3, tf.shape(y)), y.dtype)

  x64, w64 = tf.constant(x, tf.float64), tf.Variable(weights.astype(np.float64))
  with tf.GradientTape() as tape:
    y = tf.nn.conv3d(x64, w64, [1, stride, stride, stride, 1], "SAME")
    loss = tf.reduce_sum(y * loss_weights(y))
  reference = tape.gradient(loss, w64).numpy()
  worst, finite = 0.0, True
  for _ in range(repeats):
    with tf.GradientTape() as tape:
      y = tf.cast(conv(tf.constant(x)), tf.float32)
      loss = tf.reduce_sum(y * loss_weights(y))
    gradient = tape.gradient(loss, conv.kernel).numpy().astype(np.float64)
    finite = finite and bool(np.all(np.isfinite(gradient)))
    with np.errstate(over="ignore", invalid="ignore"):
      error = float(np.max(np.abs(gradient - reference)) / np.max(np.abs(reference)))
    worst = max(worst, error) if np.isfinite(error) else float("inf")
  return dict(error=worst, finite=finite)


def _cell(case: int, layer: str, repeats: int) -> str:
  args = [f"--case={case}", f"--layer={layer}", f"--repeats={repeats}"]
  try:
    result = workers.run("benchmarks.bf16_conv3d_check", args, _RESULT_PREFIX)
  except workers.WorkerError as error:
    return f"aborted (exit code {error.returncode})"
  return f"{result['error']:.3g}" + ("" if result["finite"] else " (not finite)")


def main(argv):
  del argv
  if FLAGS.case is not None:
    workers.emit(_RESULT_PREFIX, measure(FLAGS.case, FLAGS.layer, FLAGS.repeats))
    return
  print(
    "bfloat16 Conv3D kernel gradient, worst error relative to float64 "
    f"({FLAGS.repeats} computations each)\n"
  )
  print("| case | input | keras Conv3D | i3d_ops.Conv3D |")
  print("|---|---|---:|---:|")
  for index, (name, shape, _, _) in enumerate(CASES):
    cells = [_cell(index, layer, FLAGS.repeats) for layer in _LAYERS]
    print(f"| {name} | {'x'.join(map(str, shape))} | {cells[0]} | {cells[1]} |", flush=True)


if __name__ == "__main__":
  define_flags()
  app.run(main)
