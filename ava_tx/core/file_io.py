"""Atomic file writes for local and remote paths (gs://, ram://, ...): one module, every writer.

Every output file is written under a temporary name in the same directory
(`<path>.tmp-<pid>-<random>`) and renamed to `path` only once it is complete, so a reader (or a
rerun after a kill) sees either the old file or the whole new one, never a partial file; on an
error the temporary is deleted and the old file is untouched.

Paths containing "://" go through `tf.io.gfile` (TensorFlow is imported only then, so the
pure-Python commands stay fast); local paths use the `os` module with the same semantics. On
gs:// a rename is a server-side copy and delete; GCS objects only appear once their upload
completes, so remote readers never see a partial object either.

Usage:
  file_io.write_text(path, text); file_io.write_bytes(path, data); file_io.write_json(path, obj)
  with file_io.atomic_write(path) as f:  # text mode ("wb" for bytes)
    f.write(...)
  file_io.copy_into_place(local_file, path)  # e.g. a video PyAV encoded locally
"""

import contextlib
import json
import os
import secrets
import shutil

TMP_MARK = ".tmp-"
"""Temporary files are `<final name>.tmp-<pid>-<random hex>`."""


def is_remote(path) -> bool:
  """True for paths with a file-system scheme (gs://, ram://, s3://, ...)."""
  return "://" in os.fspath(path) if not isinstance(path, bytes) else b"://" in path


def _gfile():
  from ava_tx.core.tf_setup import tf  # pylint: disable=import-outside-toplevel

  return tf.io.gfile


def join(*parts) -> str:
  """os.path.join, also right for remote paths (they use "/" too)."""
  return os.path.join(*parts)


def exists(path) -> bool:
  return _gfile().exists(path) if is_remote(path) else os.path.exists(path)


def isdir(path) -> bool:
  return _gfile().isdir(path) if is_remote(path) else os.path.isdir(path)


def makedirs(path) -> None:
  """Creates `path` and its parents if missing (no-op for "" and existing directories)."""
  if not path:
    return
  if is_remote(path):
    _gfile().makedirs(path)
  else:
    os.makedirs(path, exist_ok=True)


def remove(path) -> None:
  if is_remote(path):
    _gfile().remove(path)
  else:
    os.remove(path)


def rename(source, destination) -> None:
  """Renames `source` to `destination`, replacing it (atomic on local file systems)."""
  if is_remote(destination):
    _gfile().rename(source, destination, overwrite=True)
  else:
    os.replace(source, destination)


def temporary_path(path) -> str:
  """A fresh temporary name next to `path` (same directory, so the rename stays atomic)."""
  return "%s%s%d-%s" % (os.fspath(path), TMP_MARK, os.getpid(), secrets.token_hex(4))


def _open(path, mode):
  if is_remote(path):
    return _gfile().GFile(path, mode)
  if "b" in mode:
    return open(path, mode)  # pylint: disable=unspecified-encoding
  return open(path, mode, encoding="utf-8", newline="")


@contextlib.contextmanager
def atomic_write(path, mode: str = "w"):
  """Yields a file open for writing (text "w", UTF-8, or bytes "wb") under a temporary name;
  renames it to `path` when the block ends without an exception, else deletes it.

  The parent directory must exist (see `makedirs`).
  """
  if mode not in ("w", "wb"):
    raise ValueError("atomic_write: mode must be 'w' or 'wb', got %r" % mode)
  tmp = temporary_path(path)
  try:
    with _open(tmp, mode) as f:
      yield f
    rename(tmp, path)
  except BaseException:
    with contextlib.suppress(Exception):
      if exists(tmp):
        remove(tmp)
    raise


def write_text(path, text: str) -> str:
  """Writes UTF-8 `text` to `path` atomically; returns `path`."""
  with atomic_write(path, "w") as f:
    f.write(text)
  return path


def write_bytes(path, data: bytes) -> str:
  """Writes `data` to `path` atomically; returns `path`."""
  with atomic_write(path, "wb") as f:
    f.write(data)
  return path


def write_json(path, data, *, indent=2, sort_keys=True) -> str:
  """Writes `data` as JSON (plus a final newline) atomically; returns `path`."""
  return write_text(path, json.dumps(data, indent=indent, sort_keys=sort_keys) + "\n")


def read_text(path) -> str:
  """The UTF-8 text of a local or remote file."""
  if is_remote(path):
    with _gfile().GFile(path, "r") as f:
      return f.read()
  with open(path, "r", encoding="utf-8", newline="") as f:
    return f.read()


def copy_into_place(local_source, path) -> str:
  """Copies a complete local file to `path` (local or remote) atomically; returns `path`."""
  with open(local_source, "rb") as source, atomic_write(path, "wb") as destination:
    shutil.copyfileobj(source, destination, length=1 << 22)
  return path


def size(path) -> int:
  """Size of a file in bytes."""
  return _gfile().stat(path).length if is_remote(path) else os.path.getsize(path)
