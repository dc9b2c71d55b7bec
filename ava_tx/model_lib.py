"""Training and evaluation driven by a pipeline config (what model_main_tf2 runs).

train(...): copies pipeline.config into model_dir, builds strategy, model, optimizer and
  input pipeline from the config, initialises from the fine-tune checkpoint (new runs
  only), and runs the custom training loop (resuming from model_dir's latest checkpoint).
evaluate(...): evaluates the latest checkpoint of a directory, or each new one as it
  appears, with the official AVA frame-mAP and the paper's analyses; writes the
  detections CSV, a metrics JSON and TensorBoard scalars under model_dir/eval.
"""

import contextlib
import logging
import os

import numpy as np

from ava_tx.builders import config_util
from ava_tx.builders import config_validation
from ava_tx.builders import input_reader_builder
from ava_tx.builders import model_builder
from ava_tx.builders import train_builder
from ava_tx.core import errors
from ava_tx.core import precision as precision_lib
from ava_tx.core.standard_fields import InputFields
from ava_tx.core.tf_setup import tf
from ava_tx.data import ava_annotations
from ava_tx.data import dataset as dataset_lib
from ava_tx.data import label_map_util
from ava_tx.data import record_reader
from ava_tx.eval import evaluator as evaluator_lib
from ava_tx.training import checkpoints
from ava_tx.training import seeding
from ava_tx.training import strategy as strategy_lib
from ava_tx.training import train_loop
from ava_tx.trunks import i3d_checkpoint

EVAL_SUBDIR = "eval"
_log = logging.getLogger(__name__)


def _load_checked_config(pipeline_config_path):
  """The pipeline config at `pipeline_config_path`, placeholders refused, validated."""
  config = config_util.load_pipeline_config(pipeline_config_path)
  placeholders = config_util.find_placeholders(config)
  if placeholders:
    raise errors.InputError(
      f"{pipeline_config_path}: set these paths first (see WORKSPACE.md): "
      + ", ".join(placeholders)
    )
  config_validation.validate_pipeline_config(config)
  return config


def fine_tune_fn_for(model_config):
  """`model -> None` initialising a new run from `trunk.fine_tune_checkpoint`, or None if unset.

  trunk.fine_tune_checkpoint_type "classification" restores the converted Kinetics I3D
  checkpoint into every I3D block (trunk and I3D head, unless
  i3d_head.initialize_from_fine_tune_checkpoint is false), "detection" the trunk of a checkpoint
  of this project's training, "full" all of that checkpoint's model (see protos/trunk.proto).
  """
  path = model_config.trunk.fine_tune_checkpoint
  if not path:
    return None
  checkpoint_type = model_config.trunk.fine_tune_checkpoint_type
  if checkpoint_type != "classification":
    return train_loop.fine_tune_from_checkpoint(path, checkpoint_type=checkpoint_type)

  include_i3d_head = model_config.i3d_head.initialize_from_fine_tune_checkpoint

  def fine_tune(model):
    layers = model_builder.i3d_endpoint_layers(model, include_i3d_head=include_i3d_head)
    restored = i3d_checkpoint.restore_endpoints(path, layers)
    _log.info("Initialised %d I3D blocks from %s", len(restored), path)

  return fine_tune


def label_names(label_map_path):
  """{contiguous class index: name} of a label map (for the image summaries' legend)."""
  return {i: entry.name for i, entry in enumerate(label_map_util.read_label_map(label_map_path))}


class SkippedRecordsReporter:
  """Step hook: logs and writes to the training summaries (`data/...` under model_dir/train)
  what `skip_corrupt_records` skipped, whenever it changes and every `every_n` steps."""

  def __init__(self, summary_dir, every_n, record_summaries=True):
    self._writer = (
      tf.summary.create_file_writer(summary_dir)
      if record_summaries
      else tf.summary.create_noop_writer()
    )
    self._every_n = max(int(every_n), 1)
    self._last = record_reader.SKIPPED.as_dict()

  def __call__(self, step, losses=None):
    del losses
    counts = record_reader.SKIPPED.as_dict()
    if counts != self._last:
      _log.warning(
        "step %d: skipped so far: %d corrupt shard reads, %d records, %d bytes "
        "(skip_corrupt_records is on)",
        step,
        counts["corrupt_shards"],
        counts["skipped_records"],
        counts["skipped_bytes"],
      )
    if counts != self._last or step % self._every_n == 0:
      with self._writer.as_default(step=step):
        for name, value in counts.items():
          tf.summary.scalar("data/" + name, value)
      self._writer.flush()
    self._last = counts


def train(
  *,
  pipeline_config_path,
  model_dir,
  num_train_steps=None,
  checkpoint_every_n=None,
  record_summaries=True,
  step_hooks=(),
):
  """Trains (or resumes training) as the pipeline config says. Returns a TrainResult."""
  config = _load_checked_config(pipeline_config_path)
  model_config = config.model.action_transformer
  train_config = config.train_config
  if not config.HasField("train_input_reader"):
    raise errors.InputError(f"{pipeline_config_path}: train_input_reader is required for training")
  num_steps = int(num_train_steps or train_config.num_steps)
  strategy = train_builder.build_strategy(train_config)
  device_type = strategy_lib.device_type(strategy)
  if strategy_lib.is_chief(strategy):
    config_util.save_pipeline_config(config, model_dir)
  train_input = config.train_input_reader
  if train_config.seed:
    seeding.seed_everything(train_config.seed, deterministic_ops=train_config.deterministic_ops)
    if not train_input.seed:
      train_input.seed = train_config.seed
  dataset_fn = input_reader_builder.build_dataset_fn(
    train_input, model_config, global_batch_size=train_config.batch_size, is_training=True
  )
  loop_config = train_builder.build_loop_config(
    train_config,
    model_dir=model_dir,
    num_steps=num_steps,
    checkpoint_every_n=checkpoint_every_n,
    record_summaries=record_summaries,
    device_type=device_type,
  )
  if config.train_input_reader.skip_corrupt_records:
    step_hooks = (
      *step_hooks,
      SkippedRecordsReporter(
        os.path.join(model_dir, train_loop.TRAIN_SUMMARY_SUBDIR),
        loop_config.summary_every_n,
        record_summaries and strategy_lib.is_chief(strategy),
      ),
    )
  # The model is built (model_fn) inside the precision scope: its layers take the policy.
  with (
    _naming_corrupt_shards(config.train_input_reader, "train_input_reader"),
    precision_lib.policy_scope(_training_policy(train_config, device_type)),
  ):
    return train_loop.train_loop(
      strategy=strategy,
      model_fn=lambda: model_builder.build(model_config),
      optimizer_fn=lambda: train_builder.build_optimizer(train_config, num_steps),
      dataset_fn=dataset_fn,
      config=loop_config,
      fine_tune_fn=fine_tune_fn_for(model_config),
      label_names=label_names(config.train_input_reader.label_map_path),
      step_hooks=step_hooks,
    )


def _training_policy(train_config, device_type):
  """The Keras policy to train in on `device_type`, logged (and whether it is the default)."""
  policy = train_builder.build_precision(train_config, device_type)
  configured = train_builder.configured_precision(train_config) is not None
  default = "" if configured else " (the default on this device)"
  logging.info("training precision: %s%s", policy, default)
  return policy


@contextlib.contextmanager
def _naming_corrupt_shards(input_config, prefix):
  """Turns the plain TFRecord reader's DataLossError ("corrupted record at N", no file name)
  into an InputError naming the corrupt shard and offset (`record_reader`)."""
  try:
    yield
  except tf.errors.DataLossError as error:
    files = dataset_lib.list_files(list(input_config.input_path), field=f"{prefix}.input_path")
    _log.error(
      "%s; looking for the corrupt shard among %d files", error.message.split("\n")[0], len(files)
    )
    message = record_reader.locate_corrupt_shard(files)
    if message is None:
      raise
    raise errors.InputError(message) from None


def _eval_label_map(config):
  path = config.eval_config.label_map_path or config.eval_input_reader.label_map_path
  return label_map_util.read_label_map(path)


def build_evaluator(config, output_dir):
  """An AvaEvaluator for the eval config: evaluated classes, excluded keyframes and cap."""
  eval_config = config.eval_config
  model_ids = input_reader_builder.read_label_map_ids(
    config.eval_input_reader, config.model.action_transformer.num_classes, "eval_input_reader"
  )
  excluded = (
    ava_annotations.read_excluded_timestamps(eval_config.excluded_timestamps_path)
    if eval_config.excluded_timestamps_path
    else ()
  )
  return evaluator_lib.AvaEvaluator(
    label_map=_eval_label_map(config),
    class_ids=model_ids,
    output_dir=output_dir,
    excluded_keys=excluded,
    max_detections_per_keyframe=50 if eval_config.cap_detections_per_keyframe else None,
  )


def _evaluate_batches(dataset, model, status, evaluator):
  """Runs the model on every batch and feeds the evaluator; checks the restore once."""
  detect = tf.function(lambda batch: train_loop.compute_detections(model, batch), autograph=False)
  restored = False
  for batch in dataset:
    detections = detect(batch)
    if not restored:
      status.assert_existing_objects_matched()
      restored = True
    inputs = {k: np.asarray(v) for k, v in batch.items() if k != InputFields.frames}
    evaluator.process(inputs, {k: np.asarray(v) for k, v in detections.items()})
  if not restored:
    raise errors.InputError("eval_input_reader.input_path: the evaluation data is empty")


def evaluate_checkpoint(
  config,
  checkpoint_path,
  global_step,
  *,
  output_dir,
  sample_1_of_n_examples=None,
  summary_writer=None,
):
  """Runs the model of `checkpoint_path` on the eval input and returns the metrics dict."""
  model_config = config.model.action_transformer
  dataset = input_reader_builder.build_dataset_fn(
    config.eval_input_reader,
    model_config,
    global_batch_size=config.eval_config.batch_size,
    is_training=False,
    prefix="eval_input_reader",
    sample_1_of_n_examples=sample_1_of_n_examples,
  )(None)
  if config.eval_config.num_examples:
    dataset = (
      dataset.unbatch().take(config.eval_config.num_examples).batch(config.eval_config.batch_size)
    )
  model = model_builder.build(model_config)
  # Deferred restoration: each variable takes its checkpointed value as the first call creates
  # it; whether everything matched is checked once the variables exist.
  try:
    status = tf.train.Checkpoint(model=model).read(checkpoint_path).expect_partial()
  except tf.errors.OpError as e:
    if isinstance(e, tf.errors.NotFoundError):
      raise  # e.g. deleted by the trainer meanwhile (evaluate_checkpoints skips it).
    raise errors.InputError(f"{checkpoint_path}: not a readable checkpoint ({e.message})") from None
  evaluator = build_evaluator(config, output_dir)
  with _naming_corrupt_shards(config.eval_input_reader, "eval_input_reader"):
    _evaluate_batches(dataset, model, status, evaluator)
  metrics = evaluator.evaluate(global_step=global_step)
  if summary_writer is not None:
    with summary_writer.as_default(step=global_step):
      for name, value in metrics.items():
        if np.isfinite(value):
          tf.summary.scalar(name, value)
    summary_writer.flush()
  return metrics


def evaluate(
  *,
  pipeline_config_path,
  model_dir,
  checkpoint_dir,
  sample_1_of_n_examples=None,
  wait=False,
  eval_timeout=None,
):
  """Evaluates the latest checkpoint of `checkpoint_dir` (or each new one with wait=True)."""
  config = _load_checked_config(pipeline_config_path)
  if not config.HasField("eval_input_reader"):
    raise errors.InputError(f"{pipeline_config_path}: eval_input_reader is required for evaluation")
  output_dir = os.path.join(model_dir, EVAL_SUBDIR)
  tf.io.gfile.makedirs(output_dir)
  writer = tf.summary.create_file_writer(output_dir)

  def evaluate_fn(path, step):
    metrics = evaluate_checkpoint(
      config,
      path,
      step,
      output_dir=output_dir,
      sample_1_of_n_examples=sample_1_of_n_examples,
      summary_writer=writer,
    )
    _log.info("step %d: %s", step, {k: v for k, v in metrics.items() if "mAP" in k})
    return metrics

  return checkpoints.evaluate_checkpoints(
    checkpoint_dir=checkpoint_dir,
    evaluate_fn=evaluate_fn,
    continuous=wait,
    timeout_secs=eval_timeout,
    final_step=config.train_config.num_steps,
  )
