"""The step functions of `train_loop` under tf.distribute, and the batches they are fed.

`TrainSteps.train_step` runs one training step on every replica: each replica's loss is scaled
by its share of the global batch, the gradients are summed over replicas, clipped by global norm
and applied (see train_loop's module docstring). `ReplicaBatches` deals this worker's tf.data
batches out to its replicas from a plain (checkpointable) iterator.
"""

from ava_tx.core.standard_fields import InputFields
from ava_tx.core.standard_fields import LossFields
from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf
from ava_tx.training import optimizer as optimizer_lib
from ava_tx.training import strategy as strategy_lib

WEIGHT_DECAY_LOSS = "Loss/l2_weight_decay_loss"
"""Key of the coupled L2 weight-decay term the loop adds to the losses (and total)."""


def first_replica(strategy, structure):
  """The first local replica's value of every per-replica value in `structure`."""
  return tf.nest.map_structure(lambda x: strategy.experimental_local_results(x)[0], structure)


class ReplicaBatches:
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
      num_replicas_in_sync=strategy.num_replicas_in_sync,
    )
    self.iterator = iter(dataset_fn(context))
    self.global_batch_size = None  # Clips per global batch, known after the first next().

  def next(self):
    """The next global batch as per-replica values (raises StopIteration at the end)."""
    batches = [next(self.iterator) for _ in range(self.num_local_replicas)]
    if self.global_batch_size is None:  # Training batches drop remainders: fixed size.
      per_replica = int(tf.shape(tf.nest.flatten(batches[0])[0])[0])
      self.global_batch_size = per_replica * self.strategy.num_replicas_in_sync
    return self.strategy.experimental_distribute_values_from_function(
      lambda ctx: batches[ctx.replica_id_in_sync_group % self.num_local_replicas]
    )


class TrainSteps:
  """The model, optimizer and adapters of one `train_loop` call, and its step functions."""

  def __init__(self, *, strategy, model, optimizer, loss_fn, detect_fn, config):
    """`config`: the loop's TrainLoopConfig (jit_compile, l2_weight_decay, gradient_clip_norm)."""
    self.strategy = strategy
    self.model = model
    self.optimizer = optimizer
    self.loss_fn = loss_fn
    self.detect_fn = detect_fn
    self.config = config
    self.loss_scaling = isinstance(optimizer, keras.mixed_precision.LossScaleOptimizer)
    # XLA compiles the per-replica computation; the cross-replica reduction stays outside.
    self.replica_step = (
      tf.function(self._replica_step, jit_compile=True, autograph=False)
      if config.jit_compile
      else self._replica_step
    )

  def _replica_step(self, batch):
    """One replica's step: returns (losses scaled to the global batch, norm, clipped, lr)."""
    cfg = self.config
    replica_context = tf.distribute.get_replica_context()
    local_size = tf.cast(tf.shape(batch[InputFields.frames])[0], tf.float32)
    global_size = replica_context.all_reduce(tf.distribute.ReduceOp.SUM, local_size)
    share = local_size / global_size
    learning_rate = optimizer_lib.current_learning_rate(self.optimizer)
    with tf.GradientTape() as tape:
      losses = {
        k: tf.cast(v, tf.float32) for k, v in self.loss_fn(self.model, batch, training=True).items()
      }
      if LossFields.total_loss not in losses:
        raise KeyError(f"loss_fn must return {LossFields.total_loss!r}; got {sorted(losses)}")
      if cfg.l2_weight_decay > 0:
        losses[WEIGHT_DECAY_LOSS] = optimizer_lib.l2_weight_decay_loss(
          self.model.trainable_variables, weight_decay=cfg.l2_weight_decay
        )
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
    gradients, norm, clipped = optimizer_lib.clip_by_global_norm(gradients, cfg.gradient_clip_norm)
    self.optimizer.apply_gradients(
      zip(gradients, [v for _, v in pairs]), skip_gradients_aggregation=True
    )
    scaled_losses = {k: v * share for k, v in losses.items()}
    return scaled_losses, norm, tf.cast(clipped, tf.float32), learning_rate

  def global_step(self) -> int:
    return int(self.optimizer.iterations.numpy())

  @tf.function(autograph=False)
  def train_step(self, batch):
    losses, norm, clipped, learning_rate = self.strategy.run(self.replica_step, args=(batch,))
    reduce = self.strategy.reduce
    sum_op, mean_op = tf.distribute.ReduceOp.SUM, tf.distribute.ReduceOp.MEAN
    losses = {k: reduce(sum_op, v, axis=None) for k, v in losses.items()}
    return (
      losses,
      reduce(mean_op, norm, axis=None),
      reduce(mean_op, clipped, axis=None),
      reduce(mean_op, learning_rate, axis=None),
    )

  @tf.function(autograph=False)
  def detect_step(self, batch):
    """The first replica's detections (for image summaries)."""
    per_replica = self.strategy.run(lambda b: self.detect_fn(self.model, b), args=(batch,))
    return first_replica(self.strategy, per_replica)

  @tf.function(autograph=False)
  def build_step(self, batch):
    """Forward pass only, to create the model's variables before fine-tune restoring."""

    def replica_fn(replica_batch):
      losses = self.loss_fn(self.model, replica_batch, training=False)
      return losses[LossFields.total_loss]

    self.strategy.run(replica_fn, args=(batch,))
