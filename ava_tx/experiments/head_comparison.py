"""Trains and evaluates the comparison's rows x seeds, resuming a half-finished comparison.

Layout of `output_dir`:
  settings.json                what every run shares (base config, data, steps, proposals);
                               a later call with other settings is refused
  runs/<row>/seed_<seed>/      model_dir of one run: pipeline.config, checkpoints, eval/,
                               result.json once trained and evaluated
  comparison.md, comparison.json   the table of every finished run

A run with result.json is skipped; a run without one resumes from its latest checkpoint
(model_lib.train does that) and is then evaluated. Rows differ only in head and proposal mode.
"""

import json
import logging
import os
import time

from google.protobuf import text_format

from ava_tx import model_lib
from ava_tx.builders import config_util
from ava_tx.builders import train_builder
from ava_tx.core import errors
from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf
from ava_tx.data import label_map_util
from ava_tx.experiments import comparison_rows
from ava_tx.experiments import comparison_table
from ava_tx.protos import train_pb2

SETTINGS = "settings.json"
RESULT = "result.json"
_log = logging.getLogger(__name__)


def base_config(base_config_path, paths, *, steps, head_sizes="paper"):
  """The base pipeline config pointed at the dataset, with the shared budget and head sizes
  (`comparison_rows.set_head_sizes`)."""
  config = config_util.load_pipeline_config(base_config_path)
  comparison_rows.set_head_sizes(config.model.action_transformer, head_sizes)
  labels = label_map_util.read_label_map(paths.label_map)
  config.model.action_transformer.num_classes = len(labels)
  config.train_config.num_steps = steps
  config.train_config.warmup_steps = min(config.train_config.warmup_steps, steps)
  config.train_config.image_summary_every_n_steps = 0  # Not needed here; costs a compile.
  # docs/COMPARISON.md's table was measured in float32: keep it so where the base config leaves
  # the precision to the device's default (mixed_bfloat16 on CPUs with bfloat16 instructions).
  if train_builder.configured_precision(config.train_config) is None:
    config.train_config.precision = train_pb2.TrainConfig.FLOAT32
  # Batched evaluation is faster on CPU and gives the same detections.
  config.eval_config.batch_size = max(config.eval_config.batch_size, config.train_config.batch_size)
  config.train_config.checkpoint_every_n_steps = max(
    1, min(config.train_config.checkpoint_every_n_steps, steps // 4 or 1)
  )
  for split, reader in (("train", config.train_input_reader), ("val", config.eval_input_reader)):
    reader.input_path[:] = [paths.shard_pattern(split)]
    reader.label_map_path = paths.label_map
  config.eval_config.label_map_path = paths.label_map
  config.eval_config.groundtruth_csv_path = paths.groundtruth["val"]
  config.eval_config.excluded_timestamps_path = paths.excluded["val"] or ""
  return config


def run_config(base, row, seed, *, proposals):
  """A copy of `base` for `row` trained with `seed` (> 0)."""
  config = type(base)()
  config.CopyFrom(base)
  comparison_rows.apply_row(config, row, proposals=proposals)
  config.train_config.seed = seed
  config.train_input_reader.seed = seed
  return config


def check_settings(output_dir, settings):
  """Writes settings.json, or refuses settings other than those of the runs already there."""
  path = os.path.join(output_dir, SETTINGS)
  if os.path.exists(path):
    with open(path, encoding="utf-8") as f:
      previous = json.load(f)
    changed = sorted(k for k in set(previous) | set(settings) if previous.get(k) != settings.get(k))
    if changed:
      raise errors.InputError(
        f"--output_dir: {output_dir} holds a comparison with other settings ({', '.join(changed)}"
        f" differ, see {path}); use another --output_dir to compare under new settings"
      )
    return
  os.makedirs(output_dir, exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    json.dump(settings, f, indent=2, sort_keys=True)


def count_parameters(checkpoint_path):
  """(model values, second-stage head values) stored in a training checkpoint."""
  total = head = 0
  for name, shape in tf.train.list_variables(checkpoint_path):
    if (
      not name.startswith("model/")
      or ".OPTIMIZER_SLOT" in name
      or not name.endswith("/.ATTRIBUTES/VARIABLE_VALUE")
    ):
      continue
    size = 1
    for dim in shape:
      size *= dim
    total += size
    head += size if name.startswith("model/_head/") else 0
  return total, head


def _write_json(path, value):
  tmp = path + ".tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    json.dump(value, f, indent=1, sort_keys=True, allow_nan=True)
  os.replace(tmp, path)


def train_and_evaluate(config, run_dir, *, row_name, seed):
  """Trains (or resumes) one run, evaluates its last checkpoint, writes and returns result.json."""
  config_path = os.path.join(run_dir, config_util.PIPELINE_CONFIG_NAME)
  text = text_format.MessageToString(config)
  if os.path.exists(config_path):
    with open(config_path, encoding="utf-8") as f:
      if f.read() != text:
        raise errors.InputError(
          f"{config_path}: this run was started with another config; "
          "delete its directory or use another --output_dir"
        )
  config_util.save_pipeline_config(config, run_dir)
  resumed_from = tf.train.latest_checkpoint(run_dir)
  keras.backend.clear_session()
  step_times = []  # After each step: the first includes tracing, so speed is measured after it.
  start = time.perf_counter()
  trained = model_lib.train(
    pipeline_config_path=config_path,
    model_dir=run_dir,
    record_summaries=True,
    step_hooks=[lambda step, losses: step_times.append(time.perf_counter())],
  )
  train_seconds = time.perf_counter() - start
  steps_per_sec = (
    (len(step_times) - 1) / (step_times[-1] - step_times[0])
    if len(step_times) > 1
    else float("nan")
  )
  start = time.perf_counter()
  ((step, metrics),) = model_lib.evaluate(
    pipeline_config_path=config_path, model_dir=run_dir, checkpoint_dir=run_dir
  )
  eval_seconds = time.perf_counter() - start
  parameters, head_parameters = count_parameters(trained.checkpoint_path)
  result = dict(
    row=row_name,
    seed=seed,
    steps=step,
    metrics=metrics,
    parameters=parameters,
    head_parameters=head_parameters,
    steps_per_sec=steps_per_sec,
    train_seconds=train_seconds,
    eval_seconds=eval_seconds,
    resumed_from_step=(int(resumed_from.rsplit("-", 1)[1]) if resumed_from else 0),
  )
  _write_json(os.path.join(run_dir, RESULT), result)
  return result


def run_dir_of(output_dir, row_name, seed):
  return os.path.join(output_dir, "runs", row_name, f"seed_{seed}")


def finished_results(output_dir):
  """{row name: [result dicts]} of every finished run in output_dir."""
  results = {}
  for row in comparison_rows.ROWS:
    for seed_dir in sorted(tf.io.gfile.glob(run_dir_of(output_dir, row.name, "*"))):
      path = os.path.join(seed_dir, RESULT)
      if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
          results.setdefault(row.name, []).append(json.load(f))
  return results


def run_comparison(*, base, rows, seeds, output_dir, proposals, settings, log=print):
  """Trains and evaluates every (row, seed) not finished yet; returns {row: [results]}."""
  check_settings(output_dir, settings)
  for row in rows:
    for seed in seeds:
      run_dir = run_dir_of(output_dir, row.name, seed)
      if os.path.exists(os.path.join(run_dir, RESULT)):
        log(f"{row.name} seed {seed}: finished earlier, skipped")
        continue
      log(f"{row.name} seed {seed}: training in {run_dir}")
      result = train_and_evaluate(
        run_config(base, row, seed, proposals=proposals), run_dir, row_name=row.name, seed=seed
      )
      log(f"{row.name} seed {seed}: mAP {result['metrics'][comparison_table.MAP]:.4f}")
  return finished_results(output_dir)


def write_outputs(output_dir, results_by_row, groups, *, header):
  """Writes comparison.md (header + table) and comparison.json; returns the markdown."""
  table = comparison_table.markdown_table(comparison_rows.ROWS, results_by_row, groups)
  markdown = header + "\n" + table
  with open(os.path.join(output_dir, "comparison.md"), "w", encoding="utf-8") as f:
    f.write(markdown)
  summaries = {
    name: {f"seed_{r['seed']}": comparison_table.run_summary(r, groups) for r in results}
    for name, results in results_by_row.items()
  }
  _write_json(
    os.path.join(output_dir, "comparison.json"),
    dict(groups=groups, runs=summaries, results=results_by_row),
  )
  return markdown
