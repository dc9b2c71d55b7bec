"""Shared pieces of the benchmark suite: timing, memory, the machine's matmul rates, rows.

Every figure of the suite is a row: the median of several warm runs, beside a reference
measured in the same process (e.g. the float32 matmul rate, or the float32 variant of the same
step), with their ratio. Timings on a shared machine drift; ratios taken close together do not.
"""

import dataclasses
import re
import statistics
import time
from typing import Callable, Optional

from ava_tx.core.tf_setup import tf


@dataclasses.dataclass
class Row:
  """One figure of the table: value (median) beside its same-process reference."""

  section: str
  figure: str
  value: float
  unit: str
  reference: str = ""
  reference_value: Optional[float] = None
  ratio: Optional[float] = None
  note: str = ""


def row(section, figure, value, unit, reference="", reference_value=None, note="", ratio=None):
  """A Row; the ratio is value / reference_value unless given."""
  if ratio is None and reference_value:
    ratio = value / reference_value
  return Row(
    section,
    figure,
    float(value),
    unit,
    reference,
    None if reference_value is None else float(reference_value),
    ratio,
    note,
  )


def _fetch(outputs):
  tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, outputs)


def median_seconds(function: Callable, *args, repeats: int = 3) -> float:
  """Median wall time of `repeats` warm calls (one untimed call first: tracing)."""
  _fetch(function(*args))
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    _fetch(function(*args))
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def alternate_seconds(functions: dict, repeats: int = 3) -> dict:
  """Median warm times of several zero-argument functions called in turn (A B A B ...), so a
  change of load hits all of them alike."""
  for function in functions.values():
    _fetch(function())
  times = {name: [] for name in functions}
  for _ in range(repeats):
    for name, function in functions.items():
      start = time.perf_counter()
      _fetch(function())
      times[name].append(time.perf_counter() - start)
  return {name: statistics.median(values) for name, values in times.items()}


# ----------------------------------------------------------------------------------- memory
def status_kib(field):
  with open("/proc/self/status") as status:
    return int(re.search(rf"^{field}:\s+(\d+) kB", status.read(), re.M).group(1))


def peak_extra_mib(function: Callable, *args) -> float:
  """Peak resident memory above the current one while `function(*args)` runs (MiB).

  VmHWM is reset to VmRSS first (Linux: write 5 to /proc/self/clear_refs). CPU TensorFlow
  has no allocator statistics. Memory freed earlier in the process and reused is not seen.
  """
  with open("/proc/self/clear_refs", "w") as clear_refs:
    clear_refs.write("5")
  before = status_kib("VmRSS")
  _fetch(function(*args))
  return (status_kib("VmHWM") - before) / 1024.0


# ---------------------------------------------------------------------------------- matmul
def matmul_gflops(dtype=tf.float32, size: int = 2048, repeats: int = 5) -> float:
  """tf.matmul size^3 rate in GFLOP/s (median of warm calls)."""
  a = tf.cast(tf.random.stateless_normal([size, size], seed=[1, 2]), dtype)
  b = tf.cast(tf.random.stateless_normal([size, size], seed=[3, 4]), dtype)
  seconds = median_seconds(tf.function(tf.matmul), a, b, repeats=repeats)
  return 2 * size**3 / seconds / 1e9


def matmul_rows(quick: bool):
  """float32 and bfloat16 matmul rates (the references of every GFLOP/s figure)."""
  size = 1024 if quick else 2048
  rates = {}
  for name, dtype in (("float32", tf.float32), ("bfloat16", tf.bfloat16)):
    rates[name] = matmul_gflops(dtype, size)
  return rates, [
    row("machine", f"tf.matmul {size}^3 float32", rates["float32"], "GFLOP/s"),
    row(
      "machine",
      f"tf.matmul {size}^3 bfloat16",
      rates["bfloat16"],
      "GFLOP/s",
      "float32 matmul",
      rates["float32"],
    ),
  ]
