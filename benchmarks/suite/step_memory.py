r"""Peak memory of one training step, measured in a fresh process.

  python -m benchmarks.suite.step_memory --size '{"name": "mid", ...}'   (a models.ModelSize)

In the suite's own process the figure would be too low: memory that earlier steps (another size,
the warm runs) allocated and freed is reused without raising the resident set, and neither
malloc_trim nor TensorFlow gives it back (seen: the same process reported 457 MiB for a step of
16 frames and then 412 MiB for one of 32). So `spawn` runs this module in a new Python process:
it builds the model, traces the step (`get_concrete_function`, no execution), then reports the
resident memory that the step's first execution adds (VmHWM reset just before it,
`common.peak_extra_mib`): activations kept for the backward pass, gradients, the optimizer's
slots created on the first update, and TensorFlow's scratch buffers. It also reports the process
peak (VmHWM after the step, everything included: Python, TensorFlow, the traced graph).
"""

import dataclasses
import json

from absl import app
from absl import flags

from ava_tx.core import command_line
from benchmarks import workers

FLAGS = flags.FLAGS
_RESULT_PREFIX = "STEP_MEMORY_JSON "


@command_line.flag_definitions
def define_flags():
  flags.DEFINE_string("size", None, "JSON of a benchmarks.suite.models.ModelSize.", required=True)


def measure(size) -> dict:
  """{"step_peak_mib", "process_peak_mib"} of `size`'s float32 train step, in this process."""
  # pylint: disable=import-outside-toplevel
  from benchmarks.suite import common
  from benchmarks.suite import models

  model, config = models.build(size)
  batch = models.synthetic_batch(size, config.num_classes)
  step = models.train_step(model)
  step.get_concrete_function(batch)
  step_peak = common.peak_extra_mib(step, batch)
  return dict(step_peak_mib=step_peak, process_peak_mib=common.status_kib("VmHWM") / 1024.0)


def spawn(size) -> dict:
  """`measure(size)` in a fresh Python process (the repository root as working directory)."""
  args = ["--size=" + json.dumps(dataclasses.asdict(size))]
  return workers.run("benchmarks.suite.step_memory", args, _RESULT_PREFIX)


def main(argv):
  del argv
  from benchmarks.suite import models  # pylint: disable=import-outside-toplevel

  size = models.ModelSize(**json.loads(FLAGS.size))
  workers.emit(_RESULT_PREFIX, measure(size))


if __name__ == "__main__":
  define_flags()
  app.run(main)
