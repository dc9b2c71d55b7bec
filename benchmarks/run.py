r"""The benchmark suite: one table of speed and memory figures, each beside its reference.

  python -m benchmarks.run [--quick] [--output_dir workspace/benchmarks] [--runs 3]
      [--sections machine,training,inference,scaling,data]

Every figure is the median of --runs warm runs, beside a reference measured in the same process
close to it (the machine's float32 matmul rate for GFLOP/s figures, the float32 variant for
bfloat16, raw decoding for the input pipeline and the conversion, ...) and their ratio, so the
table can be read on a shared machine whose speed drifts. Writes `results.json` and
`results.md` (one markdown table) to --output_dir, after each section.

Sections:
  machine:   tf.matmul float32 and bfloat16 rates.
  training:  train step of the tiny and mid sizes (benchmarks/suite/models.py): clips/s,
             achieved GFLOP/s (ava_tx.core.flops, training rule) / float32 matmul, peak memory,
             mixed_bfloat16 against float32, the tiny config's stem trained against frozen,
             the trunk's step with XLA against without.
  inference: per-clip time split trunk / RPN / head / post-processing at the tiny and mid sizes
             (and the whole detection in mixed_bfloat16 beside float32, not with --quick);
             at paper size (64x400x400, R=300; not with --quick) through
             benchmarks.paper_size_forward's workers, with peak memory.
  scaling:   inference time of the mid size as R goes 16 -> 64 -> 300 and T 16 -> 32 -> 64.
  data:      conversion keyframes/s against raw video decoding, input-pipeline clips/s against
             the JPEG-decode bound of the same stored frames, fraction of a tiny-config training
             step spent waiting for input (benchmarks.data_benchmark's source video).

--quick runs every section at small sizes (a few minutes on 2 cores) and enforces no
target. CI runs it through tests/benchmarks/test_run.py, which calls `run(...,
trunk_final_endpoint="Mixed_3c")` (both trunks end there: the same sections and rows, traced
faster; benchmarks/suite/models.py).
"""

import json
import os
import time
import traceback

from absl import app
from absl import flags

from ava_tx.core import command_line

FLAGS = flags.FLAGS


@command_line.flag_definitions
def define_flags():
  flags.DEFINE_bool("quick", False, "Small sizes, fewer runs (CI).")
  flags.DEFINE_string("output_dir", "workspace/benchmarks", "Where results.json/.md are written.")
  flags.DEFINE_integer("runs", None, "Warm runs per figure (median); default 3, 2 with --quick.")
  flags.DEFINE_list(
    "sections", ["machine", "training", "inference", "scaling", "data"], "Sections to run."
  )
  flags.DEFINE_string(
    "data_work_dir",
    "/tmp/ava_benchmark_suite_data",
    "Scratch directory of the data section (deleted first).",
  )


_COLUMNS = ("section", "figure", "value", "unit", "reference", "reference_value", "ratio", "note")


def _format(value):
  if value is None:
    return ""
  if isinstance(value, float):
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
  return str(value)


def markdown(result) -> str:
  """The results as one markdown table under a header line."""
  cut = result.get("trunk_final_endpoint")
  lines = [
    f"Benchmark suite ({'quick' if result['quick'] else 'full'}"
    f"{f', trunks to {cut}' if cut else ''}), {result['date']}, "
    f"{result['cpu_count']} CPUs, load average {result['loadavg_start']} -> "
    f"{result['loadavg_end']}: `{result['command']}`",
    "",
    "| " + " | ".join(_COLUMNS) + " |",
    "|" + "---|" * len(_COLUMNS),
  ]
  for row in result["rows"]:
    lines.append("| " + " | ".join(_format(row[c]) for c in _COLUMNS) + " |")
  for section, error in result["errors"].items():
    lines.append(f"\nSection {section} FAILED: {error.splitlines()[-1]}")
  return "\n".join(lines) + "\n"


def _write(result, output_dir):
  os.makedirs(output_dir, exist_ok=True)
  with open(os.path.join(output_dir, "results.json"), "w") as f:
    json.dump(result, f, indent=1)
  with open(os.path.join(output_dir, "results.md"), "w") as f:
    f.write(markdown(result))


def _section_rows(name, state, quick, runs, data_work_dir, trunk_final_endpoint):
  # Imported here: `import tensorflow` is slow, and --help should not pay it.
  from benchmarks.suite import common
  from benchmarks.suite import data
  from benchmarks.suite import inference
  from benchmarks.suite import models
  from benchmarks.suite import training

  if name == "machine":
    state["rates"], rows = common.matmul_rows(quick)
    return rows
  if "rates" not in state:
    state["rates"], _ = common.matmul_rows(quick)
  if name == "training":
    return training.rows(state["rates"], quick, runs, trunk_final_endpoint)
  if name == "inference":
    rows = []
    for size in models.sizes(quick, trunk_final_endpoint):
      rows += inference.split_rows(size, runs, with_bf16=not quick)
    if not quick:
      rows += inference.paper_rows(state["rates"], runs)
    return rows
  if name == "scaling":
    return inference.scaling_rows(quick, runs, trunk_final_endpoint)
  if name == "data":
    return data.rows(quick, data_work_dir, trunk_final_endpoint, runs)
  raise app.UsageError(f"--sections: unknown section {name!r}")


def run(
  *,
  quick,
  sections,
  runs,
  output_dir,
  data_work_dir,
  command="python -m benchmarks.run",
  trunk_final_endpoint=None,
):
  """Runs the sections; returns the result dict (also written to output_dir).
  `trunk_final_endpoint`: where the tiny and mid sizes' trunks end (e.g. "Mixed_3c", which the
  test uses to trace faster); None, as the command line runs: the configs' own (Mixed_4f)."""
  import dataclasses  # pylint: disable=import-outside-toplevel

  result = dict(
    quick=quick,
    trunk_final_endpoint=trunk_final_endpoint,
    date=time.strftime("%Y-%m-%d %H:%M %Z"),
    cpu_count=os.cpu_count(),
    command=command,
    loadavg_start=[round(x, 1) for x in os.getloadavg()],
    loadavg_end=None,
    runs=runs,
    rows=[],
    errors={},
    seconds={},
  )
  state = {}
  for name in sections:
    start = time.perf_counter()
    try:
      rows = _section_rows(name, state, quick, runs, data_work_dir, trunk_final_endpoint)
      result["rows"] += [dataclasses.asdict(r) for r in rows]
    except Exception:  # pylint: disable=broad-except
      # One failing section must not lose the others' figures; main() exits non-zero.
      result["errors"][name] = traceback.format_exc()
    result["seconds"][name] = round(time.perf_counter() - start, 1)
    result["loadavg_end"] = [round(x, 1) for x in os.getloadavg()]
    _write(result, output_dir)
  return result


def main(argv):
  del argv
  runs = FLAGS.runs or (2 if FLAGS.quick else 3)
  command = "python -m benchmarks.run" + (" --quick" if FLAGS.quick else "")
  result = run(
    quick=FLAGS.quick,
    sections=FLAGS.sections,
    runs=runs,
    output_dir=FLAGS.output_dir,
    data_work_dir=FLAGS.data_work_dir,
    command=command,
  )
  print(markdown(result))
  if result["errors"]:
    for section, error in result["errors"].items():
      print(f"section {section} failed:\n{error}")
    raise SystemExit(1)


if __name__ == "__main__":
  define_flags()
  app.run(main)
