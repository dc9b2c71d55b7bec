"""A short, readable table of one evaluation's metrics JSON (what the demo prints at the end).

    python -m ava_tx.eval.metrics_table workspace/models/tiny_synthetic/eval/metrics_step_3000.json

The JSON is the one `AvaEvaluator.evaluate` writes (see docs/EVALUATION.md): mAP, the constant
and class-prior baselines, person localization AP, which classes the mean covers and whether
the per-keyframe cap was applied, per-class AP against the constant baseline's, one class a
line, best first, and the paths of the metrics JSON and the detections CSV.
"""

import json
import math
import sys
from typing import List, Mapping, Optional


def _fmt(value) -> str:
  return (
    "  -  " if value is None or (isinstance(value, float) and math.isnan(value)) else "%.3f" % value
  )


def format_table(report: Mapping, metrics_path: Optional[str] = None) -> List[str]:
  """Lines of text: the headline figures, what the mean covers, per-class AP (with the constant
  baseline's), best first, and where the files are."""
  baselines = report.get("baselines", {})
  constant = baselines.get("constant", {})
  prior = baselines.get("class_prior", {})
  localization = report.get("localization_ap", {})
  per_class = report.get("per_class_ap", {})
  defined = [(k, v) for k, v in per_class.items() if v is not None and not math.isnan(v)]
  lines = [
    "step %s: frame-mAP@0.5 %s | constant baseline %s | class-prior baseline %s | "
    "person AP@0.5 %s"
    % (
      report.get("global_step"),
      _fmt(report.get("mean_ap")),
      _fmt(constant.get("mean_ap")),
      _fmt(prior.get("mean_ap")),
      _fmt(localization.get("0.5")),
    ),
    "mean over %d of %d classes (those with ground truth); %s"
    % (len(defined), len(per_class), report.get("cap", "detections-per-keyframe cap: ?")),
    "%-28s %6s %9s %6s" % ("class", "AP", "constant", "boxes"),
  ]
  names = report.get("class_names", {})
  counts = report.get("num_groundtruth", {})
  for label, ap in sorted(defined, key=lambda kv: -kv[1]):
    lines.append(
      "%-28s %6s %9s %6d"
      % (
        names.get(label, label)[:28],
        _fmt(ap),
        _fmt(constant.get("per_class_ap", {}).get(label)),
        counts.get(label, 0),
      )
    )
  if metrics_path:
    lines.append("metrics JSON   %s" % metrics_path)
  if report.get("detections_csv"):
    lines.append("detections CSV %s" % report["detections_csv"])
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
  print("\n".join(format_table(report, argv[1])))
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
