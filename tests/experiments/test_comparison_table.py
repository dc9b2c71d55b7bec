"""The comparison table: class groups, aggregation over seeds and the markdown, on known numbers."""

import math

from ava_tx.experiments import comparison_rows
from ava_tx.experiments import comparison_table as table

GROUPS = {"interaction": ["watch (a person)"], "motion": ["walk", "run/jog"]}


def _result(seed, mean_ap, watch, walk, run):
  prefix = table.CLASS_AP
  return {
    "seed": seed,
    "parameters": 2_500_000,
    "head_parameters": 500_000,
    "steps_per_sec": 4.0,
    "train_seconds": 100.0,
    "eval_seconds": 20.0,
    "metrics": {
      table.MAP: mean_ap,
      table.PRIOR_MAP: 0.2,
      prefix + "watch (a person)": watch,
      prefix + "walk": walk,
      prefix + "run/jog": run,
      table.LOCALIZATION_AP % 0.5: 0.9,
      table.LOCALIZATION_AP % 0.75: 0.6,
    },
  }


def test_present_classes_follow_the_label_map_and_skip_absent_names():
  names = ["stand", "walk", "watch (a person)"]
  assert table.present_classes(table.DEFAULT_MOTION_CLASSES, names) == ["stand", "walk"]
  assert table.present_classes(table.DEFAULT_INTERACTION_CLASSES, names) == ["watch (a person)"]
  assert table.short_name("talk to (e.g., self, a person, a group)") == "talk to"


def test_run_summary_values():
  summary = table.run_summary(_result(1, 0.4, 0.3, 0.5, float("nan")), GROUPS)
  assert summary["interaction mean AP"] == 0.3
  assert summary["motion mean AP"] == 0.5  # NaN (class without ground truth) is left out.
  assert math.isnan(summary["AP run/jog"])
  assert summary["params (M)"] == 2.5 and summary["wall (min)"] == 2.0


def test_aggregate_mean_and_sample_sd():
  columns = table.aggregate(
    [_result(2, 0.5, 0.4, 0.5, 0.1), _result(1, 0.3, 0.2, 0.5, 0.1)], GROUPS
  )
  mean, spread, values = columns["mAP"]
  assert values == [0.3, 0.5]  # In seed order.
  assert math.isclose(mean, 0.4) and math.isclose(spread, math.sqrt(0.02))


def test_markdown_has_one_line_per_row_with_results():
  rows = comparison_rows.select_rows(["gt_i3d", "gt_tx_highres"])
  markdown = table.markdown_table(
    rows, {"gt_i3d": [_result(1, 0.3, 0.2, 0.5, 0.1), _result(2, 0.5, 0.4, 0.5, 0.1)]}, GROUPS
  )
  lines = markdown.splitlines()
  assert len(lines) == 3
  assert lines[2].startswith(
    "| Table 1 | I3D head (`gt_i3d`) | 1,2 | 0.300 / 0.500 | 0.400 ± 0.141 |"
  )
  assert lines[2].endswith("| 2.50 | 0.50 | 4.00 ± 0.00 | 2.0 ± 0.0 |")  # Parameters: no spread.
