"""compare_heads end to end on a tiny dataset: converts, trains two rows, writes the table, then
resumes a half-trained row and finally re-runs without training anything."""

import json
import subprocess
import sys
import types

import pytest

from ava_tx import model_lib
from ava_tx.builders import config_util
from ava_tx.core import errors
from ava_tx.core.tf_setup import tf
from ava_tx.experiments import compare_heads
from ava_tx.experiments import comparison_rows
from ava_tx.experiments import head_comparison
from ava_tx.protos import train_pb2
from tests.experiments import REPO
from tests.experiments import tiny_dataset

ROWS = ("gt_tx_lowres", "gt_tx_highres_1x1")  # The two cheapest rows (no I3D head).
COLUMNS = (
  "mAP per seed",
  "mAP",
  "prior mAP",
  "interaction mean AP",
  "AP listen to",
  "AP talk to",
  "AP watch",
  "motion mean AP",
  "AP bend/bow",
  "AP jump/leap",
  "AP run/jog",
  "AP sit",
  "AP stand",
  "AP walk",
  "person AP@0.5",
  "person AP@0.75",
  "params (M)",
  "head params (M)",
  "steps/s",
  "wall (min)",
)


def _table(markdown):
  lines = [line for line in markdown.splitlines() if line.startswith("|")]
  header = [cell.strip() for cell in lines[0].strip("|").split("|")]
  return header, [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def _result(output_dir, row):
  path = output_dir / "runs" / row / "seed_1" / head_comparison.RESULT
  return json.loads(path.read_text())


class _Counting:
  def __init__(self, function):
    self.function, self.calls = function, 0

  def __call__(self, **kwargs):
    self.calls += 1
    return self.function(**kwargs)


@pytest.mark.slow
def test_compare_two_rows_then_resume(tmp_path, monkeypatch, run_cache_dir):
  data = tiny_dataset.write_dataset(tmp_path / "data", run_cache_dir)
  base = tiny_dataset.write_config(tiny_dataset.tiny_config(), tmp_path / "base.config")
  output_dir = tmp_path / "out"
  options = compare_heads.Options(
    output_dir=str(output_dir), data_dir=str(data), base_config=str(base), rows=ROWS, steps=2
  )
  first = compare_heads.run(options, log=lambda *a, **k: None)

  header, rows = _table(first)
  assert header == ["table", "row", "seeds"] + list(COLUMNS)
  assert [row[1] for row in rows] == [
    "Tx LowRes (`gt_tx_lowres`)",
    "Tx HighRes (1 layer x 1 head) (`gt_tx_highres_1x1`)",
  ]
  assert all(row[0] == "Table 1" and row[2] == "1" for row in rows)
  assert (output_dir / "comparison.md").read_text() == first
  saved = json.loads((output_dir / "comparison.json").read_text())
  assert sorted(saved["runs"]) == sorted(ROWS)
  assert saved["groups"]["interaction"] == [
    "listen to (a person)",
    "talk to (e.g., self, a person, a group)",
    "watch (a person)",
  ]
  lowres, one_layer = (_result(output_dir, row) for row in ROWS)
  assert lowres["steps"] == one_layer["steps"] == 2 and lowres["resumed_from_step"] == 0
  assert 0 < lowres["head_parameters"] < lowres["parameters"]
  assert one_layer["parameters"] != lowres["parameters"]
  assert (output_dir / "tfrecords" / "train-00000-of-00004").exists()  # Converted in-process.

  # Half-trained: the second row lost its result and its step-2 checkpoint.
  run_dir = output_dir / "runs" / ROWS[1] / "seed_1"
  (run_dir / head_comparison.RESULT).unlink()
  for path in run_dir.glob("ckpt-2.*"):
    path.unlink()
  tf.compat.v1.train.update_checkpoint_state(
    str(run_dir), str(run_dir / "ckpt-1"), all_model_checkpoint_paths=[str(run_dir / "ckpt-1")]
  )
  train = _Counting(model_lib.train)
  monkeypatch.setattr(model_lib, "train", train)
  second = compare_heads.run(options, log=lambda *a, **k: None)
  assert train.calls == 1
  resumed = _result(output_dir, ROWS[1])
  assert resumed["resumed_from_step"] == 1 and resumed["steps"] == 2
  assert _table(second)[1][0] == rows[0]  # The finished row is untouched.

  def refuse(**kwargs):
    raise AssertionError("a finished comparison must not train or evaluate again")

  monkeypatch.setattr(model_lib, "train", refuse)
  monkeypatch.setattr(model_lib, "evaluate", refuse)
  assert compare_heads.run(options, log=lambda *a, **k: None) == second

  changed = compare_heads.Options(**{**options.__dict__, "steps": 3})
  with pytest.raises(ValueError, match="steps"):
    compare_heads.run(changed, log=lambda *a, **k: None)


def test_unknown_row_is_a_one_line_error(tmp_path):
  result = subprocess.run(
    [
      sys.executable,
      "-m",
      "ava_tx.experiments.compare_heads",
      f"--output_dir={tmp_path}",
      "--rows=gt_i3d,nope",
    ],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=120,
    check=False,
  )
  assert result.returncode == 1
  assert (
    result.stderr.strip()
    .splitlines()[-1]
    .startswith("compare_heads: error: --rows: unknown row(s) ['nope']")
  )
  assert "Traceback" not in result.stderr


def test_missing_kinetics_weights_are_named_before_any_work(tmp_path, run_cache_dir):
  data = tiny_dataset.write_dataset(tmp_path / "data", run_cache_dir)
  config = tiny_dataset.tiny_config()
  config.model.action_transformer.trunk.depth_multiplier = 1.0
  config.model.action_transformer.trunk.fine_tune_checkpoint = str(tmp_path / "nowhere" / "i3d")
  base = tiny_dataset.write_config(config, tmp_path / "base.config")
  output_dir = tmp_path / "out"
  options = compare_heads.Options(
    output_dir=str(output_dir), data_dir=str(data), base_config=str(base), rows=ROWS, steps=2
  )
  with pytest.raises(errors.InputError) as raised:
    compare_heads.run(options, log=lambda *a, **k: None)
  message = str(raised.value)
  assert message.startswith(f"{base}: trunk.fine_tune_checkpoint: No converted I3D checkpoint at")
  assert f"fetch_kinetics_i3d --output_dir {tmp_path / 'nowhere'}" in message
  assert not output_dir.exists()  # Refused before converting or training anything.


def test_default_base_is_the_demo_config_with_the_paper_head():
  options = compare_heads.Options(output_dir="x")
  assert options.base_config == str(REPO / "configs" / "tiny_kinetics_demo_cpu.config")
  assert options.head_sizes == "paper"
  config = config_util.load_pipeline_config(options.base_config)
  trunk = config.model.action_transformer.trunk
  assert trunk.fine_tune_checkpoint == "workspace/pretrained/i3d_kinetics400_rgb/i3d"
  assert (trunk.depth_multiplier, trunk.freeze_batch_norm) == (1.0, True)
  comparison_rows.set_head_sizes(config.model.action_transformer, options.head_sizes)
  tx = config.model.action_transformer.action_transformer_head
  sizes = (
    tx.hidden_size,
    round(tx.dropout_rate, 6),
    tx.ffn_hidden_size,
    tx.high_res_reduced_channels,
    tx.location_embedding_size,
    tx.location_embedding_hidden_size,
  )
  assert sizes == (128, 0.3, 512, 128, 64, 64)  # configs/ava_tx_highres_64f_400.config's head.
  assert (tx.num_layers, tx.num_heads) == (3, 2)


def test_unknown_head_sizes_is_a_one_line_error(tmp_path):
  options = compare_heads.Options(output_dir=str(tmp_path / "out"), head_sizes="huge")
  with pytest.raises(
    errors.InputError, match=r"^--head_sizes: expected one of \('paper', 'base'\)"
  ):
    compare_heads.run(options, log=lambda *a, **k: None)
  assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
  "precision, expected",
  [(None, "FLOAT32"), ("MIXED_BFLOAT16", "MIXED_BFLOAT16"), ("FLOAT32", "FLOAT32")],
)
def test_rows_train_in_float32_unless_the_base_config_sets_a_precision(
  tmp_path, precision, expected
):
  base = config_util.load_pipeline_config(str(REPO / "configs" / "tiny_kinetics_demo_cpu.config"))
  assert not base.train_config.HasField("precision")  # the demo takes the device's default
  if precision:
    base.train_config.precision = train_pb2.TrainConfig.Precision.Value(precision)
  config_util.save_pipeline_config(base, str(tmp_path))
  base_path = tmp_path / "pipeline.config"
  label_map = tmp_path / "label_map.pbtxt"
  label_map.write_text('item { name: "stand" id: 1 }\nitem { name: "sit" id: 2 }\n')
  paths = types.SimpleNamespace(
    label_map=str(label_map),
    shard_pattern=lambda split: str(tmp_path / f"{split}-*"),
    groundtruth={"val": str(tmp_path / "val.csv")},
    excluded={"val": None},
  )
  config = head_comparison.base_config(str(base_path), paths, steps=10)
  assert train_pb2.TrainConfig.Precision.Name(config.train_config.precision) == expected
  assert config.model.action_transformer.num_classes == 2
