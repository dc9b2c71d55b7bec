"""Tests of ava_tx.training.optimizer: schedule values, weight decay, clipping."""

import math

import numpy as np
import pytest

from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf
from ava_tx.training import optimizer as optimizer_lib


def _schedule(**kwargs):
  args = dict(
    base_learning_rate=0.1, warmup_learning_rate=0.01, warmup_steps=1000, total_steps=10000
  )
  args.update(kwargs)
  return optimizer_lib.WarmupCosineDecay(**args)


@pytest.mark.parametrize(
  "step,expected",
  [
    (0, 0.01),  # warmup start
    (500, 0.055),  # linear warmup half-way
    (1000, 0.1),  # end of warmup = base
    (1000 + 9000 // 4, 0.05 * (1 + math.cos(math.pi / 4))),  # a quarter of the cosine
    (5500, 0.05),  # cosine half-way
    (10000, 0.0),  # end
    (20000, 0.0),  # past the end
  ],
)
def test_warmup_cosine_values(step, expected):
  assert float(_schedule()(step)) == pytest.approx(expected, abs=1e-7)


def test_warmup_cosine_final_rate_and_no_warmup():
  schedule = _schedule(final_learning_rate=0.001)
  assert float(schedule(5500)) == pytest.approx(0.0505, abs=1e-7)
  assert float(schedule(10000)) == pytest.approx(0.001, abs=1e-7)
  no_warmup = _schedule(warmup_steps=0, total_steps=100)
  assert float(no_warmup(0)) == pytest.approx(0.1)
  assert float(no_warmup(50)) == pytest.approx(0.05)


def test_warmup_cosine_config_round_trip_and_errors():
  schedule = _schedule(final_learning_rate=0.002)
  again = optimizer_lib.WarmupCosineDecay.from_config(schedule.get_config())
  assert again.get_config() == schedule.get_config()
  with pytest.raises(ValueError, match="warmup_steps"):
    _schedule(warmup_steps=20000)
  with pytest.raises(ValueError, match="total_steps"):
    _schedule(total_steps=0)


def test_momentum_sgd_two_steps_exact():
  kernel = tf.Variable([[1.0], [2.0]])
  optimizer = optimizer_lib.build_optimizer(learning_rate=0.1, momentum=0.9)
  grad1, grad2 = tf.constant([[1.0], [-1.0]]), tf.constant([[0.5], [0.5]])
  optimizer.apply_gradients([(grad1, kernel)])
  np.testing.assert_allclose(kernel.numpy(), [[0.9], [2.1]], rtol=1e-6)
  optimizer.apply_gradients([(grad2, kernel)])
  # velocity = 0.9 * (-0.1 * g1) - 0.1 * g2
  np.testing.assert_allclose(kernel.numpy(), [[0.9 - 0.09 - 0.05], [2.1 + 0.09 - 0.05]], rtol=1e-6)


def test_decoupled_weight_decay_applies_to_kernels_only():
  kernel, bias = tf.Variable([[1.0, -2.0]]), tf.Variable([3.0])
  optimizer = optimizer_lib.build_optimizer(
    learning_rate=0.5, momentum=0.0, decoupled_weight_decay=0.1
  )
  optimizer.apply_gradients([(tf.zeros([1, 2]), kernel), (tf.zeros([1]), bias)])
  np.testing.assert_allclose(kernel.numpy(), [[0.95, -1.9]], rtol=1e-6)  # w * (1 - lr * wd)
  np.testing.assert_allclose(bias.numpy(), [3.0])


def test_adamw_two_steps_match_the_adam_update_with_kernel_only_decay():
  kernel, bias = tf.Variable([[1.0, -2.0]]), tf.Variable([3.0])
  optimizer = optimizer_lib.build_optimizer(
    learning_rate=0.1,
    optimizer=optimizer_lib.ADAMW,
    adam_beta1=0.8,
    adam_beta2=0.9,
    adam_epsilon=1e-3,
    decoupled_weight_decay=0.5,
  )
  grads = [np.array([[0.5, -1.0]]), np.array([2.0])], [np.array([[-1.0, 0.25]]), np.array([1.0])]
  expected = [kernel.numpy().astype(np.float64), bias.numpy().astype(np.float64)]
  moments = [[np.zeros_like(e), np.zeros_like(e)] for e in expected]
  for step, step_grads in enumerate(grads, start=1):
    optimizer.apply_gradients(
      [(tf.constant(g, tf.float32), v) for g, v in zip(step_grads, (kernel, bias))]
    )
    for i, g in enumerate(step_grads):
      if i == 0:  # Decoupled decay first, kernels only: w -= lr * wd * w.
        expected[i] = expected[i] - 0.1 * 0.5 * expected[i]
      m, v = moments[i]
      m[:] = 0.8 * m + 0.2 * g
      v[:] = 0.9 * v + 0.1 * g * g
      # keras's Adam: bias corrections folded into the rate, epsilon added to sqrt(v).
      rate = 0.1 * np.sqrt(1 - 0.9**step) / (1 - 0.8**step)
      expected[i] = expected[i] - rate * m / (np.sqrt(v) + 1e-3)
  np.testing.assert_allclose(kernel.numpy(), expected[0], rtol=1e-5)
  np.testing.assert_allclose(bias.numpy(), expected[1], rtol=1e-5)


def test_unknown_optimizer_is_a_clear_error():
  with pytest.raises(ValueError, match="optimizer must be 'momentum' or 'adamw', got 'adam'"):
    optimizer_lib.build_optimizer(learning_rate=0.1, optimizer="adam")


def test_l2_weight_decay_loss_value_and_gradient():
  kernel, bias = tf.Variable([[1.0, 2.0], [3.0, 4.0]]), tf.Variable([5.0, 6.0])
  with tf.GradientTape() as tape:
    loss = optimizer_lib.l2_weight_decay_loss([kernel, bias], weight_decay=0.1)
  assert float(loss) == pytest.approx(0.1 * 30 / 2)
  kernel_grad, bias_grad = tape.gradient(loss, [kernel, bias])
  np.testing.assert_allclose(kernel_grad.numpy(), 0.1 * kernel.numpy(), rtol=1e-6)
  assert bias_grad is None
  assert float(optimizer_lib.l2_weight_decay_loss([bias], weight_decay=0.1)) == 0.0


def test_clip_by_global_norm():
  grads = [tf.constant([3.0]), None, tf.constant([4.0])]
  clipped, norm, was_clipped = optimizer_lib.clip_by_global_norm(grads, 1.0)
  assert float(norm) == pytest.approx(5.0)
  assert bool(was_clipped)
  assert clipped[1] is None
  np.testing.assert_allclose([clipped[0].numpy()[0], clipped[2].numpy()[0]], [0.6, 0.8], rtol=1e-6)
  kept, norm, was_clipped = optimizer_lib.clip_by_global_norm(grads, 10.0)
  assert not bool(was_clipped) and float(kept[2][0]) == 4.0
  kept, norm, was_clipped = optimizer_lib.clip_by_global_norm(grads, 0.0)
  assert not bool(was_clipped) and float(norm) == pytest.approx(5.0)
  assert float(kept[0][0]) == 3.0


def test_mixed_precision_wraps_in_loss_scale_optimizer():
  optimizer = optimizer_lib.build_optimizer(learning_rate=0.1, mixed_precision=True)
  assert isinstance(optimizer, keras.mixed_precision.LossScaleOptimizer)
  assert isinstance(optimizer.inner_optimizer, keras.optimizers.SGD)


def test_current_learning_rate_follows_iterations():
  optimizer = optimizer_lib.build_optimizer(learning_rate=_schedule())
  assert float(optimizer_lib.current_learning_rate(optimizer)) == pytest.approx(0.01)
  optimizer.iterations.assign(1000)
  assert float(optimizer_lib.current_learning_rate(optimizer)) == pytest.approx(0.1)
  wrapped = optimizer_lib.build_optimizer(learning_rate=_schedule(), mixed_precision=True)
  wrapped.iterations.assign(5500)
  assert float(optimizer_lib.current_learning_rate(wrapped)) == pytest.approx(0.05)
