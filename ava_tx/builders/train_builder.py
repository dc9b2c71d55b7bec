"""Builds the learning-rate schedule, optimizer, strategy and loop settings from `TrainConfig`."""

from ava_tx.core import precision as precision_lib
from ava_tx.protos import train_pb2
from ava_tx.training import optimizer as optimizer_lib
from ava_tx.training import strategy as strategy_lib
from ava_tx.training import train_loop

_STRATEGIES = {
  train_pb2.TrainConfig.MIRRORED: strategy_lib.MIRRORED,
  train_pb2.TrainConfig.MULTI_WORKER: strategy_lib.MULTI_WORKER_MIRRORED,
  train_pb2.TrainConfig.ONE_DEVICE: strategy_lib.ONE_DEVICE,
}


def build_learning_rate(train_config, num_steps=None):
  """Linear warmup then cosine decay over `num_steps` (default train_config.num_steps)."""
  total = int(num_steps or train_config.num_steps)
  return optimizer_lib.WarmupCosineDecay(
    base_learning_rate=train_config.base_learning_rate,
    total_steps=total,
    warmup_learning_rate=train_config.warmup_learning_rate,
    warmup_steps=min(int(train_config.warmup_steps), total),
    final_learning_rate=train_config.final_learning_rate,
  )


_OPTIMIZERS = {
  train_pb2.TrainConfig.MOMENTUM: optimizer_lib.MOMENTUM,
  train_pb2.TrainConfig.ADAMW: optimizer_lib.ADAMW,
}


def build_optimizer(train_config, num_steps=None):
  """Momentum SGD or AdamW on the schedule (call inside `strategy.scope()`).

  `weight_decay` is the coupled L2 term the training loop adds to the loss (TrainLoopConfig),
  as the TF Object Detection API does; `decoupled_weight_decay` is applied by the optimizer.
  """
  return optimizer_lib.build_optimizer(
    learning_rate=build_learning_rate(train_config, num_steps),
    optimizer=_OPTIMIZERS[train_config.optimizer],
    momentum=train_config.momentum,
    adam_beta1=train_config.adam_beta1,
    adam_beta2=train_config.adam_beta2,
    adam_epsilon=train_config.adam_epsilon,
    decoupled_weight_decay=train_config.decoupled_weight_decay,
    mixed_precision=_uses_float16(train_config),
  )


_PRECISIONS = {
  train_pb2.TrainConfig.FLOAT32: precision_lib.FLOAT32,
  train_pb2.TrainConfig.MIXED_BFLOAT16: precision_lib.MIXED_BFLOAT16,
  train_pb2.TrainConfig.MIXED_FLOAT16: precision_lib.MIXED_FLOAT16,
}


def configured_precision(train_config):
  """The Keras policy name the config asks for, or None when it leaves the choice to the
  device (`precision` unspecified and no deprecated use_mixed_precision, which means
  mixed_float16)."""
  if train_config.precision != train_pb2.TrainConfig.PRECISION_UNSPECIFIED:
    return _PRECISIONS[train_config.precision]
  return precision_lib.MIXED_FLOAT16 if train_config.use_mixed_precision else None


def _uses_float16(train_config) -> bool:
  """Whether training computes in float16 (the optimizer then needs loss scaling). The device
  default is never float16, so this does not depend on the device."""
  policy = configured_precision(train_config)
  return policy is not None and precision_lib.needs_loss_scaling(policy)


def build_precision(train_config, device_type):
  """The Keras policy name for training on `device_type` ("CPU", "GPU", "TPU"): the configured
  one, else the device's default (`precision.default_policy`: mixed_bfloat16 on a CPU with
  bfloat16 instructions, float32 elsewhere)."""
  return configured_precision(train_config) or precision_lib.default_policy(device_type)


def build_jit_compile(train_config, device_type):
  """Whether to XLA-compile the training step on `device_type` ("CPU", "GPU" or "TPU").

  JIT_COMPILE_AUTO is off on every device type: the model's RoIAlign (crop_and_resize) has no
  XLA kernel, so a compiled training step fails (docs/PERFORMANCE.md has the trunk-only figure).
  """
  del device_type  # Kept for when AUTO differs by device (an XLA-compatible RoIAlign).
  if train_config.jit_compile == train_pb2.TrainConfig.JIT_COMPILE_AUTO:
    return False
  return train_config.jit_compile == train_pb2.TrainConfig.JIT_COMPILE_ON


def build_strategy(train_config):
  """MirroredStrategy by default; MultiWorkerMirrored whenever TF_CONFIG names several workers."""
  return strategy_lib.build_strategy(strategy_name=_STRATEGIES[train_config.strategy])


def build_loop_config(
  train_config,
  *,
  model_dir,
  num_steps=None,
  checkpoint_every_n=None,
  record_summaries=True,
  device_type="CPU",
):
  """`TrainLoopConfig` from the proto, with model_main_tf2's flag overrides."""
  return train_loop.TrainLoopConfig(
    jit_compile=build_jit_compile(train_config, device_type),
    model_dir=model_dir,
    num_steps=int(num_steps or train_config.num_steps),
    checkpoint_every_n=int(checkpoint_every_n or train_config.checkpoint_every_n_steps),
    max_checkpoints_to_keep=train_config.max_checkpoints_to_keep,
    l2_weight_decay=train_config.weight_decay,
    gradient_clip_norm=train_config.gradient_clip_norm,
    record_summaries=record_summaries,
    summary_every_n=train_config.summary_every_n_steps,
    image_summary_every_n=train_config.image_summary_every_n_steps,
    log_every_n=train_config.summary_every_n_steps,
  )
