"""Seeding a training run so that it can be repeated.

`seed_everything(seed)` seeds Python's `random`, NumPy's global generator and TensorFlow's
global generator (`keras.utils.set_random_seed`, which also resets the counter from which
TensorFlow derives the seeds of ops created without one). Called before the model is built,
it fixes the initial weights and the random streams of dropout and RoI sampling; the input
pipeline has its own seed (InputReader.seed, per-example stateless seeds, see data/dataset.py).

What is not covered: a run resumed from a checkpoint restarts the random streams of dropout and
sampling from the seed (the data position is exact, it is in the checkpoint), so an interrupted
run continues reproducibly but not bit-identically to an uninterrupted one.
"""

import logging

from ava_tx.core import errors
from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf

_log = logging.getLogger(__name__)


def seed_everything(seed: int, *, deterministic_ops: bool = False) -> None:
  """Seeds Python, NumPy and TensorFlow with `seed` (> 0).

  Args:
    seed: the run's seed; 0 is refused (the configs use 0 for "not seeded").
    deterministic_ops: also call `tf.config.experimental.enable_op_determinism()`, which is
      process-wide and cannot be undone (kernels without a deterministic implementation then
      raise instead of running).
  """
  if seed <= 0:
    raise errors.InputError(f"train_config.seed: must be positive to seed a run, got {seed}")
  keras.utils.set_random_seed(int(seed))
  if deterministic_ops:
    tf.config.experimental.enable_op_determinism()
  _log.info(
    "Seeded Python, NumPy and TensorFlow with %d%s",
    seed,
    " (deterministic ops)" if deterministic_ops else "",
  )
