"""Tests of ava_tx.builders.train_builder: the optimizer and schedule from TrainConfig."""

import pathlib
import re

from google.protobuf import text_format
import pytest

from ava_tx.builders import config_validation
from ava_tx.builders import train_builder
from ava_tx.core import precision
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
    ("", "float32", False),  # on a GPU: the default is float32 there
    ("use_mixed_precision: true", "mixed_float16", True),  # the deprecated field
    ("precision: MIXED_FLOAT16 use_mixed_precision: true", "mixed_float16", True),
    ("precision: MIXED_BFLOAT16", "mixed_bfloat16", False),
    ("precision: FLOAT32", "float32", False),
  ],
)
def test_precision_and_its_migration_from_use_mixed_precision(text, policy, loss_scaling):
  config = _train_config(text)
  assert train_builder.build_precision(config, "GPU") == policy
  # Only the empty config leaves the choice to the device (model_lib logs it as the default).
  assert train_builder.configured_precision(config) == (policy if text else None)
  optimizer = train_builder.build_optimizer(config)
  assert isinstance(optimizer, keras.mixed_precision.LossScaleOptimizer) == loss_scaling


@pytest.mark.parametrize("text", ["precision: FLOAT32", "precision: MIXED_BFLOAT16"])
def test_a_configured_precision_is_the_same_on_every_device(text):
  config = _train_config(text)
  assert {train_builder.build_precision(config, d) for d in ("CPU", "GPU", "TPU")} == {
    train_builder.build_precision(config, "GPU")
  }


def test_unspecified_precision_on_this_cpu_follows_its_bfloat16_instructions():
  # Read independently of precision.cpu_flags: a bfloat16 flag anywhere in /proc/cpuinfo.
  try:
    cpuinfo = pathlib.Path("/proc/cpuinfo").read_text(encoding="utf-8")
  except OSError:
    cpuinfo = ""
  native = re.search(r"\b(avx512_bf16|amx_bf16)\b", cpuinfo) is not None
  policy = train_builder.build_precision(_train_config(""), "CPU")
  assert policy == ("mixed_bfloat16" if native else "float32")


@pytest.mark.parametrize(
  "device, flags, policy",
  [
    ("CPU", {"avx2", "avx512f", "avx512_bf16"}, "mixed_bfloat16"),  # AMD Zen 4, Cooper Lake
    ("CPU", {"avx2", "amx_bf16", "amx_tile"}, "mixed_bfloat16"),  # Sapphire Rapids
    ("CPU", {"avx2", "avx512f"}, "float32"),  # oneDNN would emulate bfloat16: slower
    ("CPU", set(), "float32"),  # /proc/cpuinfo unreadable (not Linux)
    ("GPU", {"avx512_bf16"}, "float32"),
    ("TPU", {"avx512_bf16"}, "float32"),
  ],
)
def test_default_policy_by_device_and_cpu_flags(device, flags, policy):
  assert precision.default_policy(device, frozenset(flags)) == policy


def test_cpu_flags_reads_every_processor_and_tolerates_a_missing_file(tmp_path):
  cpuinfo = tmp_path / "cpuinfo"
  cpuinfo.write_text(
    "processor\t: 0\nflags\t\t: fpu avx2 avx512_bf16\nbugs\t\t: sysret_ss_attrs\n\n"
    "processor\t: 1\nflags\t\t: fpu avx2 avx512_bf16 amx_bf16\n"
  )
  assert precision.cpu_flags(str(cpuinfo)) == {"fpu", "avx2", "avx512_bf16", "amx_bf16"}
  assert precision.cpu_flags(str(tmp_path / "absent")) == frozenset()


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
