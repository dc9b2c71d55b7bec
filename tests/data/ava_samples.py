"""The real AVA sample files (../shared/data/ava beside the repository) for the annotation
tests, which skip without them, and a helper writing small annotation files."""

from pathlib import Path

import pytest

AVA_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "ava"
needs_samples = pytest.mark.skipif(
  not AVA_DIR.is_dir(), reason="real AVA samples not found at %s" % AVA_DIR
)


def write_file(tmp_path, text, name):
  """Writes `text` to tmp_path/name and returns that path."""
  path = tmp_path / name
  path.write_text(text)
  return path
