"""The paper's optimisation: momentum SGD with a warmup + cosine learning rate (or AdamW).

Girdhar et al. (CVPR 2019) train with synchronous SGD, momentum 0.9, learning rate warmed up
linearly from 0.01 to 0.1 over the first 1000 steps and then cosine-annealed; all numbers are
arguments here (defaults from train.proto are applied by the builder).

Weight decay comes in two forms; pick one (both default off here):
  * coupled L2 (`l2_weight_decay_loss`, the paper's and the Object Detection API's form and
    what train.proto's `weight_decay` means): `weight_decay * sum(w**2) / 2` over kernels is
    added to the total loss, so it passes through momentum and gradient clipping;
  * decoupled (`build_optimizer(decoupled_weight_decay=...)`): each step, before the
    gradient update, `w -= learning_rate * decoupled_weight_decay * w` for kernels.
"Kernels" are trainable variables of rank >= 2 (convolution, dense, attention projections):
biases and normalization parameters are never decayed.
"""

import math
from typing import Optional, Sequence

from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf


class WarmupCosineDecay(keras.optimizers.schedules.LearningRateSchedule):
  """Linear warmup then cosine decay.

  lr(step) = warmup_learning_rate + (base - warmup) * step / warmup_steps
               for step < warmup_steps,
           = final + (base - final) * (1 + cos(pi * (step - warmup_steps)
                                                / (total_steps - warmup_steps))) / 2
               for warmup_steps <= step < total_steps,
           = final_learning_rate for step >= total_steps.
  So lr(0) = warmup_learning_rate, lr(warmup_steps) = base_learning_rate.
  """

  def __init__(
    self,
    *,
    base_learning_rate: float = 0.1,
    total_steps: int,
    warmup_learning_rate: float = 0.01,
    warmup_steps: int = 1000,
    final_learning_rate: float = 0.0,
    name: str = "WarmupCosineDecay",
  ):
    """Args are plain Python numbers; `total_steps` counts the warmup too."""
    super().__init__()
    if total_steps <= 0:
      raise ValueError(f"total_steps must be > 0, got {total_steps}")
    if not 0 <= warmup_steps <= total_steps:
      raise ValueError(
        f"warmup_steps must be in [0, total_steps={total_steps}], got {warmup_steps}"
      )
    self.base_learning_rate = float(base_learning_rate)
    self.total_steps = int(total_steps)
    self.warmup_learning_rate = float(warmup_learning_rate)
    self.warmup_steps = int(warmup_steps)
    self.final_learning_rate = float(final_learning_rate)
    self.name = name

  def __call__(self, step):
    """Learning rate at `step` (int or float scalar tensor) as a float32 scalar."""
    with tf.name_scope(self.name):
      step = tf.cast(step, tf.float32)
      base = tf.constant(self.base_learning_rate, tf.float32)
      final = tf.constant(self.final_learning_rate, tf.float32)
      decay_steps = max(self.total_steps - self.warmup_steps, 1)
      progress = tf.clip_by_value((step - self.warmup_steps) / decay_steps, 0.0, 1.0)
      cosine = final + (base - final) * 0.5 * (1.0 + tf.cos(math.pi * progress))
      if self.warmup_steps == 0:
        return cosine
      warmup = self.warmup_learning_rate + (
        (self.base_learning_rate - self.warmup_learning_rate) * step / self.warmup_steps
      )
      return tf.where(step < self.warmup_steps, warmup, cosine)

  def get_config(self):
    return dict(
      base_learning_rate=self.base_learning_rate,
      total_steps=self.total_steps,
      warmup_learning_rate=self.warmup_learning_rate,
      warmup_steps=self.warmup_steps,
      final_learning_rate=self.final_learning_rate,
      name=self.name,
    )


def is_decayed_variable(variable: tf.Variable) -> bool:
  """True for kernels (rank >= 2 trainable variables), which weight decay applies to."""
  return variable.trainable and variable.shape.rank is not None and variable.shape.rank >= 2


class _MomentumSGDWithKernelDecay(keras.optimizers.SGD):
  """Keras SGD whose decoupled weight decay applies to kernels only (see module doc)."""

  def _use_weight_decay(self, variable):
    return is_decayed_variable(variable) and super()._use_weight_decay(variable)


class _AdamWWithKernelDecay(keras.optimizers.AdamW):
  """Keras AdamW whose decoupled weight decay applies to kernels only (see module doc)."""

  def _use_weight_decay(self, variable):
    return is_decayed_variable(variable) and super()._use_weight_decay(variable)


MOMENTUM = "momentum"
ADAMW = "adamw"


def build_optimizer(
  *,
  learning_rate,
  optimizer: str = MOMENTUM,
  momentum: float = 0.9,
  nesterov: bool = False,
  adam_beta1: float = 0.9,
  adam_beta2: float = 0.999,
  adam_epsilon: float = 1e-8,
  decoupled_weight_decay: float = 0.0,
  mixed_precision: bool = False,
) -> keras.optimizers.Optimizer:
  """Builds momentum SGD (the paper's) or AdamW. Call inside `strategy.scope()`.

  Args:
    learning_rate: a float or a `LearningRateSchedule` of the optimizer's iteration count
      (e.g. `WarmupCosineDecay`).
    optimizer: MOMENTUM or ADAMW.
    momentum: momentum coefficient (MOMENTUM).
    nesterov: use Nesterov momentum (MOMENTUM).
    adam_beta1, adam_beta2, adam_epsilon: Adam's settings (ADAMW).
    decoupled_weight_decay: if > 0, decoupled decay of kernels (see module doc). Leave 0 when
      the coupled L2 loss is used.
    mixed_precision: wrap in `keras.mixed_precision.LossScaleOptimizer` (dynamic loss
      scaling). The float16 compute policy itself is set by whoever builds the model
      (`keras.mixed_precision.set_global_policy("mixed_float16")`).

  Gradient clipping is not done here but in the train step, after gradients are summed
  over replicas, so the number of clipped steps can be counted (see `clip_by_global_norm`).
  """
  if decoupled_weight_decay < 0:
    raise ValueError(f"decoupled_weight_decay must be >= 0, got {decoupled_weight_decay}")
  if optimizer == MOMENTUM:
    result = _MomentumSGDWithKernelDecay(
      learning_rate=learning_rate,
      momentum=momentum,
      nesterov=nesterov,
      weight_decay=decoupled_weight_decay or None,
    )
  elif optimizer == ADAMW:
    # keras AdamW requires a weight decay; 0 means none.
    result = _AdamWWithKernelDecay(
      learning_rate=learning_rate,
      weight_decay=decoupled_weight_decay,
      beta_1=adam_beta1,
      beta_2=adam_beta2,
      epsilon=adam_epsilon,
    )
  else:
    raise ValueError(f"optimizer must be {MOMENTUM!r} or {ADAMW!r}, got {optimizer!r}")
  if mixed_precision:
    result = keras.mixed_precision.LossScaleOptimizer(result)
  return result


def current_learning_rate(optimizer: keras.optimizers.Optimizer) -> tf.Tensor:
  """float32 scalar: the learning rate the optimizer uses at its current iteration."""
  inner = getattr(optimizer, "inner_optimizer", optimizer)
  learning_rate = inner.learning_rate
  if isinstance(inner._learning_rate, keras.optimizers.schedules.LearningRateSchedule):  # pylint: disable=protected-access
    learning_rate = inner._learning_rate(inner.iterations)  # pylint: disable=protected-access
  return tf.cast(learning_rate, tf.float32)


def l2_weight_decay_loss(variables: Sequence[tf.Variable], *, weight_decay: float) -> tf.Tensor:
  """Coupled L2 weight decay: `weight_decay * sum over kernels of sum(w**2) / 2`.

  Args:
    variables: trainable variables (non-kernels are skipped, see `is_decayed_variable`).
    weight_decay: the coefficient (train.proto `weight_decay`).

  Returns:
    float32 scalar. Its gradient w.r.t. a kernel w is `weight_decay * w`.
  """
  terms = [tf.nn.l2_loss(tf.cast(v, tf.float32)) for v in variables if is_decayed_variable(v)]
  if not terms or weight_decay == 0:
    return tf.constant(0.0, tf.float32)
  return weight_decay * tf.add_n(terms)


def clip_by_global_norm(
  gradients: Sequence[Optional[tf.Tensor]], clip_norm: float
) -> tuple[list[Optional[tf.Tensor]], tf.Tensor, tf.Tensor]:
  """Scales gradients so that their global L2 norm is at most `clip_norm`.

  Args:
    gradients: gradient tensors (None entries are kept as None).
    clip_norm: the maximum global norm; <= 0 disables clipping.

  Returns:
    (gradients, global_norm, clipped): the (possibly scaled) gradients, the float32 global
    norm before clipping, and a bool scalar telling whether they were scaled down.
  """
  present = [g for g in gradients if g is not None]
  global_norm = tf.linalg.global_norm(present) if present else tf.constant(0.0)
  global_norm = tf.cast(global_norm, tf.float32)
  if clip_norm <= 0:
    return list(gradients), global_norm, tf.constant(False)
  clipped, _ = tf.clip_by_global_norm(present, clip_norm, use_norm=global_norm)
  result, it = [], iter(clipped)
  for g in gradients:
    result.append(None if g is None else next(it))
  return result, global_norm, global_norm > clip_norm
