"""Inputs built once per test run and shared by the tests (and the pytest-xdist workers) that
read them, e.g. the synthetic dataset several end-to-end tests generate with the same seed."""

import fcntl
import os
from pathlib import Path
import shutil

_COMPLETE = ".complete"


def run_directory(tmp_path_factory) -> Path:
  """A directory shared by all workers of this run: the parent of a worker's basetemp under
  pytest-xdist (the controller's basetemp, new for each run), the basetemp otherwise."""
  base = tmp_path_factory.getbasetemp()
  return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def built_once(cache_dir: Path, name: str, build) -> Path:
  """`cache_dir/name`, made by `build(path)` by the first test that asks for it; the others
  wait for it (an exclusive lock file) and reuse it. A build that raised is retried."""
  cache_dir.mkdir(parents=True, exist_ok=True)
  target = cache_dir / name
  with open(cache_dir / f"{name}.lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
      if not (target / _COMPLETE).exists():
        shutil.rmtree(target, ignore_errors=True)
        build(target)
        (target / _COMPLETE).write_text("")
    finally:
      fcntl.flock(lock, fcntl.LOCK_UN)
  return target


def copy_of(cache_dir: Path, name: str, build, destination: Path) -> Path:
  """A private copy of `built_once(cache_dir, name, build)` at `destination`."""
  shutil.copytree(
    built_once(cache_dir, name, build), destination, ignore=shutil.ignore_patterns(_COMPLETE)
  )
  return destination
