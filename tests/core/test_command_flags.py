"""Every command's flags follow command_line's one style: importing any number of commands into
one process defines none of their flags, and each command's `define_flags()` defines exactly the
flags its `--help` lists (names, defaults, help text)."""

import json
import os
from pathlib import Path
import re
import subprocess
import sys

import pytest

REPO = Path(__file__).resolve().parents[2]
COMMANDS = (
  "ava_tx.model_main_tf2",
  "ava_tx.exporter_main_v2",
  "ava_tx.predict",
  "ava_tx.visualize_attention",
  "ava_tx.experiments.compare_heads",
  "data_tools.classify_kinetics",
  "data_tools.fetch_kinetics_i3d",
  "data_tools.fetch_person_detector",
  "data_tools.convert_i3d_checkpoint",
  "data_tools.create_ava_tf_record",
  "data_tools.create_ava_tf_record_beam",
  "data_tools.synth_ava",
  "benchmarks.bf16_conv3d_check",
  "benchmarks.conversion_benchmark",
  "benchmarks.count_parameters",
  "benchmarks.data_benchmark",
  "benchmarks.maxpool_benchmark",
  "benchmarks.paper_size_forward",
  "benchmarks.person_detector_ap",
  "benchmarks.run",
  "benchmarks.stem_benchmark",
  "benchmarks.suite.step_memory",
)
_FLAG_LINE = re.compile(r"^  --(?:\[no\])?(\w+):", re.M)


def _env():
  return {**os.environ, "PYTHONPATH": str(REPO)}


def _flag_lines(help_text):
  """absl's lines of the flags (from the first `  --name:` line to the blank line after)."""
  start = _FLAG_LINE.search(help_text)
  assert start, help_text
  return help_text[start.start() :].split("\n\n")[0].rstrip()


def _command_modules():
  """Every module of ava_tx/, data_tools/ and benchmarks/ that runs absl's app.run."""
  found = set()
  for folder in ("ava_tx", "data_tools", "benchmarks"):
    for path in (REPO / folder).rglob("*.py"):
      if "app.run(" in path.read_text() or "command_line.run_program(" in path.read_text():
        found.add(".".join(path.relative_to(REPO).with_suffix("").parts))
  return found - {"ava_tx.core.command_line"}


def test_every_absl_command_is_covered():
  assert _command_modules() == set(COMMANDS)


def test_no_command_defines_flags_at_import():
  """A flag defined at module level is a line starting `flags.DEFINE` or `NAME = flags.DEFINE`."""
  at_import = re.compile(r"^(\w+ = )?flags\.(DEFINE|declare_key_flag|adopt_module_key_flags)", re.M)
  offenders = [
    name
    for name in COMMANDS + ("data_tools.conversion_flags", "ava_tx.inference.video_flags")
    if at_import.search((REPO / (name.replace(".", "/") + ".py")).read_text())
  ]
  assert not offenders


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """The runner's results: all commands imported into one process, then each one's --help
  (run as `python -m` runs it) and the flags its define_flags() defines."""
  output = tmp_path_factory.mktemp("help") / "results.json"
  subprocess.run(
    [sys.executable, "-m", "tests.core.command_help_runner", str(output), *COMMANDS],
    cwd=REPO,
    env=_env(),
    check=True,
    timeout=600,
  )
  return json.loads(output.read_text())


@pytest.mark.slow  # One process imports every command (TensorFlow included): ~25 s shared.
def test_importing_every_command_defines_no_flags(runs):
  """Imports define only library flags (TensorFlow's own), none of a command's."""
  assert runs["defined_on_import"], "expected TensorFlow's own flags"
  command_flags = set().union(*(run["all_flags"] for run in runs["commands"].values()))
  assert command_flags.isdisjoint(runs["defined_on_import"])
  ours = ("ava_tx.", "data_tools.", "benchmarks.")
  assert not [name for name, module in runs["defined_on_import"].items() if module.startswith(ours)]


@pytest.mark.slow
@pytest.mark.parametrize("name", COMMANDS)
def test_help_lists_exactly_the_flags_define_flags_defines(runs, name):
  if name in runs["unavailable"]:
    pytest.skip(f"{name} cannot be imported here: {runs['unavailable'][name]}")
  run = runs["commands"][name]
  assert run["exit_code"] == 1  # absl's --help prints the usage and exits 1.
  assert _flag_lines(run["help"]) == _flag_lines(run["defined"])


@pytest.mark.slow
def test_key_flags(runs):
  """The flags each command's --help shows, with their defaults, including shared definitions
  (conversion_flags, video_flags) and renamed flags."""

  def shown(name):
    return {m.group(1) for m in _FLAG_LINE.finditer(runs["commands"][name]["help"])}

  conversion = {
    "annotations_csv",
    "video_dir",
    "output_prefix",
    "num_shards",
    "label_map_path",
    "person_boxes_csv",
    "min_person_score",
    "fps",
    "clip_frames",
    "segment_start",
    "short_side",
    "image_format",
    "jpeg_quality",
    "skip_bad_rows",
    "overwrite",
  }
  assert shown("data_tools.create_ava_tf_record") == conversion | {"num_workers"}
  if "data_tools.create_ava_tf_record_beam" in runs["commands"]:  # Else: no apache_beam.
    assert shown("data_tools.create_ava_tf_record_beam") == conversion | {"keyframes_per_task"}
  video = {
    "segment_start",
    "folder_fps",
    "person_boxes_csv",
    "person_box_min_score",
    "person_detector",
    "person_detector_model",
    "person_detector_min_score",
  }
  assert video < shown("ava_tx.predict") and video < shown("ava_tx.visualize_attention")
  assert shown("ava_tx.visualize_attention") == video | {
    "saved_model_dir",
    "video",
    "output_dir",
    "timestamp",
    "person",
    "layer",
  }
  assert {"checkpoint", "video", "label_map_path", "top_k", "fps", "max_frames"} == shown(
    "data_tools.classify_kinetics"
  )
  # Renamed flags are defined (to refuse them) but listed by --helpfull only, under command_line.
  renamed = {
    "data_tools.classify_kinetics": "labels_path",
    "data_tools.create_ava_tf_record": "label_map",
    "ava_tx.experiments.compare_heads": "label_map",
  }
  for name, old_name in renamed.items():
    assert old_name in runs["commands"][name]["all_flags"] and old_name not in shown(name)
  model_main = " ".join(runs["commands"]["ava_tx.model_main_tf2"]["help"].split())
  assert (
    "--eval_timeout: With --checkpoint_dir: stop after this many seconds without a new "
    "checkpoint. (default: '3600')"
  ) in model_main
  assert model_main.startswith("Trains or evaluates an ava_tx model")  # The command's docstring.


@pytest.mark.slow
def test_runner_prints_what_python_m_prints(runs):
  """The runner's --help (runpy in one process) is that of a real `python -m` process."""
  name = "data_tools.fetch_kinetics_i3d"
  real = subprocess.run(
    [sys.executable, "-m", name, "--help"],
    cwd=REPO,
    env=_env(),
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert real.returncode == runs["commands"][name]["exit_code"]
  assert _flag_lines(real.stdout) == _flag_lines(runs["commands"][name]["help"])
