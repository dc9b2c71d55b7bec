"""Stopping training safely: SIGTERM / SIGINT handling, and a test-only hook inside checkpoint
writes.

The training loop (train_loop.py) asks `stop_signal_flag` whether to stop after the current step,
and passes `save_options()` to every checkpoint save.
"""

import contextlib
import logging
import os
import signal
import sys
import threading
import time

from ava_tx.core.tf_setup import tf

_log = logging.getLogger(__name__)


CHECKPOINT_WRITE_DELAY_ENV = "AVA_TX_TEST_CHECKPOINT_WRITE_DELAY_SECS"
"""TEST ONLY: seconds to sleep inside every checkpoint write, after the checkpoint's files are
written and before the `checkpoint` state file records them, so that a test can kill training
at that moment (tests/reliability/test_kill_and_resume.py). Never set it otherwise."""


def save_options():
  """CheckpointOptions; with the test-only delay, a write callback that sleeps."""
  delay = float(os.environ.get(CHECKPOINT_WRITE_DELAY_ENV) or 0)
  if delay <= 0:
    return None

  def sleep_inside_write(save_path):
    print(
      f"TEST HOOK: inside the checkpoint write of {save_path}, sleeping {delay:g} s",
      file=sys.stderr,
      flush=True,
    )
    time.sleep(delay)

  return tf.train.CheckpointOptions(experimental_write_callbacks=[sleep_inside_write])


@contextlib.contextmanager
def stop_signal_flag(enabled: bool):
  """Yields {"set": None or the signal's name}, set by SIGTERM or SIGINT (Ctrl-C) while inside
  (when enabled): the loop then saves a checkpoint after the current step and stops. A second
  Ctrl-C interrupts at once (the previous SIGINT handler is back after the first)."""
  flag = {"set": None}
  if not enabled or threading.current_thread() is not threading.main_thread():
    yield flag
    return
  previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}

  def handler(signum, frame):
    del frame
    name = signal.Signals(signum).name
    _log.warning("%s received: saving a checkpoint after the current step.", name)
    flag["set"] = name
    if signum == signal.SIGINT:
      signal.signal(signal.SIGINT, previous[signal.SIGINT])

  for signum in previous:
    signal.signal(signum, handler)
  try:
    yield flag
  finally:
    for signum, old in previous.items():
      signal.signal(signum, old)
