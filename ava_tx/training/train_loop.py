"""Custom training loop under tf.distribute (its step functions: train_steps.py; checkpoint
evaluation: checkpoints.py).

The loop knows the model only through two small adapters (defaults follow the
DetectionModel contract; the caller may pass others):
  * `loss_fn(model, batch, *, training) -> {loss name: float scalar}` including
    `LossFields.total_loss` (default `compute_detection_losses`);
  * `detect_fn(model, batch) -> detections dict` keyed by `DetectionFields`, only used for
    image summaries (default `compute_detections`).

Distribution. `dataset_fn(input_context)` returns a dataset of PER-REPLICA batches (use
`input_context.get_per_replica_batch_size(global_batch_size)` and shard by
`input_context.input_pipeline_id`). Each replica's loss is a mean over its local batch;
it is multiplied by local_batch_size / global_batch_size (the global size is all-reduced
each step, so uneven final batches are still exact) and the gradients are summed over
replicas, which gives the gradient of the mean loss over the global batch. Clipping by global
norm happens after that sum, then `apply_gradients(skip_gradients_aggregation=True)`.

Checkpoints hold the model, the optimizer (its `iterations` is the global step, from which
the learning rate schedule is computed) and, optionally, the tf.data iterator; so running
the same call again resumes at the step, learning rate and data position of the latest
checkpoint. Non-finite losses raise `NonFiniteLossError` before anything else is written, so
the last checkpoint on disk is the last good one (the in-memory variables may already hold
the bad update).
"""

import dataclasses
import logging
import math
import os
import time
from typing import Any, Callable, Mapping, Optional, Sequence

from ava_tx.core import errors
from ava_tx.core.errors import NonFiniteLossError
from ava_tx.core.errors import TrainingInterruptedError
from ava_tx.core.standard_fields import InputFields
from ava_tx.core.standard_fields import LossFields
from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf
from ava_tx.training import checkpoints
from ava_tx.training import interrupts
from ava_tx.training import strategy as strategy_lib
from ava_tx.training import summaries
from ava_tx.training.train_steps import WEIGHT_DECAY_LOSS  # noqa: F401 (re-exported)
from ava_tx.training.train_steps import ReplicaBatches
from ava_tx.training.train_steps import TrainSteps
from ava_tx.training.train_steps import first_replica

TRAIN_SUMMARY_SUBDIR = "train"

LossFn = Callable[..., Mapping[str, tf.Tensor]]
StepHook = Callable[[int, Mapping[str, float]], None]

_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TrainLoopConfig:
  """Settings of `train_loop` (plain values; the builder fills them from train.proto).

  Attributes:
    model_dir: checkpoints go here, summaries under `model_dir/train`.
    num_steps: train until the global step reaches this.
    checkpoint_every_n: save a checkpoint every N global steps (and always at the end).
    max_checkpoints_to_keep: number of newest checkpoints kept.
    l2_weight_decay: coupled L2 coefficient on kernels (0 = off), see optimizer.py.
    gradient_clip_norm: clip the summed gradients to this global norm (0 = off).
    record_summaries: write TensorBoard summaries (chief only).
    summary_every_n: scalar summaries (losses, learning rate, gradient norm and clipped
      fraction, steps/s, clips/s) every N steps.
    image_summary_every_n: keyframe with GT and predicted boxes every N steps (0 = never).
    max_images: number of keyframes per image summary.
    checkpoint_data_iterator: store the tf.data iterator in checkpoints (exact data position
      on resume; the checkpoint then holds shuffle buffers, and pipelines with py_function
      cannot be stored: turn it off for those).
    log_every_n: log losses every N steps.
    save_on_sigterm: on SIGTERM or SIGINT (Ctrl-C), finish the current step, write a
      checkpoint and raise `TrainingInterruptedError` (single-worker runs, main thread only).
    jit_compile: compile the training step with XLA (tf.function(jit_compile=True)).
  """

  model_dir: str
  num_steps: int
  checkpoint_every_n: int = 1000
  max_checkpoints_to_keep: int = 5
  l2_weight_decay: float = 0.0
  gradient_clip_norm: float = 0.0
  record_summaries: bool = True
  summary_every_n: int = 100
  image_summary_every_n: int = 0
  max_images: int = 2
  checkpoint_data_iterator: bool = True
  log_every_n: int = 100
  save_on_sigterm: bool = True
  jit_compile: bool = False

  def __post_init__(self):
    if self.num_steps < 0:
      raise errors.InputError(f"num_steps must be >= 0, got {self.num_steps}")
    for name in (
      "checkpoint_every_n",
      "max_checkpoints_to_keep",
      "summary_every_n",
      "log_every_n",
      "max_images",
    ):
      if getattr(self, name) <= 0:
        raise errors.InputError(f"{name} must be > 0, got {getattr(self, name)}")
    for name in ("l2_weight_decay", "gradient_clip_norm", "image_summary_every_n"):
      if getattr(self, name) < 0:
        raise errors.InputError(f"{name} must be >= 0, got {getattr(self, name)}")


@dataclasses.dataclass(frozen=True)
class TrainResult:
  """What `train_loop` returns.

  Attributes:
    global_step: the step reached (== config.num_steps).
    losses: the last step's losses (global-batch means), as Python floats.
    checkpoint_path: the final checkpoint.
    steps_per_sec: mean training speed of this call (0 if no step was run).
  """

  global_step: int
  losses: Mapping[str, float]
  checkpoint_path: Optional[str]
  steps_per_sec: float


def compute_detection_losses(
  model, batch: Mapping[str, tf.Tensor], *, training: bool
) -> Mapping[str, tf.Tensor]:
  """Default `loss_fn` for a DetectionModel: preprocess, provide_groundtruth, predict, loss.

  Args:
    model: an `ava_tx.core.detection_model.DetectionModel`.
    batch: one replica's batch keyed by InputFields; `frames` is uint8 (or
      float32 in [-1, 1]) [batch_size, num_frames, height, width, 3], see
      `model.preprocess`; its ground truth (and person-detector boxes, if any) go to
      `model.provide_groundtruth_from_batch`.
    training: passed to `model.predict`.

  Returns:
    `model.loss(...)`: float32 scalars keyed by LossFields, including `total_loss`.
  """
  frames, true_image_shapes = model.preprocess(batch[InputFields.frames])
  model.provide_groundtruth_from_batch(batch)
  prediction_dict = model.predict(frames, true_image_shapes, training=training)
  return model.loss(prediction_dict, true_image_shapes)


def compute_detections(model, batch: Mapping[str, tf.Tensor]) -> Mapping[str, tf.Tensor]:
  """Default `detect_fn`: preprocess, predict (training=False) and postprocess a batch.

  Proposal boxes in the batch (when the model takes them) are provided as in training.
  Returns the DetectionFields dict of `model.postprocess`.
  """
  frames, true_image_shapes = model.preprocess(batch[InputFields.frames])
  model.provide_groundtruth_from_batch(batch)
  prediction_dict = model.predict(frames, true_image_shapes, training=False)
  return model.postprocess(prediction_dict, true_image_shapes)


def fine_tune_from_checkpoint(
  checkpoint_path: str, *, checkpoint_type: str = "detection"
) -> Callable[[Any], None]:
  """A `fine_tune_fn` restoring `model.restore_from_objects(checkpoint_type)` from a checkpoint.

  Every object the model names must be found in the checkpoint (objects of the checkpoint
  that the model does not name are ignored). For the converted Kinetics I3D checkpoint,
  `ava_tx.trunks.i3d_checkpoint.restore_endpoints` does the same with per-variable checks.

  Args:
    checkpoint_path: a checkpoint prefix (`.../ckpt-123`) or a directory holding checkpoints.
    checkpoint_type: passed to `restore_from_objects` ("detection" or "classification").
  """

  def fine_tune(model) -> None:
    path = checkpoint_path
    if tf.io.gfile.isdir(path):
      path = tf.train.latest_checkpoint(path)
      if path is None:
        raise FileNotFoundError(f"No checkpoint in the fine-tune directory {checkpoint_path!r}")
    objects = model.restore_from_objects(checkpoint_type)
    status = tf.train.Checkpoint(**objects).read(path)
    status.expect_partial().assert_existing_objects_matched()
    _log.info("Initialised %s from %s (%s)", sorted(objects), path, checkpoint_type)

  return fine_tune


def _has_variables(model) -> bool:
  return bool(model.variables) if hasattr(model, "variables") else False


def _check_finite(step: int, losses: Mapping[str, float], model_dir: str) -> None:
  """Raises NonFiniteLossError if a loss of training step `step` (1-based) is NaN or Inf."""
  bad = [k for k, v in losses.items() if not math.isfinite(v)]
  if not bad:
    return
  # Report a model loss rather than the total when one is the cause.
  bad.sort(key=lambda k: (k == LossFields.total_loss, k))
  latest = tf.train.latest_checkpoint(model_dir)
  all_losses = ", ".join(f"{k}={v:.6g}" for k, v in sorted(losses.items()))
  raise NonFiniteLossError(
    f"Non-finite loss at training step {step}: {bad[0]} = {losses[bad[0]]} "
    f"(all non-finite: {bad}; losses: {all_losses}). Training stopped without writing a "
    f"checkpoint; the last good checkpoint is {latest or 'none (no checkpoint yet)'}."
  )


class _StepRecorder:
  """After each step: scalar and image summaries (chief only), the log line and step hooks."""

  def __init__(
    self,
    trainer: TrainSteps,
    data: ReplicaBatches,
    checkpoint: checkpoints.TrainingCheckpoint,
    label_names: Optional[Mapping[int, str]],
    step_hooks: Sequence[StepHook],
  ):
    """Summaries go to `<the checkpoint's write_dir>/TRAIN_SUMMARY_SUBDIR`."""
    self.trainer = trainer
    self.data = data
    self.label_names = label_names
    self.step_hooks = step_hooks
    cfg = trainer.config
    self.chief = strategy_lib.is_chief(trainer.strategy)
    if cfg.record_summaries and self.chief:
      self.writer = tf.summary.create_file_writer(
        os.path.join(checkpoint.write_dir, TRAIN_SUMMARY_SUBDIR)
      )
    else:
      self.writer = tf.summary.create_noop_writer()
    self.window = summaries.RateWindow(time.perf_counter())

  def record(
    self, step: int, batch, losses: Mapping[str, float], *, norm, clipped, learning_rate
  ) -> None:
    cfg = self.trainer.config
    self.window.steps += 1
    self.window.clips += self.data.global_batch_size
    self.window.clipped_steps += float(clipped)
    if step % cfg.summary_every_n == 0 or step == cfg.num_steps:
      self.window = summaries.write_scalars(
        self.writer,
        step,
        losses,
        learning_rate=learning_rate,
        gradient_norm=norm,
        window=self.window,
      )
    if (
      cfg.image_summary_every_n
      and cfg.record_summaries
      and self.chief
      and step % cfg.image_summary_every_n == 0
    ):
      summaries.write_keyframe_images(
        self.writer,
        step,
        first_replica(self.trainer.strategy, batch),
        self.trainer.detect_step(batch),
        max_images=cfg.max_images,
        label_names=self.label_names,
      )
    if step % cfg.log_every_n == 0:
      _log.info(
        "step %d: total loss %.6g, learning rate %.6g",
        step,
        losses[LossFields.total_loss],
        float(learning_rate),
      )
    for hook in self.step_hooks:
      hook(step, losses)


def _build_trainer(
  strategy, model_fn, optimizer_fn, dataset_fn, loss_fn, detect_fn, config: TrainLoopConfig
):
  """(TrainSteps, ReplicaBatches, TrainingCheckpoint): the model and optimizer built under the
  strategy's scope, this worker's data, and the checkpoint of all three."""
  with strategy.scope():
    model = model_fn()
    optimizer = optimizer_fn()
  trainer = TrainSteps(
    strategy=strategy,
    model=model,
    optimizer=optimizer,
    loss_fn=loss_fn,
    detect_fn=detect_fn,
    config=config,
  )
  data = ReplicaBatches(strategy, dataset_fn)
  checkpoint = checkpoints.TrainingCheckpoint(
    strategy=strategy,
    model=model,
    optimizer=optimizer,
    iterator=data.iterator if config.checkpoint_data_iterator else None,
    num_workers=data.num_workers,
    model_dir=config.model_dir,
    max_to_keep=config.max_checkpoints_to_keep,
  )
  return trainer, data, checkpoint


def _restore_or_initialise(
  trainer: TrainSteps, checkpoint: checkpoints.TrainingCheckpoint, dataset_fn, fine_tune_fn
) -> None:
  """Resumes from the latest checkpoint; without one, runs `fine_tune_fn` on the model, after
  creating its variables by one forward pass on a separate iterator's first batch."""
  if checkpoint.restore_latest() or fine_tune_fn is None:
    return
  if not _has_variables(trainer.model):
    trainer.build_step(ReplicaBatches(trainer.strategy, dataset_fn).next())
  fine_tune_fn(trainer.model)


def _next_batch(data: ReplicaBatches, step: int, num_steps: int):
  try:
    return data.next()
  except StopIteration as e:
    raise ValueError(
      f"The training dataset ran out at step {step} of {num_steps}: repeat it (dataset.repeat())."
    ) from e


def _run_steps(
  trainer: TrainSteps,
  data: ReplicaBatches,
  checkpoint: checkpoints.TrainingCheckpoint,
  recorder: _StepRecorder,
) -> tuple[int, dict[str, float]]:
  """Trains from the current global step to num_steps; returns (step, last losses).

  Checkpoints every checkpoint_every_n steps, at num_steps, and after the step during which
  SIGTERM/SIGINT arrived (then raises TrainingInterruptedError).
  """
  cfg = trainer.config
  step = trainer.global_step()
  losses: dict[str, float] = {}
  with interrupts.stop_signal_flag(cfg.save_on_sigterm and data.num_workers == 1) as sigterm:
    while step < cfg.num_steps:
      batch = _next_batch(data, step, cfg.num_steps)
      step_losses, norm, clipped, learning_rate = trainer.train_step(batch)
      losses = {k: float(v) for k, v in step_losses.items()}
      _check_finite(step + 1, losses, cfg.model_dir)
      step = trainer.global_step()
      recorder.record(step, batch, losses, norm=norm, clipped=clipped, learning_rate=learning_rate)
      if step % cfg.checkpoint_every_n == 0 or step == cfg.num_steps or sigterm["set"]:
        checkpoint.save()
      if sigterm["set"]:
        recorder.writer.flush()
        raise TrainingInterruptedError(
          f"{sigterm['set']} received: stopped after training step {step} and saved "
          f"{checkpoint.last_path}; run the same command again to resume."
        )
  return step, losses


def train_loop(
  *,
  strategy: tf.distribute.Strategy,
  model_fn: Callable[[], Any],
  optimizer_fn: Callable[[], keras.optimizers.Optimizer],
  dataset_fn: Callable[[tf.distribute.InputContext], tf.data.Dataset],
  config: TrainLoopConfig,
  loss_fn: LossFn = compute_detection_losses,
  fine_tune_fn: Optional[Callable[[Any], None]] = None,
  detect_fn: Callable[..., Mapping[str, tf.Tensor]] = compute_detections,
  label_names: Optional[Mapping[int, str]] = None,
  step_hooks: Sequence[StepHook] = (),
) -> TrainResult:
  """Trains until `config.num_steps`, resuming from the latest checkpoint in model_dir.

  Args:
    strategy: from `strategy.build_strategy`.
    model_fn: builds the model (called inside `strategy.scope()`).
    optimizer_fn: builds the optimizer (called inside `strategy.scope()`), e.g.
      `lambda: optimizer.build_optimizer(learning_rate=WarmupCosineDecay(...))`.
    dataset_fn: `input_context -> tf.data.Dataset` of per-replica batches (dicts keyed by
      InputFields, `frames` float32 [batch_size, num_frames, height, width, 3]); must not
      run out before num_steps (repeat it).
    config: the loop settings.
    loss_fn: `(model, batch, *, training) -> {name: scalar}`, see module doc.
    fine_tune_fn: `model -> None`, initialises the model from a fine-tune checkpoint. Called
      only when there is no checkpoint to resume from, after the model's variables were
      created by one forward pass (`loss_fn` with training=False) on the first batch of a
      separate iterator (the training data position is unchanged).
    detect_fn: `(model, batch) -> detections dict` for the image summaries.
    label_names: {contiguous class index: name}, for the image summary's legend.
    step_hooks: called after every step as `hook(global_step, losses)` (floats), e.g. to
      record the loss trajectory or stop early by raising.

  Returns:
    A `TrainResult`.

  Raises:
    NonFiniteLossError: a loss became NaN or Inf (the message names the step and loss).
  """
  trainer, data, checkpoint = _build_trainer(
    strategy, model_fn, optimizer_fn, dataset_fn, loss_fn, detect_fn, config
  )
  _restore_or_initialise(trainer, checkpoint, dataset_fn, fine_tune_fn)
  recorder = _StepRecorder(trainer, data, checkpoint, label_names, step_hooks)
  return _train_and_finish(trainer, data, checkpoint, recorder)


def _train_and_finish(
  trainer: TrainSteps,
  data: ReplicaBatches,
  checkpoint: checkpoints.TrainingCheckpoint,
  recorder: _StepRecorder,
) -> TrainResult:
  """Runs the steps, writes the final checkpoint and returns the result with the speed."""
  first_step, start_time = trainer.global_step(), time.perf_counter()
  step, losses = _run_steps(trainer, data, checkpoint, recorder)
  if trainer.config.num_steps > 0:
    checkpoint.save_unless_written(step)
  recorder.writer.flush()
  steps_run, elapsed = step - first_step, time.perf_counter() - start_time
  return TrainResult(
    global_step=step,
    losses=losses,
    checkpoint_path=checkpoint.final_path(),
    steps_per_sec=steps_run / elapsed if steps_run else 0.0,
  )
