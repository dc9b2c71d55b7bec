"""`python -m benchmarks.run --quick` (what CI runs): the table's structure and sane values.

No timing target is asserted: the figures depend on the machine and its load. The test runs
`--quick` with its trunks cut at Mixed_3c (`run(..., trunk_final_endpoint=...)`): the same
sections, rows and code paths, traced in less time.
"""

import dataclasses
import json
import re

import pytest

from benchmarks import run
from benchmarks.suite import models

_SECTIONS = ("machine", "training", "inference", "scaling", "data")


@pytest.mark.parametrize("quick", [True, False])
def test_sizes_end_both_trunks_where_asked(quick):
  default = models.sizes(quick)
  assert [s.name for s in default] == ["tiny", "mid"]
  assert [models.model_config(s).trunk.final_endpoint for s in default] == ["Mixed_4f"] * 2
  cut = models.sizes(quick, "Mixed_3c")
  assert [models.model_config(s).trunk.final_endpoint for s in cut] == ["Mixed_3c"] * 2
  # Only the trunk's end differs.
  assert [dataclasses.replace(s, final_endpoint=None) for s in cut] == list(default)


@pytest.mark.slow
def test_quick_suite_writes_one_table_with_references(tmp_path):
  result = run.run(
    quick=True,
    sections=_SECTIONS,
    runs=1,
    output_dir=str(tmp_path),
    data_work_dir=str(tmp_path / "data"),
    trunk_final_endpoint="Mixed_3c",
  )
  assert result["errors"] == {} and result["trunk_final_endpoint"] == "Mixed_3c"
  rows = result["rows"]
  assert {r["section"].split(",")[0] for r in rows} >= {
    "machine",
    "train step",
    "inference per clip",
    "inference scaling in R",
    "inference scaling in T",
    "data",
  }
  for r in rows:
    assert set(r) == set(run._COLUMNS)  # pylint: disable=protected-access
    assert r["value"] > 0 or r["unit"] == "fraction", r
    if r["reference_value"] is not None:
      assert r["reference_value"] > 0 and r["ratio"] == pytest.approx(
        r["value"] / r["reference_value"]
      ), r
  by_figure = {(r["section"], r["figure"]): r for r in rows}
  float32 = by_figure[("machine", "tf.matmul 1024^3 float32")]
  assert 1.0 < float32["value"] < 1e5  # GFLOP/s of any CPU
  achieved = by_figure[("train step, tiny", "float32 achieved")]
  # Loose: on a shared machine the matmul reference and the step see different loads.
  assert achieved["reference_value"] == float32["value"] and 0.0 < achieved["ratio"] < 10.0
  # Measured in a fresh process each (step_memory): a step holds at least its input batch
  # (2x8x64x64x3 and 1x8x112x112x3 float32 frames, 0.8 and 1.2 MB) and its activations.
  for size, batch in (("tiny", 2), ("mid", 1)):
    memory = by_figure[(f"train step, {size}", f"peak memory of a step, batch {batch}")]
    process_peak = float(re.search(r"process peak (\d+) MiB", memory["note"]).group(1))
    # The step's own peak is part of its process's peak (TensorFlow, the model, the graph).
    assert 1.0 < memory["value"] < process_peak, memory
  waiting = by_figure[("data, tiny layout", "time waiting for input / step time")]
  assert 0.0 <= waiting["value"] <= 1.0
  assert [r["figure"] for r in rows if r["section"] == "inference scaling in R"] == [
    "R=16",
    "R=64",
    "R=300",
  ]
  stages = [r["figure"] for r in rows if r["section"] == "inference per clip, mid"]
  assert stages == ["whole detection", "trunk", "rpn", "head", "post-processing"]

  saved = json.loads((tmp_path / "results.json").read_text())
  assert saved["rows"] == rows
  table = (tmp_path / "results.md").read_text().splitlines()
  assert table[0].startswith("Benchmark suite (quick, trunks to Mixed_3c), ")
  assert table[2].startswith("| section | figure | value |")
  assert sum(line.startswith("| ") for line in table) == len(rows) + 1
