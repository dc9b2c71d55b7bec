"""End to end through the user's commands: synthetic AVA data -> TFRecords -> model_main_tf2
training, killed mid-run and resumed by the same command -> evaluation with the AVA metric."""

import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import time

from google.protobuf import text_format
import pytest

from ava_tx.builders import config_util
from tests.experiments import tiny_dataset

REPO = Path(__file__).resolve().parents[1]


def _tiny_pipeline(tmp_path, cache_dir):
  data = tiny_dataset.write_dataset(tmp_path / "data", cache_dir)
  shards = tiny_dataset.convert(data, tmp_path / "shards", cache_dir)
  # 8 frames at 64x64, 1/8-width trunk to Mixed_3c, batch 2 (the seeding test's model).
  config = tiny_dataset.tiny_config()
  model = config.model.action_transformer
  model.rpn.num_proposals_train = model.rpn.num_proposals_test = 8
  model.rpn.pre_nms_top_k_train = model.rpn.pre_nms_top_k_test = 64
  for reader in (config.train_input_reader, config.eval_input_reader):
    reader.label_map_path = str(data / "label_map.pbtxt")
  config.train_input_reader.input_path[:] = [str(shards / "train-?????-of-?????")]
  config.eval_input_reader.input_path[:] = [str(shards / "val-?????-of-?????")]
  config.eval_config.label_map_path = str(data / "label_map.pbtxt")
  config.eval_config.groundtruth_csv_path = str(data / "val.csv")
  config.eval_config.excluded_timestamps_path = str(data / "val_excluded_timestamps.csv")
  path = tmp_path / "pipeline.config"
  path.write_text(text_format.MessageToString(config))
  return path


def _train_command(config_path, model_dir, steps):
  return [
    sys.executable,
    "-m",
    "ava_tx.model_main_tf2",
    f"--pipeline_config_path={config_path}",
    f"--model_dir={model_dir}",
    f"--num_train_steps={steps}",
    "--checkpoint_every_n=1",
    "--record_summaries=false",
  ]


@pytest.mark.slow
def test_train_kill_resume_and_evaluate(tmp_path, run_cache_dir):
  config_path = _tiny_pipeline(tmp_path, run_cache_dir)
  model_dir = tmp_path / "model"
  command = _train_command(config_path, model_dir, steps=4)
  env = dict(os.environ, PYTHONUNBUFFERED="1")
  first = subprocess.Popen(
    command,
    cwd=REPO,
    env=env,
    stdout=subprocess.PIPE,
    stderr=subprocess.STDOUT,
    start_new_session=True,
  )
  deadline = time.time() + 300
  while not (model_dir / "ckpt-2.index").exists():
    assert first.poll() is None, first.stdout.read().decode()[-3000:]
    assert time.time() < deadline, "no checkpoint after 300 s"
    time.sleep(0.2)
  os.killpg(first.pid, signal.SIGKILL)
  first.wait()
  assert not (model_dir / "ckpt-4.index").exists()
  assert (model_dir / "pipeline.config").exists()

  second = subprocess.run(
    command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False
  )
  assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-3000:]
  assert "Resuming from" in second.stderr
  assert "trained to step 4" in second.stdout
  assert (model_dir / "ckpt-4.index").exists()

  # Continuous evaluation (the default, as in the OD API): the latest checkpoint, then no new
  # one for --eval_timeout seconds.
  evaluation = subprocess.run(
    [
      sys.executable,
      "-m",
      "ava_tx.model_main_tf2",
      f"--pipeline_config_path={config_path}",
      f"--model_dir={model_dir}",
      f"--checkpoint_dir={model_dir}",
      "--eval_timeout=2",
    ],
    cwd=REPO,
    env=env,
    capture_output=True,
    text=True,
    timeout=600,
    check=False,
  )
  assert evaluation.returncode == 0, evaluation.stdout[-2000:] + evaluation.stderr[-3000:]
  printed = evaluation.stdout.splitlines()
  assert printed[0].startswith("step 4: {") and "AVA/mAP@0.5IOU" in printed[0], printed
  assert printed[1].startswith(f"evaluated 1 checkpoint(s) of {model_dir}; stopped"), printed
  metrics = json.loads(printed[0].split(": ", 1)[1])
  assert json.loads((model_dir / "eval" / "metrics_step_4.json").read_text())["global_step"] == 4
  assert 0.0 <= metrics["AVA/mAP@0.5IOU"] <= 1.0
  assert "AVA/Baseline/class_prior_mAP@0.5IOU" in metrics
  assert "AVA/Baseline/constant_mAP@0.5IOU" in metrics
  rows = (model_dir / "eval" / "detections_step_4.csv").read_text().splitlines()
  assert rows and all(len(row.split(",")) == 8 for row in rows)
  _assert_evaluation_used_the_checkpoint(config_path, model_dir / "ckpt-4", rows)


def _assert_evaluation_used_the_checkpoint(config_path, checkpoint, rows):
  """The CSV's scores for the first val keyframe are those of the model restored explicitly
  from `checkpoint` (after its variables exist), not those of a freshly initialised model."""
  import numpy as np

  from ava_tx.builders import input_reader_builder
  from ava_tx.builders import model_builder
  from ava_tx.core.standard_fields import DetectionFields
  from ava_tx.core.standard_fields import InputFields
  from ava_tx.core.tf_setup import tf
  from ava_tx.training import train_loop

  config = config_util.load_pipeline_config(str(config_path))
  model_config = config.model.action_transformer
  batch = next(
    iter(
      input_reader_builder.build_dataset_fn(
        config.eval_input_reader,
        model_config,
        global_batch_size=config.eval_config.batch_size,
        is_training=False,
        prefix="eval_input_reader",
      )(None)
    )
  )
  video_id, timestamp = batch[InputFields.source_id][0].numpy().decode().split(",")
  written = sorted(float(r.split(",")[7]) for r in rows if r.startswith(f"{video_id},{timestamp},"))
  scores = {}
  for restore in (False, True):
    model = model_builder.build(model_config)
    train_loop.compute_detections(model, batch)  # Creates the variables.
    if restore:
      tf.train.Checkpoint(model=model).read(str(checkpoint)).assert_existing_objects_matched()
    detections = train_loop.compute_detections(model, batch)
    num = int(detections[DetectionFields.num_detections][0])
    scores[restore] = sorted(
      detections[DetectionFields.detection_action_scores][0, :num].numpy().reshape(-1)
    )
  assert len(written) == len(scores[True]) > 0
  np.testing.assert_allclose(written, scores[True], atol=2e-6)
  assert len(scores[False]) != len(written) or not np.allclose(written, scores[False], atol=1e-3)


def test_model_main_tf2_reports_bad_config_without_traceback(tmp_path):
  bad = tmp_path / "bad.config"
  bad.write_text(
    "model { action_transformer { num_frames: 12 } }\ntrain_input_reader { input_path: 'x' }\n"
  )
  result = subprocess.run(
    _train_command(bad, tmp_path / "m", 1),
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=300,
    check=False,
  )
  assert result.returncode == 1
  assert "model.action_transformer.num_frames" in result.stderr
  assert "Traceback" not in result.stderr
