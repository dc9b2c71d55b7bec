"""Custom training loop under tf.distribute (checkpoint evaluation: checkpoints.py).

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
from ava_tx.training import optimizer as optimizer_lib
from ava_tx.training import strategy as strategy_lib
from ava_tx.training import summaries

WEIGHT_DECAY_LOSS = "Loss/l2_weight_decay_loss"
"""Key of the coupled L2 weight-decay term the loop adds to the losses (and total)."""

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
    for name in ("checkpoint_every_n", "max_checkpoints_to_keep", "summary_every_n",
                 "log_every_n", "max_images"):
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


def compute_detection_losses(model, batch: Mapping[str, tf.Tensor], *, training: bool
                             ) -> Mapping[str, tf.Tensor]:
  """Default `loss_fn` for a DetectionModel: preprocess, provide_groundtruth, predict, loss.

  Args:
    model: an `ava_tx.core.detection_model.DetectionModel`.
    batch: one replica's batch keyed by InputFields; `frames` is float32
      [batch_size, num_frames, height, width, 3]; its ground truth (and person-detector
      boxes, if any) go to `model.provide_groundtruth_from_batch`.
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


def fine_tune_from_checkpoint(checkpoint_path: str, *,
                              checkpoint_type: str = "detection") -> Callable[[Any], None]:
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


def _first_replica(strategy, structure):
  return tf.nest.map_structure(lambda x: strategy.experimental_local_results(x)[0], structure)


class _ReplicaBatches:
  """This worker's tf.data iterator, dealt out to its replicas one per-replica batch each.

  A plain tf.data iterator (unlike a tf.distribute one) can be stored in a checkpoint.
  Replica r of a worker gets the r-th of the next `num_local_replicas` batches, as
  `distribute_datasets_from_function` would deal them.
  """

  def __init__(self, strategy, dataset_fn):
    self.strategy = strategy
    self.num_local_replicas = len(strategy.extended.worker_devices)
    self.num_workers = strategy.num_replicas_in_sync // self.num_local_replicas
    context = tf.distribute.InputContext(
        num_input_pipelines=self.num_workers,
        input_pipeline_id=strategy_lib.worker_index(strategy),
        num_replicas_in_sync=strategy.num_replicas_in_sync)
    self.iterator = iter(dataset_fn(context))
    self.global_batch_size = None  # Clips per global batch, known after the first next().

  def next(self):
    """The next global batch as per-replica values (raises StopIteration at the end)."""
    batches = [next(self.iterator) for _ in range(self.num_local_replicas)]
    if self.global_batch_size is None:  # Training batches drop remainders: fixed size.
      per_replica = int(tf.shape(tf.nest.flatten(batches[0])[0])[0])
      self.global_batch_size = per_replica * self.strategy.num_replicas_in_sync
    return self.strategy.experimental_distribute_values_from_function(
        lambda ctx: batches[ctx.replica_id_in_sync_group % self.num_local_replicas])


def _has_variables(model) -> bool:
  return bool(model.variables) if hasattr(model, "variables") else False


class _Trainer:
  """The state of one `train_loop` call (kept in a class to keep functions short)."""

  def __init__(self, *, strategy, model, optimizer, loss_fn, detect_fn,
               config: TrainLoopConfig):
    self.strategy = strategy
    self.model = model
    self.optimizer = optimizer
    self.loss_fn = loss_fn
    self.detect_fn = detect_fn
    self.config = config
    self.loss_scaling = isinstance(optimizer, keras.mixed_precision.LossScaleOptimizer)
    # XLA compiles the per-replica computation; the cross-replica reduction stays outside.
    self.replica_step = (tf.function(self._replica_step, jit_compile=True)
                         if config.jit_compile else self._replica_step)

  def _replica_step(self, batch):
    """One replica's step: returns (losses scaled to the global batch, norm, clipped, lr)."""
    cfg = self.config
    replica_context = tf.distribute.get_replica_context()
    local_size = tf.cast(tf.shape(batch[InputFields.frames])[0], tf.float32)
    global_size = replica_context.all_reduce(tf.distribute.ReduceOp.SUM, local_size)
    share = local_size / global_size
    learning_rate = optimizer_lib.current_learning_rate(self.optimizer)
    with tf.GradientTape() as tape:
      losses = {k: tf.cast(v, tf.float32)
                for k, v in self.loss_fn(self.model, batch, training=True).items()}
      if LossFields.total_loss not in losses:
        raise KeyError(f"loss_fn must return {LossFields.total_loss!r}; got {sorted(losses)}")
      if cfg.l2_weight_decay > 0:
        losses[WEIGHT_DECAY_LOSS] = optimizer_lib.l2_weight_decay_loss(
            self.model.trainable_variables, weight_decay=cfg.l2_weight_decay)
        losses[LossFields.total_loss] += losses[WEIGHT_DECAY_LOSS]
      scaled_total = losses[LossFields.total_loss] * share
      if self.loss_scaling:
        scaled_total = self.optimizer.get_scaled_loss(scaled_total)
    variables = self.model.trainable_variables
    gradients = tape.gradient(scaled_total, variables)
    pairs = [(g, v) for g, v in zip(gradients, variables) if g is not None]
    if not pairs:
      raise ValueError("no trainable variable receives a gradient from the total loss")
    gradients = replica_context.all_reduce(tf.distribute.ReduceOp.SUM, [g for g, _ in pairs])
    if self.loss_scaling:
      gradients = self.optimizer.get_unscaled_gradients(gradients)
    gradients, norm, clipped = optimizer_lib.clip_by_global_norm(
        gradients, cfg.gradient_clip_norm)
    self.optimizer.apply_gradients(zip(gradients, [v for _, v in pairs]),
                                   skip_gradients_aggregation=True)
    scaled_losses = {k: v * share for k, v in losses.items()}
    return scaled_losses, norm, tf.cast(clipped, tf.float32), learning_rate

  def global_step(self) -> int:
    return int(self.optimizer.iterations.numpy())

  @tf.function
  def train_step(self, batch):
    losses, norm, clipped, learning_rate = self.strategy.run(self.replica_step, args=(batch,))
    reduce = self.strategy.reduce
    sum_op, mean_op = tf.distribute.ReduceOp.SUM, tf.distribute.ReduceOp.MEAN
    losses = {k: reduce(sum_op, v, axis=None) for k, v in losses.items()}
    return (losses, reduce(mean_op, norm, axis=None), reduce(mean_op, clipped, axis=None),
            reduce(mean_op, learning_rate, axis=None))

  @tf.function
  def detect_step(self, batch):
    """The first replica's detections (for image summaries)."""
    per_replica = self.strategy.run(lambda b: self.detect_fn(self.model, b), args=(batch,))
    return _first_replica(self.strategy, per_replica)

  @tf.function
  def build_step(self, batch):
    """Forward pass only, to create the model's variables before fine-tune restoring."""
    def replica_fn(replica_batch):
      losses = self.loss_fn(self.model, replica_batch, training=False)
      return losses[LossFields.total_loss]
    self.strategy.run(replica_fn, args=(batch,))


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
      f"checkpoint; the last good checkpoint is {latest or 'none (no checkpoint yet)'}.")


class _StepRecorder:
  """After each step: scalar and image summaries (chief only), the log line and step hooks."""

  def __init__(self, *, trainer: _Trainer, data: _ReplicaBatches, summary_dir: str,
               label_names: Optional[Mapping[int, str]], step_hooks: Sequence[StepHook]):
    self.trainer = trainer
    self.data = data
    self.label_names = label_names
    self.step_hooks = step_hooks
    cfg = trainer.config
    self.chief = strategy_lib.is_chief(trainer.strategy)
    if cfg.record_summaries and self.chief:
      self.writer = tf.summary.create_file_writer(summary_dir)
    else:
      self.writer = tf.summary.create_noop_writer()
    self.window = summaries.RateWindow(time.perf_counter())

  def record(self, step: int, batch, losses: Mapping[str, float], *, norm, clipped,
             learning_rate) -> None:
    cfg = self.trainer.config
    self.window.steps += 1
    self.window.clips += self.data.global_batch_size
    self.window.clipped_steps += float(clipped)
    if step % cfg.summary_every_n == 0 or step == cfg.num_steps:
      self.window = summaries.write_scalars(self.writer, step, losses,
                                            learning_rate=learning_rate, gradient_norm=norm,
                                            window=self.window)
    if (cfg.image_summary_every_n and cfg.record_summaries and self.chief
        and step % cfg.image_summary_every_n == 0):
      summaries.write_keyframe_images(
          self.writer, step, _first_replica(self.trainer.strategy, batch),
          self.trainer.detect_step(batch), max_images=cfg.max_images,
          label_names=self.label_names)
    if step % cfg.log_every_n == 0:
      _log.info("step %d: total loss %.6g, learning rate %.6g", step,
                losses[LossFields.total_loss], float(learning_rate))
    for hook in self.step_hooks:
      hook(step, losses)


def _build_trainer(*, strategy, model_fn, optimizer_fn, dataset_fn, loss_fn, detect_fn,
                   config: TrainLoopConfig) -> tuple[_Trainer, _ReplicaBatches]:
  """Builds the model and optimizer under the strategy's scope, and this worker's data."""
  with strategy.scope():
    model = model_fn()
    optimizer = optimizer_fn()
  trainer = _Trainer(strategy=strategy, model=model, optimizer=optimizer, loss_fn=loss_fn,
                     detect_fn=detect_fn, config=config)
  return trainer, _ReplicaBatches(strategy, dataset_fn)


def _restore_or_initialise(trainer: _Trainer, checkpoint: checkpoints.TrainingCheckpoint,
                           dataset_fn, fine_tune_fn) -> None:
  """Resumes from the latest checkpoint; without one, runs `fine_tune_fn` on the model, after
  creating its variables by one forward pass on a separate iterator's first batch."""
  if checkpoint.restore_latest() or fine_tune_fn is None:
    return
  if not _has_variables(trainer.model):
    trainer.build_step(_ReplicaBatches(trainer.strategy, dataset_fn).next())
  fine_tune_fn(trainer.model)


def _next_batch(data: _ReplicaBatches, step: int, num_steps: int):
  try:
    return data.next()
  except StopIteration as e:
    raise ValueError(f"The training dataset ran out at step {step} of {num_steps}: "
                     "repeat it (dataset.repeat()).") from e


def _run_steps(trainer: _Trainer, data: _ReplicaBatches,
               checkpoint: checkpoints.TrainingCheckpoint, recorder: _StepRecorder
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
      recorder.record(step, batch, losses, norm=norm, clipped=clipped,
                      learning_rate=learning_rate)
      if step % cfg.checkpoint_every_n == 0 or step == cfg.num_steps or sigterm["set"]:
        checkpoint.save()
      if sigterm["set"]:
        recorder.writer.flush()
        raise TrainingInterruptedError(
            f"{sigterm['set']} received: stopped after training step {step} and saved "
            f"{checkpoint.last_path}; run the same command again to resume.")
  return step, losses


def train_loop(*,
               strategy: tf.distribute.Strategy,
               model_fn: Callable[[], Any],
               optimizer_fn: Callable[[], keras.optimizers.Optimizer],
               dataset_fn: Callable[[tf.distribute.InputContext], tf.data.Dataset],
               config: TrainLoopConfig,
               loss_fn: LossFn = compute_detection_losses,
               fine_tune_fn: Optional[Callable[[Any], None]] = None,
               detect_fn: Callable[..., Mapping[str, tf.Tensor]] = compute_detections,
               label_names: Optional[Mapping[int, str]] = None,
               step_hooks: Sequence[StepHook] = ()) -> TrainResult:
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
  trainer, data = _build_trainer(strategy=strategy, model_fn=model_fn, optimizer_fn=optimizer_fn,
                                 dataset_fn=dataset_fn, loss_fn=loss_fn, detect_fn=detect_fn,
                                 config=config)
  checkpoint = checkpoints.TrainingCheckpoint(
      strategy=strategy, model=trainer.model, optimizer=trainer.optimizer,
      iterator=data.iterator if config.checkpoint_data_iterator else None,
      num_workers=data.num_workers, model_dir=config.model_dir,
      max_to_keep=config.max_checkpoints_to_keep)
  _restore_or_initialise(trainer, checkpoint, dataset_fn, fine_tune_fn)
  recorder = _StepRecorder(
      trainer=trainer, data=data, label_names=label_names, step_hooks=step_hooks,
      summary_dir=os.path.join(checkpoint.write_dir, TRAIN_SUMMARY_SUBDIR))
  first_step, start_time = trainer.global_step(), time.perf_counter()
  step, losses = _run_steps(trainer, data, checkpoint, recorder)
  if config.num_steps > 0:
    checkpoint.save_unless_written(step)
  recorder.writer.flush()
  steps_run, elapsed = step - first_step, time.perf_counter() - start_time
  return TrainResult(global_step=step, losses=losses, checkpoint_path=checkpoint.final_path(),
                     steps_per_sec=steps_run / elapsed if steps_run else 0.0)
