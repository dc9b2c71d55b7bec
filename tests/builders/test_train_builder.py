"""Tests of ava_tx.builders.train_builder: the optimizer and schedule from TrainConfig."""

import pytest
from google.protobuf import text_format

from ava_tx.protos import train_pb2
from ava_tx.builders import train_builder
from ava_tx.core.tf_setup import keras


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
