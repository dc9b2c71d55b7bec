"""A benchmark module run in a fresh Python process (a "worker"), and its one-line JSON result.

A worker prints its result as one stdout line, `prefix` followed by JSON (`emit`); `run` starts
`python -m module args...` with the repository root as working directory, and returns that JSON
or raises WorkerError naming the command (module and arguments), its exit code and the end of its
stderr. Fresh processes keep one measurement's memory or crash away from the next.
"""

import json
import os
import subprocess
import sys
from typing import Optional, Sequence

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class WorkerError(RuntimeError):
  """A worker exited without printing its result line."""

  def __init__(self, command: str, returncode: int, stderr_tail: str):
    detail = f":\n{stderr_tail}" if stderr_tail else ""
    super().__init__(f"worker {command} printed no result (exit code {returncode}){detail}")
    self.returncode = returncode


def emit(prefix: str, result) -> None:
  """Prints the worker's result line."""
  print(prefix + json.dumps(result), flush=True)


def run(
  module: str,
  args: Sequence[str],
  prefix: str,
  *,
  show_stderr: bool = False,
  env: Optional[dict] = None,
):
  """Runs `python -m module *args` and returns the JSON after `prefix` on its stdout.

  show_stderr: let the worker's stderr through (its progress messages) instead of keeping the
    last lines for the error message.
  env: the worker's environment (default: this process's).
  """
  process = subprocess.run(
    [sys.executable, "-m", module, *args],
    stdout=subprocess.PIPE,
    stderr=None if show_stderr else subprocess.PIPE,
    text=True,
    check=False,
    cwd=REPO,
    env=env,
  )
  for line in process.stdout.splitlines():
    if line.startswith(prefix):
      return json.loads(line[len(prefix) :])
  tail = "" if show_stderr else "\n".join(process.stderr.splitlines()[-5:])
  raise WorkerError(" ".join([module, *args]), process.returncode, tail)
