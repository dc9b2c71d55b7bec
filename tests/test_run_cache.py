"""tests/run_cache.py (built once per run, reused, a failed build retried) and the xdist
scheduling groups of tests/conftest.py."""

import pytest

from tests import run_cache


def test_built_once_then_reused_and_copied(tmp_path):
  calls = []

  def build(path):
    calls.append(path)
    path.mkdir()
    (path / "a.txt").write_text("made")

  first = run_cache.built_once(tmp_path / "cache", "thing", build)
  second = run_cache.built_once(tmp_path / "cache", "thing", build)
  assert first == second == tmp_path / "cache" / "thing" and len(calls) == 1
  copy = run_cache.copy_of(tmp_path / "cache", "thing", build, tmp_path / "mine")
  assert len(calls) == 1
  assert sorted(p.name for p in copy.iterdir()) == ["a.txt"]
  assert (copy / "a.txt").read_text() == "made"


def test_a_failed_build_is_not_reused(tmp_path):
  def broken(path):
    path.mkdir()
    (path / "half.txt").write_text("partial")
    raise RuntimeError("disk full")

  with pytest.raises(RuntimeError, match="disk full"):
    run_cache.built_once(tmp_path, "thing", broken)
  made = run_cache.built_once(tmp_path, "thing", lambda path: path.mkdir())
  assert list(made.iterdir()) == [made / ".complete"]


def test_scheduling_groups_of_the_shared_fixtures():
  from tests import conftest  # pylint: disable=import-outside-toplevel

  assert conftest.group_of("tests/export/test_exporter.py::test_x[video_tensor]") == "exporter"
  assert (
    conftest.group_of(
      "tests/reliability/test_corrupt_shards.py::test_training_with_skip_option_runs_and_"
      "reports_the_skipped_records"
    )
    == conftest.group_of("tests/reliability/test_bad_inputs.py::test_ava_eval[x]")
    == "reliability_workspace"
  )
  other = "tests/reliability/test_corrupt_shards.py::test_clean_shards_read[True]"
  assert conftest.group_of(other) == other
