"""Multi-process training tests: 2 logical CPU replicas, SIGKILL + resume, two workers.

Each test starts fresh Python processes (the logical device layout and TF_CONFIG must be
set before TensorFlow initialises), running tests/training/distributed_train_worker.py.
Only loopback addresses are used.
"""

import json
import os
from pathlib import Path
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER = "tests.training.distributed_train_worker"
TIMEOUT_SECS = 300


def _command(*args):
  return [sys.executable, "-m", WORKER, *[str(a) for a in args]]


def _environ(tf_config=None):
  environ = dict(os.environ, PYTHONPATH=str(REPO_ROOT), PYTHONUNBUFFERED="1")
  environ.pop("TF_CONFIG", None)
  if tf_config is not None:
    environ["TF_CONFIG"] = json.dumps(tf_config)
  return environ


def _result(stdout: str) -> dict:
  lines = [l for l in stdout.splitlines() if l.startswith("RESULT ")]
  assert lines, f"no RESULT line in the output:\n{stdout[-3000:]}"
  return json.loads(lines[-1][len("RESULT ") :])


def _run(*args, tf_config=None):
  process = subprocess.run(
    _command(*args),
    cwd=REPO_ROOT,
    env=_environ(tf_config),
    capture_output=True,
    text=True,
    timeout=TIMEOUT_SECS,
    check=False,
  )
  assert process.returncode == 0, process.stderr[-5000:]
  return _result(process.stdout)


def _assert_same_variables(actual, expected, rtol=1e-5, atol=1e-6):
  assert sorted(actual) == sorted(expected)
  for name in expected:
    np.testing.assert_allclose(actual[name], expected[name], rtol=rtol, atol=atol, err_msg=name)


def test_two_replicas_match_one_replica_at_same_global_batch(tmp_path):
  result = _run("mirrored", tmp_path, 6)
  two, one = result["two"], result["one"]
  assert len(two["losses"]) == 6
  np.testing.assert_allclose(two["losses"], one["losses"], rtol=1e-5)
  _assert_same_variables(two["variables"], one["variables"])
  assert two["losses"][-1] < two["losses"][0]
  # clips/s counts the global batch (2 replicas x 2 clips, or 1 x 4); summaries every 2 steps.
  assert two["clips_per_step"] == pytest.approx([4.0] * 3)
  assert one["clips_per_step"] == pytest.approx([4.0] * 3)


@pytest.mark.slow
def test_sigkill_then_rerun_resumes_and_matches_uninterrupted(tmp_path):
  model_dir = tmp_path / "killed"
  process = subprocess.Popen(
    _command("train", model_dir, 14, 0.3),
    cwd=REPO_ROOT,
    env=_environ(),
    stdout=subprocess.PIPE,
    stderr=subprocess.DEVNULL,
    text=True,
  )
  try:
    for line in process.stdout:
      if line.strip() == "STEP 8":  # checkpoints at 3 and 6 are written
        break
    else:
      pytest.fail(f"the run ended before step 8 (exit code {process.wait()})")
    os.kill(process.pid, signal.SIGKILL)
  finally:
    process.kill()
    process.wait()
  resumed = _run("train", model_dir, 14)
  # Killed somewhere in step 8 or 9: the latest checkpoint is ckpt-6.
  assert resumed["steps"][0] == 7 and resumed["global_step"] == 14
  # The same training uninterrupted, in a fresh process like the others: in this (pytest)
  # process, seeds and other global TensorFlow state left by earlier tests would change the
  # initial variables.
  reference = _run("train", tmp_path / "reference", 14)
  assert reference["steps"][0] == 1
  np.testing.assert_allclose(resumed["losses"], reference["losses"][6:], rtol=1e-5)
  _assert_same_variables(resumed["variables"], reference["variables"])


def _free_port() -> int:
  with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.mark.slow
def test_two_worker_multi_worker_mirrored_on_loopback(tmp_path):
  workers = [f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"]
  model_dir = tmp_path / "multi_worker"
  processes = []
  for task_id in range(2):
    tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": task_id}}
    processes.append(
      subprocess.Popen(
        _command("train", model_dir, 4),
        cwd=REPO_ROOT,
        env=_environ(tf_config),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
      )
    )
  outputs = []
  try:
    for process in processes:
      stdout, stderr = process.communicate(timeout=TIMEOUT_SECS)
      assert process.returncode == 0, stderr[-5000:]
      outputs.append(_result(stdout))
  finally:
    for process in processes:
      process.kill()
      process.wait()
  chief, worker = outputs
  for output in outputs:
    assert output["multi_worker"]
    assert output["num_replicas"] == 2 and output["global_step"] == 4
    assert output["steps"] == [1, 2, 3, 4]
  assert chief["chief"] and not worker["chief"]
  # Synchronous training: both workers see the same global losses and variables.
  np.testing.assert_allclose(chief["losses"], worker["losses"], rtol=1e-6)
  _assert_same_variables(chief["variables"], worker["variables"], rtol=1e-6, atol=0)
  # Only the chief's checkpoints remain; the worker removed its scratch directory.
  names = sorted(os.listdir(model_dir))
  assert "ckpt-4.index" in names and "ckpt-3.index" in names
  assert not [n for n in names if n.startswith("workertemp")], names
