"""Numeric precision of the model: float32, or mixed precision with float32 variables.

Policies (Keras mixed-precision policy names):
  float32:         everything in float32.
  mixed_bfloat16:  compute in bfloat16, variables in float32. CPUs with AVX512_BF16 / AMX
                   (oneDNN) and TPUs; bfloat16 has float32's exponent range, so no loss scaling.
  mixed_float16:   compute in float16, variables in float32, dynamic loss scaling (the
                   optimizer is wrapped in LossScaleOptimizer). NVIDIA GPUs with tensor cores.

Under a mixed policy the model keeps float32 where precision matters: RoIAlign box coordinates
(and bfloat16 features are sampled in float32: crop_and_resize has no bfloat16 kernel), the
attention softmax and the attention weights, the RPN's objectness logits and box encodings
(before proposal decoding and NMS), the heads' action logits and box encodings (Dense layers
with a float32 policy), the trunk features in the prediction dict, and every loss.

Training's default (train_config.precision unspecified, `default_policy`): mixed_bfloat16 on a
CPU with bfloat16 instructions (AVX512_BF16 or AMX-BF16), where it trained the demo 1.32x
faster at the same mAP over 4 seeds (docs/MIXED_PRECISION.md); float32 on every
other CPU (oneDNN then emulates bfloat16, slower than float32) and on GPUs and TPUs (choose a
mixed policy there).

The policy is global in Keras and is read when a layer is constructed: call `set_policy`
before building the model, or build it inside `policy_scope` (model_lib does so from
train_config.precision).
"""

import contextlib

from ava_tx.core.tf_setup import keras

FLOAT32 = "float32"
MIXED_BFLOAT16 = "mixed_bfloat16"
MIXED_FLOAT16 = "mixed_float16"
POLICIES = (FLOAT32, MIXED_BFLOAT16, MIXED_FLOAT16)


def check_policy(name: str) -> str:
  """Returns `name` if it is one of POLICIES, else raises ValueError naming the choices."""
  if name not in POLICIES:
    raise ValueError(f"precision must be one of {POLICIES}, got {name!r}")
  return name


# /proc/cpuinfo flags of the bfloat16 instructions oneDNN's convolutions and matmuls use.
NATIVE_BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo_path: str = "/proc/cpuinfo") -> frozenset:
  """The CPU's feature flags from Linux's /proc/cpuinfo; empty where it cannot be read."""
  try:
    with open(cpuinfo_path, encoding="utf-8") as cpuinfo:
      lines = cpuinfo.read().splitlines()
  except OSError:
    return frozenset()
  flags = set()
  for line in lines:
    key, _, value = line.partition(":")
    if key.strip() == "flags":
      flags.update(value.split())
  return frozenset(flags)


def default_policy(device_type: str, flags=None) -> str:
  """The training policy when none is configured, for a strategy on `device_type` ("CPU",
  "GPU", "TPU"): mixed_bfloat16 on a CPU whose `flags` (default: this machine's, `cpu_flags`)
  include a native bfloat16 instruction set, float32 otherwise."""
  if device_type != "CPU":
    return FLOAT32
  flags = cpu_flags() if flags is None else flags
  native = any(flag in flags for flag in NATIVE_BFLOAT16_CPU_FLAGS)
  return MIXED_BFLOAT16 if native else FLOAT32


def needs_loss_scaling(name: str) -> bool:
  """float16 gradients underflow without loss scaling; bfloat16 ones do not."""
  return check_policy(name) == MIXED_FLOAT16


def set_policy(name: str) -> None:
  """Sets the global Keras dtype policy (before the model is built)."""
  keras.mixed_precision.set_global_policy(check_policy(name))


def current_policy() -> str:
  """Name of the global Keras dtype policy."""
  return keras.mixed_precision.global_policy().name


@contextlib.contextmanager
def policy_scope(name: str):
  """Sets the global policy inside the block (build the model there), then restores it."""
  previous = keras.mixed_precision.global_policy()
  set_policy(name)
  try:
    yield
  finally:
    keras.mixed_precision.set_global_policy(previous)
