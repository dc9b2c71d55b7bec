"""Training checkpoints: what they hold, where each worker writes them, and evaluating them.

A training checkpoint holds the model, the optimizer (its `iterations` is the global step)
and, on single-worker runs, the tf.data iterator. Under MultiWorkerMirroredStrategy every
worker must take part in each save; only the chief's lands in model_dir, the others write to
a temporary directory that is deleted right after (`strategy.write_dir`). Every worker
restores from the chief's directory.
"""

import logging
import os
import re
from typing import Any, Callable, Optional

from ava_tx.core.tf_setup import tf
from ava_tx.training import interrupts
from ava_tx.training import strategy as strategy_lib

_log = logging.getLogger(__name__)

_CHECKPOINT_STEP = re.compile(r"-(\d+)$")


def checkpoint_step(path: str) -> int:
  """Global step of a `.../ckpt-<step>` checkpoint path (-1 when it has no number)."""
  match = _CHECKPOINT_STEP.search(path)
  return int(match.group(1)) if match else -1


class TrainingCheckpoint:
  """The checkpoint of one training run (tf.train.Checkpoint + CheckpointManager).

  Attributes:
    write_dir: where this worker writes (model_dir on the chief).
    last_path: the newest checkpoint restored or written by this object (None before).
  """

  def __init__(
    self,
    *,
    strategy,
    model,
    optimizer,
    iterator,
    num_workers: int,
    model_dir: str,
    max_to_keep: int,
  ):
    """`iterator` (a tf.data iterator, or None) is tracked only when num_workers == 1: with
    several workers each has its own shard, and all restore from the chief's checkpoint."""
    self._chief = strategy_lib.is_chief(strategy)
    self._model_dir = model_dir
    self._optimizer = optimizer
    tracked = dict(model=model, optimizer=optimizer)
    if iterator is not None and num_workers == 1:
      tracked["iterator"] = iterator
    elif iterator is not None:
      _log.warning(
        "Not checkpointing the data iterator: with %d workers each has its own "
        "shard, and all restore from the chief's checkpoint.",
        num_workers,
      )
    self._checkpoint = tf.train.Checkpoint(**tracked)
    self.write_dir = strategy_lib.write_dir(model_dir, strategy)
    self._manager = tf.train.CheckpointManager(
      self._checkpoint, directory=self.write_dir, max_to_keep=max_to_keep if self._chief else 1
    )
    self.last_path: Optional[str] = None

  def restore_latest(self) -> bool:
    """Restores the latest checkpoint of model_dir, if any; returns whether there was one."""
    latest = tf.train.latest_checkpoint(self._model_dir)
    if not latest:
      return False
    _log.info("Resuming from %s", latest)
    self._checkpoint.restore(latest).assert_existing_objects_matched()
    self.last_path = latest
    return True

  def save(self) -> str:
    """Writes a checkpoint numbered by the global step; returns its path."""
    path = self._manager.save(
      checkpoint_number=self._optimizer.iterations, options=interrupts.save_options()
    )
    if not self._chief:
      tf.io.gfile.rmtree(self.write_dir)
    self.last_path = path
    return path

  def save_unless_written(self, step: int) -> None:
    """Saves when no checkpoint of `step` was restored or written (e.g. resumed past the end)."""
    if self.last_path is None or checkpoint_step(self.last_path) < step:
      self.save()

  def final_path(self) -> Optional[str]:
    """The last checkpoint, as a path in model_dir (also on workers other than the chief)."""
    if not self.last_path:
      return None
    return os.path.join(self._model_dir, os.path.basename(self.last_path))


def evaluate_checkpoints(
  *,
  checkpoint_dir: str,
  evaluate_fn: Callable[[str, int], Any],
  continuous: bool = False,
  timeout_secs: Optional[float] = None,
  min_interval_secs: float = 0,
  final_step: Optional[int] = None,
) -> list[tuple[int, Any]]:
  """Runs `evaluate_fn(checkpoint_path, global_step)` on the checkpoints of a directory.

  Args:
    checkpoint_dir: the training model_dir (CheckpointManager's `ckpt-<step>` files).
    evaluate_fn: evaluates one checkpoint (restores it and computes metrics); its return
      value is collected.
    continuous: False: evaluate the latest checkpoint once. True: evaluate each new
      checkpoint as it appears (tf.train.checkpoints_iterator) until `timeout_secs` pass
      without a new one or a checkpoint at `final_step` or beyond was evaluated.
    timeout_secs: see `continuous` (None = wait forever).
    min_interval_secs: minimum seconds between two evaluations.
    final_step: the training's num_steps, to stop after the last checkpoint.

  Returns:
    [(global_step, evaluate_fn result)] in evaluation order.

  Raises:
    FileNotFoundError: `continuous` is False and the directory holds no checkpoint.
    NotADirectoryError: `continuous` is True and checkpoint_dir is a file (a directory that
      does not exist yet is waited for, as training may not have written it).
  """
  if not continuous:
    path = tf.train.latest_checkpoint(checkpoint_dir)
    if path is None:
      raise FileNotFoundError(f"No checkpoint found in {checkpoint_dir!r}")
    return [(checkpoint_step(path), evaluate_fn(path, checkpoint_step(path)))]
  if tf.io.gfile.exists(checkpoint_dir) and not tf.io.gfile.isdir(checkpoint_dir):
    raise NotADirectoryError(f"{checkpoint_dir} is a file, not a directory of checkpoints")
  results = []
  for path in tf.train.checkpoints_iterator(
    checkpoint_dir, min_interval_secs=min_interval_secs, timeout=timeout_secs
  ):
    step = checkpoint_step(path)
    _log.info("Evaluating %s (step %d)", path, step)
    try:
      results.append((step, evaluate_fn(path, step)))
    except tf.errors.NotFoundError:
      if tf.io.gfile.exists(path + ".index"):
        raise
      # The trainer deleted it (max_checkpoints_to_keep) while it was being evaluated.
      _log.warning(
        "%s was deleted by the trainer during its evaluation; skipped (keep more "
        "checkpoints, train_config.max_checkpoints_to_keep, to evaluate each).",
        path,
      )
    if final_step is not None and step >= final_step:
      break
  return results
