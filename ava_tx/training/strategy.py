"""Choice of the tf.distribute strategy for training and evaluation.

Three strategies, as in the Object Detection API's model_main_tf2:
  * `mirrored` (default): synchronous replicas on all local GPUs, or on the CPU when there is
    no GPU (one replica per device given in `devices`, e.g. several logical CPUs in tests);
  * `multi_worker_mirrored`: synchronous replicas across the workers named in the TF_CONFIG
    environment variable. It is chosen automatically when TF_CONFIG names more than one task
    (workers plus chief), whatever `strategy_name` says, since a mirrored strategy would
    silently train independent copies on each machine;
  * `one_device`: a single device (default the first GPU, else the CPU).

Only the chief writes checkpoints and summaries to the real model directory; other workers
of a multi-worker run write to scratch directories (see `write_dir`), because every worker
must take part in saving a checkpoint.
"""

import json
import os
from typing import Any, Mapping, Optional, Sequence

from ava_tx.core import errors
from ava_tx.core.tf_setup import tf

MIRRORED = "mirrored"
MULTI_WORKER_MIRRORED = "multi_worker_mirrored"
ONE_DEVICE = "one_device"
STRATEGY_NAMES = (MIRRORED, MULTI_WORKER_MIRRORED, ONE_DEVICE)


def parse_tf_config(environ: Optional[Mapping[str, str]] = None) -> dict[str, Any]:
  """Returns the parsed TF_CONFIG environment variable ({} when unset or empty).

  Args:
    environ: the environment to read (default `os.environ`).

  Raises:
    ValueError: TF_CONFIG is not a JSON object.
  """
  environ = os.environ if environ is None else environ
  text = environ.get("TF_CONFIG", "").strip()
  if not text:
    return {}
  try:
    config = json.loads(text)
  except json.JSONDecodeError as e:
    raise errors.InputError(f"TF_CONFIG is not valid JSON ({e}): {text[:200]!r}") from e
  if not isinstance(config, dict):
    raise errors.InputError(f"TF_CONFIG must be a JSON object, got: {text[:200]!r}")
  return config


def num_workers_in_tf_config(tf_config: Mapping[str, Any]) -> int:
  """Number of training tasks (chief + workers) in a parsed TF_CONFIG (0 when none)."""
  cluster = tf_config.get("cluster", {}) or {}
  return len(cluster.get("chief", [])) + len(cluster.get("worker", []))


def build_strategy(
  *,
  strategy_name: str = MIRRORED,
  devices: Optional[Sequence[str]] = None,
  environ: Optional[Mapping[str, str]] = None,
) -> tf.distribute.Strategy:
  """Builds the distribution strategy for training.

  Args:
    strategy_name: one of `STRATEGY_NAMES`. Overridden by `multi_worker_mirrored` when
      TF_CONFIG names more than one worker.
    devices: for `mirrored`, the devices of the replicas (default: all local GPUs, else the
      CPU); for `one_device`, a single device (default `/gpu:0` if a GPU exists, else
      `/cpu:0`). Must be None for `multi_worker_mirrored`.
    environ: environment holding TF_CONFIG (default `os.environ`).

  Returns:
    A `tf.distribute.Strategy`.

  Raises:
    ValueError: unknown `strategy_name`, bad TF_CONFIG, or `devices` that do not fit.
  """
  if strategy_name not in STRATEGY_NAMES:
    raise errors.InputError(f"strategy_name must be one of {STRATEGY_NAMES}, got {strategy_name!r}")
  tf_config = parse_tf_config(environ)
  if num_workers_in_tf_config(tf_config) > 1:
    strategy_name = MULTI_WORKER_MIRRORED
  if strategy_name == MULTI_WORKER_MIRRORED:
    if devices:
      raise ValueError(
        "devices cannot be given with multi_worker_mirrored: each worker uses "
        "all its local GPUs (or its CPU)"
      )
    # The resolver reads TF_CONFIG from os.environ; a custom `environ` is for parsing tests.
    return tf.distribute.MultiWorkerMirroredStrategy()
  if strategy_name == ONE_DEVICE:
    if devices is not None and len(devices) != 1:
      raise ValueError(f"one_device takes exactly one device, got {list(devices)}")
    if devices:
      device = devices[0]
    else:
      device = "/gpu:0" if tf.config.list_logical_devices("GPU") else "/cpu:0"
    return tf.distribute.OneDeviceStrategy(device)
  if devices is not None and not devices:
    raise ValueError("devices must be None (all local GPUs or the CPU) or non-empty")
  if devices is None and not tf.config.list_logical_devices("GPU"):
    devices = ["/cpu:0"]
  return tf.distribute.MirroredStrategy(devices=devices)


def task_type_and_id(strategy: tf.distribute.Strategy) -> tuple[Optional[str], int]:
  """(task_type, task_id) of this process in a multi-worker cluster, (None, 0) otherwise."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not getattr(resolver, "task_type", None):
    return None, 0
  return resolver.task_type, int(resolver.task_id or 0)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """True for the process that writes checkpoints and summaries.

  That is the single process of a one-machine run; in a cluster, the `chief` task, or worker
  0 when the cluster has no chief.
  """
  task_type, task_id = task_type_and_id(strategy)
  if task_type is None:
    return True
  if task_type == "chief":
    return True
  if task_type != "worker":
    return False
  cluster_spec = strategy.cluster_resolver.cluster_spec().as_dict()
  return "chief" not in cluster_spec and task_id == 0


def write_dir(directory: str, strategy: tf.distribute.Strategy) -> str:
  """Directory this process writes checkpoints/summaries to: `directory` on the chief,
  `directory/workertemp_<task_type>_<task_id>` (to be deleted after writing) elsewhere."""
  if is_chief(strategy):
    return directory
  task_type, task_id = task_type_and_id(strategy)
  return os.path.join(directory, f"workertemp_{task_type}_{task_id}")


def worker_index(strategy: tf.distribute.Strategy) -> int:
  """Index of this worker among the training tasks: the chief is 0, then the workers.

  It is the `input_pipeline_id` of this worker's input shard (0 on a single machine).
  """
  task_type, task_id = task_type_and_id(strategy)
  if task_type is None or task_type == "chief":
    return 0
  cluster_spec = strategy.cluster_resolver.cluster_spec().as_dict()
  return task_id + (1 if "chief" in cluster_spec else 0)


def device_type(strategy: tf.distribute.Strategy) -> str:
  """ "CPU", "GPU" or "TPU": the type of the strategy's first replica device."""
  return tf.DeviceSpec.from_string(strategy.extended.worker_devices[0]).device_type or "CPU"
