"""The manifest handling both weight fetchers share (ava_tx.core.pretrained_fetch)."""

import os

from ava_tx.core import pretrained_fetch


def test_manifest_round_trip_and_unreadable_manifests_are_absent(tmp_path):
  assert pretrained_fetch.read_manifest(str(tmp_path)) is None  # No source.json.
  manifest = {"package": "x==1", "models": {"a": {"licence": "MIT"}}, "num_values": 3}
  pretrained_fetch.write_manifest(str(tmp_path), manifest)
  assert pretrained_fetch.read_manifest(str(tmp_path)) == manifest
  assert os.listdir(tmp_path) == ["source.json"]  # No temporary file left.
  path = tmp_path / "source.json"
  path.write_text('{"package": "x==1", "mod')  # A write cut short (before atomic writes).
  assert pretrained_fetch.read_manifest(str(tmp_path)) is None
  path.write_text("[1, 2]")  # JSON, but not an object.
  assert pretrained_fetch.read_manifest(str(tmp_path)) is None


def test_default_cache_dir_is_beside_the_output(tmp_path):
  output = tmp_path / "pretrained" / "person_detector"
  assert pretrained_fetch.default_cache_dir(str(output)) == str(
    tmp_path / "pretrained" / "downloads"
  )
