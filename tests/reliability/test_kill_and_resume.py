"""Training killed at random moments (SIGKILL, once inside a checkpoint write), interrupted with
SIGINT and SIGTERM, and rerun with the same command each time, while an evaluator follows the
checkpoint directory: training always resumes from a complete checkpoint, reaches the final step,
leaves no checkpoint that fails to restore, and the evaluator never reads a half-written one."""

import os
from pathlib import Path
import random
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from ava_tx.core.tf_setup import tf
from ava_tx.training import checkpoints
from ava_tx.training import interrupts

REPO = Path(__file__).resolve().parents[2]
NUM_STEPS = 30
TIMEOUT_SECS = 240


class _Run:
  """One run of the training command; collects its output lines as they come."""

  def __init__(self, model_dir, env=None):
    self.lines, self.errors = [], []
    self.process = subprocess.Popen(
      [sys.executable, "-m", "tests.reliability.kill_worker", str(model_dir), str(NUM_STEPS)],
      cwd=REPO,
      env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})),
      text=True,
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
    )
    self._readers = [
      threading.Thread(target=self._read, args=(stream, sink), daemon=True)
      for stream, sink in ((self.process.stdout, self.lines), (self.process.stderr, self.errors))
    ]
    for reader in self._readers:
      reader.start()

  @staticmethod
  def _read(stream, sink):
    for line in stream:
      sink.append(line.rstrip("\n"))

  def steps(self):
    return [int(m.group(1)) for m in map(re.compile(r"step (\d+)$").match, list(self.lines)) if m]

  def wait_for(self, predicate, what):
    deadline = time.time() + TIMEOUT_SECS
    while not predicate():
      assert self.process.poll() is None, f"exited before {what}: " + "\n".join(self.errors[-20:])
      assert time.time() < deadline, f"no {what} after {TIMEOUT_SECS} s"
      time.sleep(0.01)

  def finish(self):
    code = self.process.wait(timeout=TIMEOUT_SECS)
    for reader in self._readers:
      reader.join(timeout=10)
    return code


def _step_of(path):
  return int(path.rsplit("-", 1)[1])


def _assert_restores(path):
  """Reads every tensor of a checkpoint (but the tf.data iterator state, a variant that the
  training run's own restore checks); its optimizer step must be the one in its name."""
  reader = tf.train.load_checkpoint(path)
  dtypes = reader.get_variable_to_dtype_map()
  names = sorted(dtypes)
  for name in names:
    if dtypes[name] != tf.variant:
      reader.get_tensor(name)
  step_name = re.compile(r"optimizer/_?iter\w*/\.ATTRIBUTES/VARIABLE_VALUE")
  (iterations,) = [n for n in names if step_name.fullmatch(n)]
  assert int(reader.get_tensor(iterations)) == _step_of(path), path


def _assert_directory_consistent(model_dir):
  state = tf.train.get_checkpoint_state(str(model_dir))
  if state is None:
    return 0
  for path in state.all_model_checkpoint_paths:
    _assert_restores(path)
  return _step_of(state.model_checkpoint_path)


class _Evaluator:
  """`checkpoints.evaluate_checkpoints` following the directory, as --checkpoint_dir does."""

  def __init__(self, model_dir):
    self.evaluated, self.failures = [], []
    self.thread = threading.Thread(target=self._run, args=(str(model_dir),), daemon=True)
    self.thread.start()

  def _evaluate(self, path, step):
    try:
      _assert_restores(path)
    except tf.errors.NotFoundError:
      raise  # Deleted by the trainer meanwhile: evaluate_checkpoints skips it.
    except Exception as error:  # pylint: disable=broad-except
      self.failures.append((path, repr(error)))
    self.evaluated.append(step)

  def _run(self, model_dir):
    checkpoints.evaluate_checkpoints(
      checkpoint_dir=model_dir,
      evaluate_fn=self._evaluate,
      continuous=True,
      timeout_secs=TIMEOUT_SECS,
      final_step=NUM_STEPS,
    )


def _rerun(model_dir, env=None):
  """Starts the same command again; checks it resumes right after the latest checkpoint."""
  latest = _assert_directory_consistent(model_dir)
  run = _Run(model_dir, env)
  return run, latest


def _assert_resumed(run, latest):
  steps = run.steps()
  assert not steps or steps[0] == latest + 1, (latest, steps[:3])


def _kill_at_step(model_dir, rng):
  run, latest = _rerun(model_dir)
  target = min(latest + rng.randint(1, 6), NUM_STEPS - 1)
  run.wait_for(lambda: run.steps() and run.steps()[-1] >= target, f"step {target}")
  run.process.send_signal(signal.SIGKILL)
  assert run.finish() == -signal.SIGKILL
  _assert_resumed(run, latest)


def _kill_inside_checkpoint_write(model_dir):
  run, latest = _rerun(model_dir, {interrupts.CHECKPOINT_WRITE_DELAY_ENV: "60"})
  run.wait_for(
    lambda: any("TEST HOOK: inside the checkpoint write" in e for e in run.errors),
    "checkpoint write",
  )
  written = re.search(r"write of (\S+),", [e for e in run.errors if "TEST HOOK" in e][0]).group(1)
  run.process.send_signal(signal.SIGKILL)
  assert run.finish() == -signal.SIGKILL
  _assert_resumed(run, latest)
  # Its files are there but the state file never recorded them: resuming ignores them.
  assert os.path.exists(written + ".index")
  assert _assert_directory_consistent(model_dir) < _step_of(written)


def _interrupt(model_dir, signum, rng):
  run, latest = _rerun(model_dir)
  target = min(latest + rng.randint(1, 4), NUM_STEPS - 1)
  run.wait_for(lambda: run.steps() and run.steps()[-1] >= target, f"step {target}")
  run.process.send_signal(signum)
  assert run.finish() == 1
  _assert_resumed(run, latest)
  stopped = run.steps()[-1]
  name = signal.Signals(signum).name
  assert run.errors[-1] == (
    f"kill_worker: error: {name} received: stopped after training step {stopped} and saved "
    f"{model_dir}/ckpt-{stopped}; run the same command again to resume."
  )
  assert not any("Traceback" in e for e in run.errors)
  assert _assert_directory_consistent(model_dir) == stopped


def _kill_at_random_time(model_dir, rng):
  run, latest = _rerun(model_dir)
  time.sleep(rng.uniform(0.5, 6.0))  # Start-up, restore or training, whichever it is in.
  run.process.send_signal(signal.SIGKILL)
  run.finish()
  _assert_resumed(run, latest)


@pytest.mark.slow
def test_killed_and_interrupted_training_always_resumes_from_a_complete_checkpoint(tmp_path):
  rng = random.Random(int(os.environ.get("AVA_TX_KILL_TEST_SEED", time.time_ns() % 1000)))
  model_dir = tmp_path / "model"
  evaluator = _Evaluator(model_dir)
  _kill_at_step(model_dir, rng)
  _kill_inside_checkpoint_write(model_dir)
  _interrupt(model_dir, signal.SIGINT, rng)
  _interrupt(model_dir, signal.SIGTERM, rng)
  _kill_at_random_time(model_dir, rng)
  run, latest = _rerun(model_dir)
  assert run.finish() == 0, "\n".join(run.errors[-20:])
  _assert_resumed(run, latest)
  assert run.lines[-1] == f"trained to step {NUM_STEPS}"
  assert _assert_directory_consistent(model_dir) == NUM_STEPS
  for index in model_dir.glob("ckpt-*.index"):  # Recorded or not, none is broken.
    _assert_restores(str(index)[: -len(".index")])
  assert not list(model_dir.glob("*_temp*")) and not list(model_dir.glob("*.tmp*"))
  evaluator.thread.join(timeout=TIMEOUT_SECS)
  assert not evaluator.thread.is_alive()
  assert evaluator.failures == []
  assert evaluator.evaluated[-1] == NUM_STEPS and len(evaluator.evaluated) >= 3
  assert evaluator.evaluated == sorted(evaluator.evaluated)
