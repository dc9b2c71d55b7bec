"""Tests of ava_tx.builders.train_builder: the optimizer and schedule from TrainConfig."""

from google.protobuf import text_format
import pytest

from ava_tx.builders import config_validation
from ava_tx.builders import train_builder
from ava_tx.core.tf_setup import keras
from ava_tx.protos import train_pb2


def _train_config(text):
  return text_format.Parse(text, train_pb2.TrainConfig())


def test_default_is_the_papers_momentum_sgd_on_warmup_cosine():
  config = _train_config("num_steps: 2000 warmup_steps: 100")
  optimizer = train_builder.build_optimizer(config)
  assert isinstance(optimizer, keras.optimizers.SGD)
  assert optimizer.momentum == pytest.approx(0.9)
  schedule = optimizer._learning_rate  # pylint: disable=protected-access
  assert float(schedule(0)) == pytest.approx(0.01)
  assert float(schedule(100)) == pytest.approx(0.1)
  assert float(schedule(2000)) == pytest.approx(0.0)


def test_adamw_takes_its_settings_from_the_config():
  config = _train_config("""
      optimizer: ADAMW base_learning_rate: 0.001 warmup_learning_rate: 0.0001
      num_steps: 500 warmup_steps: 50 adam_beta1: 0.8 adam_beta2: 0.95 adam_epsilon: 1e-6
      weight_decay: 0 decoupled_weight_decay: 0.05""")
  optimizer = train_builder.build_optimizer(config, num_steps=1000)
  assert isinstance(optimizer, keras.optimizers.AdamW)
  assert (optimizer.beta_1, optimizer.beta_2) == pytest.approx((0.8, 0.95))
  assert optimizer.epsilon == pytest.approx(1e-6)
  assert optimizer.weight_decay == pytest.approx(0.05)
  schedule = optimizer._learning_rate  # pylint: disable=protected-access
  assert schedule.total_steps == 1000  # --num_train_steps overrides the config.
  assert float(schedule(50)) == pytest.approx(0.001)


@pytest.mark.parametrize(
  "text, policy, loss_scaling",
  [
    ("", "float32", False),
    ("use_mixed_precision: true", "mixed_float16", True),  # the deprecated field
    ("precision: MIXED_FLOAT16 use_mixed_precision: true", "mixed_float16", True),
    ("precision: MIXED_BFLOAT16", "mixed_bfloat16", False),
    ("precision: FLOAT32", "float32", False),
  ],
)
def test_precision_and_its_migration_from_use_mixed_precision(text, policy, loss_scaling):
  config = _train_config(text)
  assert train_builder.build_precision(config) == policy
  optimizer = train_builder.build_optimizer(config)
  assert isinstance(optimizer, keras.mixed_precision.LossScaleOptimizer) == loss_scaling


def test_use_mixed_precision_contradicting_precision_is_an_error():
  config = _train_config("precision: MIXED_BFLOAT16 use_mixed_precision: true")
  with pytest.raises(ValueError, match="train_config.use_mixed_precision"):
    config_validation.validate_train_config(config)


@pytest.mark.parametrize(
  "text, device, expected",
  [
    ("", "CPU", False),
    ("", "GPU", False),
    ("", "TPU", False),
    ("jit_compile: JIT_COMPILE_ON", "CPU", True),
    ("jit_compile: JIT_COMPILE_OFF", "GPU", False),
  ],
)
def test_jit_compile_is_off_by_default_on_every_device(text, device, expected):
  config = _train_config(text)
  assert train_builder.build_jit_compile(config, device) == expected
  loop = train_builder.build_loop_config(config, model_dir="/tmp/unused", device_type=device)
  assert loop.jit_compile == expected
