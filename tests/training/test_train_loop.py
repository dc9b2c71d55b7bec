"""Tests of ava_tx.training.train_loop on one CPU device with a fake model."""

import os
import signal
import threading
import time

import numpy as np
import pytest

from ava_tx.core.standard_fields import LossFields
from ava_tx.core.tf_setup import tf
from ava_tx.training import checkpoints
from ava_tx.training import optimizer as optimizer_lib
from ava_tx.training import strategy as strategy_lib
from ava_tx.training import train_loop
from tests.training import fake_detection_model as fake
from tests.training import summary_events

GLOBAL_BATCH = 4
ACTION_LOSS = LossFields.action_classification_loss


class _Stop(Exception):
  """Raised by a hook to emulate a killed run."""


def _run(
  model_dir,
  num_steps=12,
  *,
  hooks=(),
  nan_at_index=-1,
  mixed_precision=False,
  fine_tune_fn=None,
  **config,
):
  config.setdefault("checkpoint_every_n", 5)
  config.setdefault("summary_every_n", 1)
  return train_loop.train_loop(
    strategy=strategy_lib.build_strategy(strategy_name=strategy_lib.ONE_DEVICE),
    model_fn=fake.FakeDetectionModel,
    optimizer_fn=lambda: optimizer_lib.build_optimizer(
      learning_rate=optimizer_lib.WarmupCosineDecay(
        base_learning_rate=0.5, warmup_learning_rate=0.05, warmup_steps=3, total_steps=num_steps
      ),
      mixed_precision=mixed_precision,
    ),
    dataset_fn=fake.make_dataset_fn(GLOBAL_BATCH, nan_at_index=nan_at_index),
    config=train_loop.TrainLoopConfig(model_dir=str(model_dir), num_steps=num_steps, **config),
    fine_tune_fn=fine_tune_fn,
    step_hooks=hooks,
  )


def _checkpoint_values(path):
  reader = tf.train.load_checkpoint(path)
  return {
    name: reader.get_tensor(name)
    for name, _ in tf.train.list_variables(path)
    if "model" in name or "optimizer" in name
  }


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
  """12 steps in one go, with image summaries; records the losses."""
  model_dir = tmp_path_factory.mktemp("uninterrupted")
  losses = {}
  result = _run(
    model_dir,
    hooks=[lambda step, l: losses.__setitem__(step, l)],
    image_summary_every_n=6,
    max_checkpoints_to_keep=2,
  )
  return model_dir, result, losses


def test_trains_and_checkpoints(uninterrupted):
  model_dir, result, losses = uninterrupted
  assert result.global_step == 12 and sorted(losses) == list(range(1, 13))
  assert result.checkpoint_path == os.path.join(str(model_dir), "ckpt-12")
  assert os.path.basename(tf.train.latest_checkpoint(str(model_dir))) == "ckpt-12"
  kept = tf.train.get_checkpoint_state(str(model_dir)).all_model_checkpoint_paths
  assert [os.path.basename(p) for p in kept] == ["ckpt-10", "ckpt-12"]  # keep 2
  first = np.mean([losses[s][LossFields.total_loss] for s in (1, 2, 3)])
  last = np.mean([losses[s][LossFields.total_loss] for s in (10, 11, 12)])
  assert last < 0.8 * first, (first, last)
  assert result.losses == losses[12]


def test_summaries(uninterrupted):
  model_dir, _, losses = uninterrupted
  summaries = summary_events.read_summaries(str(model_dir))
  for tag in list(losses[1]) + [
    "learning_rate",
    "steps_per_sec",
    "clips_per_sec",
    "gradient_global_norm",
    "gradient_clipped_fraction",
    "keyframe_detections",
  ]:
    assert tag in summaries, (tag, sorted(summaries))
  scalar = lambda tag, s: summary_events.scalar(summaries[tag][s])
  # Video clips per second: steps per second times the global batch (one summary per step).
  for s in range(1, 13):
    assert scalar("clips_per_sec", s) == pytest.approx(GLOBAL_BATCH * scalar("steps_per_sec", s))
    assert scalar("gradient_clipped_fraction", s) == 0.0  # no clipping configured
  learning_rate = {s: summary_events.scalar(v) for s, v in summaries["learning_rate"].items()}
  # The rate used by step s (global step s - 1 before it): warmup 0.05 -> 0.5 over 3 steps.
  assert learning_rate[1] == pytest.approx(0.05)
  assert learning_rate[2] == pytest.approx(0.2)
  assert learning_rate[4] == pytest.approx(0.5)
  total = {s: summary_events.scalar(v) for s, v in summaries[LossFields.total_loss].items()}
  assert total[7] == pytest.approx(losses[7][LossFields.total_loss])
  assert sorted(summaries["keyframe_detections"]) == [6, 12]
  image = tf.make_ndarray(summaries["keyframe_detections"][6].tensor)
  # An image summary holds width, height and the encoded images: the 4x4 keyframes are drawn
  # scaled up to 400x400, twice side by side (ground truth, predictions) under a title strip.
  width, height = int(image[0]), int(image[1])
  assert 800 < width < 830 and 400 < height < 450, (width, height)
  assert tf.io.decode_png(image[2]).shape == (height, width, 3)


def test_resume_after_interruption_matches_uninterrupted(uninterrupted, tmp_path):
  _, reference, reference_losses = uninterrupted

  def stop_at_8(step, _):
    if step == 8:
      raise _Stop()

  with pytest.raises(_Stop):
    _run(tmp_path, hooks=[stop_at_8])
  assert os.path.basename(tf.train.latest_checkpoint(str(tmp_path))) == "ckpt-5"
  steps = []
  resumed = _run(tmp_path, hooks=[lambda step, l: steps.append((step, l))])
  assert steps[0][0] == 6 and resumed.global_step == 12
  # Same data, learning rate and momentum after the restart as in one go.
  for step, step_losses in steps:
    for name, value in step_losses.items():
      assert value == pytest.approx(reference_losses[step][name], rel=1e-5), (step, name)
  expected = _checkpoint_values(reference.checkpoint_path)
  actual = _checkpoint_values(resumed.checkpoint_path)
  assert sorted(actual) == sorted(expected)
  for name, value in expected.items():
    np.testing.assert_allclose(actual[name], value, rtol=1e-5, atol=1e-7, err_msg=name)
  # Running it again once finished does nothing.
  again = _run(tmp_path, hooks=[lambda step, l: steps.append((step, l))])
  assert again.global_step == 12 and len(steps) == 7


def test_nan_loss_stops_with_named_step_and_keeps_last_checkpoint(tmp_path):
  # Example 40 has NaN frames; with the shuffle buffer of 8 it is read at step 9 or later.
  with pytest.raises(train_loop.NonFiniteLossError) as error:
    _run(tmp_path, num_steps=16, nan_at_index=40)
  message = str(error.value)
  step = int(message.split("training step ")[1].split(":")[0])
  assert 9 <= step <= 16, message
  assert message.startswith(f"Non-finite loss at training step {step}: {ACTION_LOSS} = nan")
  latest = tf.train.latest_checkpoint(str(tmp_path))
  assert os.path.basename(latest) == f"ckpt-{(step - 1) // 5 * 5}"
  assert f"the last good checkpoint is {latest}" in message
  for name, value in _checkpoint_values(latest).items():
    assert np.all(np.isfinite(value)), name


def test_fine_tune_fn_runs_on_built_model_only_when_not_resuming(tmp_path):
  calls = []

  def fine_tune(model):
    calls.append(len(model.trainable_variables))
    model.classifier.kernel.assign(tf.zeros_like(model.classifier.kernel))
    model.classifier.bias.assign(tf.zeros_like(model.classifier.bias))

  first_losses = []
  _run(
    tmp_path, num_steps=5, fine_tune_fn=fine_tune, hooks=[lambda step, l: first_losses.append(l)]
  )
  assert calls == [4]
  # Zero classifier -> logits 0 -> cross-entropy log(2) on the first step.
  assert first_losses[0][ACTION_LOSS] == pytest.approx(np.log(2.0), rel=1e-6)
  _run(tmp_path, num_steps=8, fine_tune_fn=fine_tune)
  assert calls == [4]


def test_loss_scaling_and_clipping(tmp_path):
  plain, scaled = [], []
  _run(tmp_path / "plain", num_steps=4, hooks=[lambda s, l: plain.append(l)])
  _run(
    tmp_path / "scaled", num_steps=4, hooks=[lambda s, l: scaled.append(l)], mixed_precision=True
  )
  # Loss scales are powers of two: float32 training is unchanged by them.
  assert [l[LossFields.total_loss] for l in scaled] == pytest.approx(
    [l[LossFields.total_loss] for l in plain], rel=1e-6
  )
  _run(tmp_path / "clipped", num_steps=4, gradient_clip_norm=1e-3, l2_weight_decay=0.01)
  summaries = summary_events.read_summaries(str(tmp_path / "clipped"))
  clipped = [summary_events.scalar(v) for v in summaries["gradient_clipped_fraction"].values()]
  assert clipped == [1.0] * 4
  assert train_loop.WEIGHT_DECAY_LOSS in summaries


def test_evaluate_checkpoints(uninterrupted, tmp_path):
  model_dir, _, _ = uninterrupted
  seen = []
  once = checkpoints.evaluate_checkpoints(
    checkpoint_dir=str(model_dir), evaluate_fn=lambda path, step: seen.append(path) or step
  )
  assert once == [(12, 12)] and seen[0].endswith("ckpt-12")
  continuous = checkpoints.evaluate_checkpoints(
    checkpoint_dir=str(model_dir),
    evaluate_fn=lambda path, step: step * 10,
    continuous=True,
    timeout_secs=0.5,
    final_step=12,
  )
  assert continuous == [(12, 120)]
  with pytest.raises(FileNotFoundError, match="No checkpoint"):
    checkpoints.evaluate_checkpoints(checkpoint_dir=str(tmp_path), evaluate_fn=print)
  assert (
    checkpoints.evaluate_checkpoints(
      checkpoint_dir=str(tmp_path), evaluate_fn=print, continuous=True, timeout_secs=0.2
    )
    == []
  )


def test_config_errors():
  with pytest.raises(ValueError, match="checkpoint_every_n"):
    train_loop.TrainLoopConfig(model_dir="/tmp/x", num_steps=3, checkpoint_every_n=0)
  with pytest.raises(ValueError, match="gradient_clip_norm must be >= 0"):
    train_loop.TrainLoopConfig(model_dir="/tmp/x", num_steps=3, gradient_clip_norm=-1.0)


def test_fine_tune_from_checkpoint(uninterrupted, tmp_path):
  model_dir, _, _ = uninterrupted
  trained = _checkpoint_values(str(model_dir / "ckpt-12"))
  kernel_key = next(k for k in trained if "classifier/kernel" in k and "optimizer" not in k)
  models = []

  def model_fn():
    models.append(fake.FakeDetectionModel())
    return models[-1]

  fine_tune = train_loop.fine_tune_from_checkpoint(str(model_dir), checkpoint_type="detection")
  strategy = strategy_lib.build_strategy(strategy_name=strategy_lib.ONE_DEVICE)
  with strategy.scope():
    model = model_fn()
  model.predict(tf.zeros([1, fake.NUM_FRAMES, fake.HEIGHT, fake.WIDTH, 3]), training=False)
  fine_tune(model)
  np.testing.assert_array_equal(model.classifier.kernel.numpy(), trained[kernel_key])
  with pytest.raises(FileNotFoundError, match="No checkpoint in the fine-tune directory"):
    train_loop.fine_tune_from_checkpoint(str(tmp_path))(model)


def test_sigterm_saves_a_checkpoint_and_stops(tmp_path):
  def terminate_at_7(step, _):
    if step == 7:
      os.kill(os.getpid(), signal.SIGTERM)

  handler_before = signal.getsignal(signal.SIGTERM)
  with pytest.raises(train_loop.TrainingInterruptedError, match="after training step 7"):
    _run(tmp_path, num_steps=10, hooks=[terminate_at_7])
  assert signal.getsignal(signal.SIGTERM) == handler_before
  assert os.path.basename(tf.train.latest_checkpoint(str(tmp_path))) == "ckpt-7"
  steps = []
  _run(tmp_path, num_steps=10, hooks=[lambda step, l: steps.append(step)])
  assert steps == [8, 9, 10]


def test_evaluate_checkpoints_waits_for_new_ones(tmp_path):
  variable = tf.Variable(0)
  manager = tf.train.CheckpointManager(tf.train.Checkpoint(v=variable), str(tmp_path), 5)
  manager.save(checkpoint_number=1)

  def later():
    time.sleep(1.5)
    manager.save(checkpoint_number=2)

  writer = threading.Thread(target=later)
  writer.start()
  try:
    results = checkpoints.evaluate_checkpoints(
      checkpoint_dir=str(tmp_path),
      evaluate_fn=lambda path, step: os.path.basename(path),
      continuous=True,
      timeout_secs=20,
      final_step=2,
    )
  finally:
    writer.join()
  assert results == [(1, "ckpt-1"), (2, "ckpt-2")]
