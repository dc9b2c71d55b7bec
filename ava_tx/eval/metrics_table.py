"""A short, readable table of one evaluation's metrics JSON (what the demo prints at the end).

    python -m ava_tx.eval.metrics_table workspace/models/tiny_synthetic/eval/metrics_step_3000.json

The JSON is the one `AvaEvaluator.evaluate` writes (see docs/EVALUATION.md): mAP, the constant
and class-prior baselines, person localization AP, and per-class AP against the constant
baseline's, one class a line, best first.
"""

import json
import math
import sys
from typing import List, Mapping


def _fmt(value) -> str:
  return "  -  " if value is None or (isinstance(value, float) and math.isnan(value)) \
      else "%.3f" % value


def format_table(report: Mapping) -> List[str]:
  """Lines of text: the headline figures, then per-class AP (with the constant baseline)."""
  baselines = report.get("baselines", {})
  constant = baselines.get("constant", {})
  prior = baselines.get("class_prior", {})
  localization = report.get("localization_ap", {})
  lines = [
      "step %s: frame-mAP@0.5 %s | constant baseline %s | class-prior baseline %s | "
      "person AP@0.5 %s" % (report.get("global_step"), _fmt(report.get("mean_ap")),
                            _fmt(constant.get("mean_ap")), _fmt(prior.get("mean_ap")),
                            _fmt(localization.get("0.5"))),
      "%-28s %6s %9s %6s" % ("class", "AP", "constant", "boxes")]
  names = report.get("class_names", {})
  per_class = report.get("per_class_ap", {})
  counts = report.get("num_groundtruth", {})
  defined = [(k, v) for k, v in per_class.items() if v is not None and not math.isnan(v)]
  for label, ap in sorted(defined, key=lambda kv: -kv[1]):
    lines.append("%-28s %6s %9s %6d" % (names.get(label, label)[:28], _fmt(ap),
                                        _fmt(constant.get("per_class_ap", {}).get(label)),
                                        counts.get(label, 0)))
  return lines


def main(argv) -> int:
  if len(argv) != 2:
    print("usage: python -m ava_tx.eval.metrics_table METRICS.json", file=sys.stderr)
    return 2
  try:
    with open(argv[1], encoding="utf-8") as f:
      report = json.load(f)
  except (OSError, ValueError) as e:
    print("metrics_table: error: %s: %s" % (argv[1], e), file=sys.stderr)
    return 1
  print("\n".join(format_table(report)))
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
