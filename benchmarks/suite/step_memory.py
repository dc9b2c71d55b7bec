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
import os
import subprocess
import sys

from absl import app
from absl import flags

from ava_tx.core import command_line

FLAGS = flags.FLAGS
_RESULT_PREFIX = "STEP_MEMORY_JSON "
_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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
  command = [
    sys.executable,
    "-m",
    "benchmarks.suite.step_memory",
    "--size=" + json.dumps(dataclasses.asdict(size)),
  ]
  process = subprocess.run(
    command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False, cwd=_REPO
  )
  for line in process.stdout.splitlines():
    if line.startswith(_RESULT_PREFIX):
      return json.loads(line[len(_RESULT_PREFIX) :])
  tail = "\n".join(process.stderr.splitlines()[-5:])
  raise RuntimeError(f"step_memory worker failed for {size} (exit {process.returncode}):\n{tail}")


def main(argv):
  del argv
  from benchmarks.suite import models  # pylint: disable=import-outside-toplevel

  size = models.ModelSize(**json.loads(FLAGS.size))
  print(_RESULT_PREFIX + json.dumps(measure(size)), flush=True)


if __name__ == "__main__":
  define_flags()
  app.run(main)
