"""Suite-wide test ordering for the README's `pytest -n 2 tests` (what CI runs).

pyproject.toml runs pytest-xdist with `--dist=loadgroup`: tests that share an expensive module-
or session-scoped fixture carry `pytest.mark.xdist_group(name)` and run on one worker, so the
fixture is built once instead of once per worker. Every other test is scheduled on its own.

Modules holding a test marked `slow` are collected first (each module's tests stay together and
in order, so module-scoped fixtures are still built once per worker), so the long tests start
early and the many short ones fill the end of the run on both workers, instead of one worker
finishing a 4-minute test while the other idles.
"""

import pytest

from tests import run_cache


def pytest_collection_modifyitems(config, items):
  del config
  slow_modules = {item.module.__name__ for item in items
                  if getattr(item, "module", None) and item.get_closest_marker("slow")}
  items.sort(key=lambda item: getattr(getattr(item, "module", None), "__name__", None)
             not in slow_modules)


@pytest.fixture(scope="session")
def run_cache_dir(tmp_path_factory):
  """Where tests.run_cache keeps what is built once per run (shared by the xdist workers)."""
  return run_cache.run_directory(tmp_path_factory) / "run_cache"
