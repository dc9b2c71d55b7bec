"""Tests of ava_tx.training.strategy in a single process (multi-worker: test_distributed)."""

import json

import pytest

from ava_tx.core.tf_setup import tf
from ava_tx.training import strategy as strategy_lib


def test_parse_tf_config():
  assert strategy_lib.parse_tf_config({}) == {}
  assert strategy_lib.parse_tf_config({"TF_CONFIG": "  "}) == {}
  config = {
    "cluster": {"chief": ["127.0.0.1:1"], "worker": ["127.0.0.1:2", "127.0.0.1:3"]},
    "task": {"type": "worker", "index": 0},
  }
  parsed = strategy_lib.parse_tf_config({"TF_CONFIG": json.dumps(config)})
  assert parsed == config
  assert strategy_lib.num_workers_in_tf_config(parsed) == 3
  assert strategy_lib.num_workers_in_tf_config({"cluster": {"worker": ["a:1"]}}) == 1
  assert strategy_lib.num_workers_in_tf_config({}) == 0
  with pytest.raises(ValueError, match="not valid JSON"):
    strategy_lib.parse_tf_config({"TF_CONFIG": "{cluster"})
  with pytest.raises(ValueError, match="JSON object"):
    strategy_lib.parse_tf_config({"TF_CONFIG": "[1, 2]"})


def test_default_is_mirrored_on_the_cpu():
  strategy = strategy_lib.build_strategy(environ={})
  assert isinstance(strategy, tf.distribute.MirroredStrategy)
  assert strategy.num_replicas_in_sync == 1
  assert strategy.extended.worker_devices[0].endswith("CPU:0")
  assert strategy_lib.is_chief(strategy)
  assert strategy_lib.worker_index(strategy) == 0
  assert strategy_lib.write_dir("/tmp/model", strategy) == "/tmp/model"


def test_one_device_and_single_worker_tf_config():
  strategy = strategy_lib.build_strategy(strategy_name=strategy_lib.ONE_DEVICE, environ={})
  assert isinstance(strategy, tf.distribute.OneDeviceStrategy)
  assert strategy.extended.worker_devices[0].endswith("CPU:0")
  # One worker in TF_CONFIG is not a cluster: the requested strategy stays.
  single = {
    "TF_CONFIG": json.dumps(
      {"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 0}}
    )
  }
  strategy = strategy_lib.build_strategy(strategy_name=strategy_lib.ONE_DEVICE, environ=single)
  assert isinstance(strategy, tf.distribute.OneDeviceStrategy)


def test_bad_arguments():
  with pytest.raises(ValueError, match="strategy_name must be one of"):
    strategy_lib.build_strategy(strategy_name="tpu", environ={})
  with pytest.raises(ValueError, match="exactly one device"):
    strategy_lib.build_strategy(
      strategy_name=strategy_lib.ONE_DEVICE, devices=["/cpu:0", "/cpu:1"], environ={}
    )
  with pytest.raises(ValueError, match="non-empty"):
    strategy_lib.build_strategy(devices=[], environ={})
  with pytest.raises(ValueError, match="cannot be given with multi_worker_mirrored"):
    strategy_lib.build_strategy(
      strategy_name=strategy_lib.MULTI_WORKER_MIRRORED, devices=["/cpu:0"], environ={}
    )


def test_several_workers_in_tf_config_select_multi_worker():
  two = {
    "TF_CONFIG": json.dumps(
      {
        "cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
        "task": {"type": "worker", "index": 0},
      }
    )
  }
  # The devices check runs after the switch, without starting a cluster.
  with pytest.raises(ValueError, match="cannot be given with multi_worker_mirrored"):
    strategy_lib.build_strategy(
      strategy_name=strategy_lib.MIRRORED, devices=["/cpu:0"], environ=two
    )
