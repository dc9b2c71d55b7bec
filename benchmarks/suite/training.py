"""Training-step figures: clips/s, achieved GFLOP/s against the matmul rate, bfloat16, XLA,
peak memory, and the cost of training the I3D stem (tiny config)."""

import dataclasses

from ava_tx.core import precision
from ava_tx.core.tf_setup import tf
from benchmarks.suite import common
from benchmarks.suite import models
from benchmarks.suite import step_memory


def _step_rows(size, rates, repeats, with_bf16):
  """float32 step (and bfloat16 beside it): clips/s, GFLOP/s, fraction of the matmul rate.

  Returns (rows, a zero-argument call of the traced float32 step on its batch)."""
  section = f"train step, {size.name}"
  shape = f"{size.batch_size}x{size.num_frames}x{size.image_size}^2"
  model, config = models.build(size)
  batch = models.synthetic_batch(size, config.num_classes)
  step = models.train_step(model)
  functions = {"float32": lambda: step(batch)}
  if with_bf16:
    bf16_model, _ = models.build(size, precision.MIXED_BFLOAT16)
    bf16_step = models.train_step(bf16_model)
    functions["bfloat16"] = lambda: bf16_step(batch)
  seconds = common.alternate_seconds(functions, repeats)
  count = models.training_flops(model, batch)
  gflops = count.training / seconds["float32"] / 1e9
  clips = size.batch_size / seconds["float32"]
  rows = [
    common.row(
      section, f"float32 step {shape}", clips, "clips/s", note=f"{seconds['float32']:.3f} s/step"
    ),
    common.row(
      section,
      "float32 achieved",
      gflops,
      "GFLOP/s",
      "float32 matmul",
      rates["float32"],
      note=f"{count.training / 1e9:.1f} GFLOP/step (forward {count.forward / 1e9:.1f})",
    ),
    _memory_row(section, size),
  ]
  if with_bf16:
    rows.append(
      common.row(
        section,
        "mixed_bfloat16 step",
        size.batch_size / seconds["bfloat16"],
        "clips/s",
        "float32 step",
        clips,
      )
    )
  return rows, functions["float32"]


def _memory_row(section, size):
  """Peak memory of the float32 step's first execution, in a fresh process (step_memory)."""
  memory = step_memory.spawn(size)
  return common.row(
    section,
    f"peak memory of a step, batch {size.batch_size}",
    memory["step_peak_mib"],
    "MiB",
    note=f"first execution in a fresh process; process peak {memory['process_peak_mib']:.0f} MiB",
  )


def _trunk_xla_rows(size, repeats):
  """The trunk's training step (forward + gradients) with and without XLA.

  The whole model's step cannot be compiled: crop_and_resize (RoIAlign) has no XLA kernel.
  """
  model, _ = models.build(size)
  frames = models.synthetic_batch(size, 2)["frames"]
  trunk, endpoint = model.trunk, "Mixed_4f"
  trunk(frames)

  def step(x):
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(tf.square(trunk(x, training=True)[endpoint]))
    return tape.gradient(loss, trunk.trainable_variables)

  plain, xla = tf.function(step), tf.function(step, jit_compile=True)
  seconds = common.alternate_seconds(
    {"plain": lambda: plain(frames), "xla": lambda: xla(frames)}, repeats
  )
  return [
    common.row(
      f"train step, {size.name}",
      "trunk step with XLA (jit_compile)",
      size.batch_size / seconds["xla"],
      "clips/s",
      "trunk step without XLA",
      size.batch_size / seconds["plain"],
    )
  ]


def _stem_rows(size, repeats, trained_step):
  """Tiny config: the step with the stem trained (as configured; `trained_step`, the float32 step
  _step_rows traced for `size`, reused: tracing a train step costs far more than running it
  at --quick sizes) and with it frozen."""
  frozen_model, config = models.build(
    dataclasses.replace(size, freeze_up_to_endpoint="Conv3d_1a_7x7")
  )
  batch = models.synthetic_batch(size, config.num_classes)
  frozen = models.train_step(frozen_model)
  seconds = common.alternate_seconds(
    {"frozen": lambda: frozen(batch), "trained": trained_step}, repeats
  )
  return [
    common.row(
      f"train step, {size.name}",
      "step with the stem (Conv3d_1a_7x7) trained",
      seconds["trained"],
      "s/step",
      "stem frozen",
      seconds["frozen"],
    )
  ]


def rows(rates, quick: bool, repeats: int, trunk_final_endpoint=None):
  """--quick leaves out bfloat16 (its small-channel convolutions are slow on CPU) and XLA.
  `trunk_final_endpoint`: see models.sizes."""
  tiny, mid = models.sizes(quick, trunk_final_endpoint)
  result, tiny_step = _step_rows(tiny, rates, repeats, with_bf16=not quick)
  result += _stem_rows(tiny, repeats, tiny_step)
  result += _step_rows(mid, rates, repeats, with_bf16=not quick)[0]
  if not quick:
    result += _trunk_xla_rows(tiny, repeats) + _trunk_xla_rows(mid, repeats)
    # Memory per clip at paper size (GPU sizing, docs/PERFORMANCE.md): one clip, then two.
    for batch_size in (1, 2):
      paper = models.paper_training_size(batch_size)
      result.append(_memory_row(f"train step, {paper.name}", paper))
  return result
