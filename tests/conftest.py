"""Suite-wide scheduling for the README's `pytest -n 2 tests` (what CI runs).

Under pytest-xdist the tests that share an expensive module- or session-scoped fixture run on
one worker (`_GROUPS`), so the fixture is built once instead of once on each worker that gets
some of them. (xdist's own `--dist=loadgroup` does not group with pytest 9: it renames
`item._nodeid`, which pytest 9 no longer reads.) Every other test is scheduled on its own.

Modules holding a test marked `slow` are collected first (each module's tests stay together and
in order, so module-scoped fixtures are still built once per worker), so the long tests start
early and the many short ones fill the end of the run on both workers, instead of one worker
finishing a 4-minute test while the other idles.
"""

import pytest

from tests import run_cache

# (node id prefix, group): tests whose id starts with the prefix run together on one worker.
# Add a line when a module gets a fixture that takes more than a few seconds to build.
_GROUPS = (
  # tiny_workspace, corrupt_workspace and the TensorFlow command runs (tf_results).
  ("tests/reliability/test_bad_inputs.py::", "reliability_workspace"),
  (
    "tests/reliability/test_corrupt_shards.py::test_training_with_skip_option",
    "reliability_workspace",
  ),
  ("tests/export/test_exporter.py::", "exporter"),  # `exported`: three exports.
  ("tests/inference/test_end_to_end.py::", "end_to_end"),  # `export_dir`: one export.
  ("tests/training/test_train_loop.py::", "train_loop"),  # `uninterrupted`: 12 steps.
  ("tests/data/test_synth_ava.py::", "synth_ava"),  # `tiny_datasets`: generated twice.
  ("tests/data/test_beam_conversion.py::", "beam_conversion"),  # `runs`: three conversions.
)


def group_of(nodeid):
  """The scheduling unit of a test: its group's name, or its own node id."""
  for prefix, group in _GROUPS:
    if nodeid.startswith(prefix):
      return group
  return nodeid


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
  """With the default `--dist=load` (what `-n 2` sets): load scheduling by `group_of`."""
  if config.getvalue("dist") != "load":
    return None
  from xdist.scheduler import LoadScopeScheduling  # pylint: disable=import-outside-toplevel

  class _GroupScheduling(LoadScopeScheduling):
    def _split_scope(self, nodeid):
      return group_of(nodeid)

  return _GroupScheduling(config, log)


def pytest_collection_modifyitems(config, items):
  del config
  slow_modules = {
    item.module.__name__
    for item in items
    if getattr(item, "module", None) and item.get_closest_marker("slow")
  }
  items.sort(
    key=lambda item: getattr(getattr(item, "module", None), "__name__", None) not in slow_modules
  )


@pytest.fixture(scope="session")
def run_cache_dir(tmp_path_factory):
  """Where tests.run_cache keeps what is built once per run (shared by the xdist workers)."""
  return run_cache.run_directory(tmp_path_factory) / "run_cache"
