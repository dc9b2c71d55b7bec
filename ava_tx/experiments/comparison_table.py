"""The comparison's table: class groups, per-run results, aggregation over seeds, markdown.

Pure Python (no TensorFlow). A run result is the dict `compare_heads` writes as
`runs/<row>/seed_<seed>/result.json`: {"row", "seed", "metrics" (the evaluator's flat dict),
"parameters", "head_parameters", "steps", "steps_per_sec", "train_seconds", "eval_seconds",
"resumed_from_step"}.
"""

import math
import statistics
from typing import Mapping, Sequence

# AVA class names (verbatim, ava_action_list_v2.x) of the two groups the paper contrasts.
# Interaction: actions defined by another person, which the I3D head's own-tube view cannot
# see (hand wave and hand clap, AVA PERSON_INTERACTION too, are visible on the person alone).
DEFAULT_INTERACTION_CLASSES = (
  "watch (a person)",
  "talk to (e.g., self, a person, a group)",
  "listen to (a person)",
  "fight/hit (a person)",
  "give/serve (an object) to (a person)",
  "grab (a person)",
  "hand shake",
  "hug (a person)",
  "kiss (a person)",
  "lift (a person)",
  "push (another person)",
  "sing to (e.g., self, a person, a group)",
  "take (an object) from (a person)",
)
# Motion: AVA's PERSON_MOVEMENT classes, read from the person's own body over time.
DEFAULT_MOTION_CLASSES = (
  "bend/bow (at the waist)",
  "crawl",
  "crouch/kneel",
  "dance",
  "fall down",
  "get up",
  "jump/leap",
  "lie/sleep",
  "martial art",
  "run/jog",
  "sit",
  "stand",
  "swim",
  "walk",
)

MAP = "AVA/mAP@0.5IOU"
PRIOR_MAP = "AVA/Baseline/class_prior_mAP@0.5IOU"
CLASS_AP = "AVA/PerformanceByCategory/AP@0.5IOU/"
LOCALIZATION_AP = "AVA/Localization/AP@%gIOU"


def present_classes(names: Sequence[str], label_names: Sequence[str]) -> list:
  """`names` that the label map has, in label-map order (absent ones are skipped)."""
  wanted = set(names)
  return [name for name in label_names if name in wanted]


def short_name(name: str) -> str:
  """'watch (a person)' -> 'watch': the class name without its parenthesis."""
  return name.split(" (")[0]


def _mean(values):
  values = [v for v in values if v is not None and not math.isnan(v)]
  return sum(values) / len(values) if values else float("nan")


def run_summary(result: Mapping, groups: Mapping[str, Sequence[str]]) -> dict:
  """The numbers of one run: mAP, prior, per-class AP of each group and its mean, loc. AP."""
  metrics = result["metrics"]
  summary = {"mAP": metrics[MAP], "prior mAP": metrics[PRIOR_MAP]}
  for group, names in groups.items():
    values = [metrics.get(CLASS_AP + name, float("nan")) for name in names]
    summary[f"{group} mean AP"] = _mean(values)
    summary.update({f"AP {short_name(n)}": v for n, v in zip(names, values)})
  for iou in (0.5, 0.75):
    summary[f"person AP@{iou:g}"] = metrics.get(LOCALIZATION_AP % iou, float("nan"))
  summary["params (M)"] = result["parameters"] / 1e6
  summary["head params (M)"] = result["head_parameters"] / 1e6
  summary["steps/s"] = result["steps_per_sec"]
  summary["wall (min)"] = (result["train_seconds"] + result["eval_seconds"]) / 60
  return summary


def aggregate(results: Sequence[Mapping], groups) -> dict:
  """{column: (mean, sample standard deviation or nan, [per-seed values])} over a row's seeds."""
  summaries = [run_summary(r, groups) for r in sorted(results, key=lambda r: r["seed"])]
  columns = {}
  for key in summaries[0]:
    values = [s[key] for s in summaries]
    finite = [v for v in values if not math.isnan(v)]
    spread = statistics.stdev(finite) if len(finite) > 1 else float("nan")
    columns[key] = (_mean(finite), spread, values)
  return columns


def _cell(column, mean, spread, values):
  if math.isnan(mean):
    return "-"
  digits = 2 if column in ("steps/s", "params (M)", "head params (M)") else 3
  if column == "wall (min)":
    digits = 1
  text = f"{mean:.{digits}f}"
  if len(values) > 1 and not math.isnan(spread) and column not in ("params (M)", "head params (M)"):
    text += f" ± {spread:.{digits}f}"
  return text


def markdown_table(
  rows: Sequence,
  results_by_row: Mapping[str, Sequence[Mapping]],
  groups: Mapping[str, Sequence[str]],
) -> str:
  """One markdown table: a line per row with results (mean ± sd over its seeds)."""
  aggregated = {
    row.name: aggregate(results_by_row[row.name], groups)
    for row in rows
    if results_by_row.get(row.name)
  }
  if not aggregated:
    return "(no finished run)\n"
  columns = list(next(iter(aggregated.values())))
  header = ["table", "row", "seeds", "mAP per seed"] + columns
  lines = [
    "| " + " | ".join(header) + " |",
    "| " + " | ".join(["---"] * 3 + ["---:"] * (len(header) - 3)) + " |",
  ]
  for row in rows:
    if row.name not in aggregated:
      continue
    cells = aggregated[row.name]
    seeds = sorted(r["seed"] for r in results_by_row[row.name])
    per_seed = " / ".join(f"{v:.3f}" for v in cells["mAP"][2])
    lines.append(
      "| "
      + " | ".join(
        [row.table, f"{row.label} (`{row.name}`)", ",".join(map(str, seeds)), per_seed]
        + [_cell(c, *cells[c]) for c in columns]
      )
      + " |"
    )
  return "\n".join(lines) + "\n"
