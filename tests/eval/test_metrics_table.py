"""The demo's closing table of an evaluation's metrics JSON."""

import json

from ava_tx.eval import metrics_table

REPORT = {
    "global_step": 3000, "mean_ap": 0.4, "class_names": {"1": "bend/bow", "12": "stand", "80": "watch"},
    "per_class_ap": {"1": 0.2, "12": 0.75, "80": None}, "num_groundtruth": {"1": 7, "12": 40, "80": 0},
    "baselines": {"constant": {"mean_ap": 0.15, "per_class_ap": {"1": 0.1, "12": 0.3}},
                  "class_prior": {"mean_ap": 0.21}},
    "localization_ap": {"0.5": 0.9, "0.75": 0.5},
}


def test_table_lists_headline_then_classes_best_first():
  lines = metrics_table.format_table(REPORT)
  assert lines[0] == ("step 3000: frame-mAP@0.5 0.400 | constant baseline 0.150 | "
                      "class-prior baseline 0.210 | person AP@0.5 0.900")
  assert lines[2].split() == ["stand", "0.750", "0.300", "40"]
  assert lines[3].split() == ["bend/bow", "0.200", "0.100", "7"]
  assert len(lines) == 4  # "watch" has no ground truth: no row.


def test_command_reads_the_file(tmp_path, capsys):
  path = tmp_path / "metrics.json"
  path.write_text(json.dumps(REPORT))
  assert metrics_table.main(["metrics_table", str(path)]) == 0
  assert capsys.readouterr().out.splitlines()[0].startswith("step 3000: frame-mAP@0.5 0.400")
  assert metrics_table.main(["metrics_table", str(tmp_path / "missing.json")]) == 1
