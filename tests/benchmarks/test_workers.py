"""benchmarks.workers: a module run in a fresh process, its JSON result line or a clear error."""

import pytest

from benchmarks import bf16_conv3d_check
from benchmarks import workers


def test_run_returns_the_workers_json_result():
  # The trunk's bfloat16 convolution on a case that oneDNN computes right: within bfloat16's
  # rounding of the float64 gradient.
  long_enough = len(bf16_conv3d_check.CASES) - 1
  args = [f"--case={long_enough}", "--layer=ava_tx", "--repeats=1"]
  result = workers.run("benchmarks.bf16_conv3d_check", args, "BF16_CONV3D_JSON ")
  assert set(result) == {"error", "finite"}
  assert result["finite"] is True
  assert 0.0 < result["error"] < 0.01


def test_a_worker_without_a_result_raises_with_its_exit_code_and_stderr():
  with pytest.raises(
    workers.WorkerError,
    match=r"(?s)bf16_conv3d_check --case=99 --layer=keras printed .*exit code 1.*IndexError: list index",
  ):
    workers.run("benchmarks.bf16_conv3d_check", ["--case=99", "--layer=keras"], "BF16_CONV3D_JSON ")
