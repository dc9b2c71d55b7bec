"""Sharded TFRecord output with atomic shards, deterministic assignment and resume.

Layout for an output prefix P and N shards:
  P-00000-of-0000N ... P-(N-1)-of-0000N   the shards (file pattern `P-?????-of-?????`)
  <shard>.stats.json                      what went into the shard (written before the rename)
  P.settings.json                         conversion settings; a rerun must match them
A shard is written to `<shard>.tmp-<pid>-<random>` and renamed only when complete, so a visible
shard is always whole. A rerun skips shards that exist and deletes leftover temporaries, so an
interrupted run resumes without duplicates. All paths go through tf.io.gfile or `file_io`
(local or gs://; ram:// in the tests).
"""

import json
import os

from ava_tx.core import errors
from ava_tx.core import file_io
from ava_tx.core.tf_setup import tf

_TMP_MARK = file_io.TMP_MARK


def shard_path(output_prefix: str, shard_index: int, num_shards: int) -> str:
  """Returns `<prefix>-%05d-of-%05d`."""
  return "%s-%05d-of-%05d" % (output_prefix, shard_index, num_shards)


def shard_file_pattern(output_prefix: str) -> str:
  """Glob pattern matching exactly the shards of `output_prefix`."""
  return output_prefix + "-?????-of-?????"


def stats_path(shard: str) -> str:
  return shard + ".stats.json"


def settings_path(output_prefix: str) -> str:
  return output_prefix + ".settings.json"


def assign_shards(video_ids, num_shards: int) -> list:
  """Deterministic assignment: sorted video ids dealt round-robin to shards.

  Returns:
    list of num_shards lists of video ids (each sorted).
  """
  if num_shards < 1:
    raise errors.InputError("num_shards must be >= 1, got %d" % num_shards)
  shards = [[] for _ in range(num_shards)]
  for position, video_id in enumerate(sorted(set(video_ids))):
    shards[position % num_shards].append(video_id)
  return shards


def check_or_write_settings(output_prefix: str, settings: dict, *, overwrite: bool) -> None:
  """Writes the settings file, or checks that an existing one matches (resume safety).

  Raises:
    ValueError: if the output holds shards made with other settings and not `overwrite`.
  """
  path = settings_path(output_prefix)
  text = json.dumps(settings, indent=1, sort_keys=True)
  if tf.io.gfile.exists(path) and not overwrite:
    with tf.io.gfile.GFile(path, "r") as f:
      previous = json.load(f)
    if previous != json.loads(text):
      changed = sorted(
        k for k in set(previous) | set(settings) if previous.get(k) != settings.get(k)
      )
      raise errors.InputError(
        "%s was written with other settings (differences in: %s). Use another output "
        "prefix, or --overwrite to delete the old shards." % (path, ", ".join(changed))
      )
    return
  if overwrite:
    for old in tf.io.gfile.glob(shard_file_pattern(output_prefix) + "*"):
      tf.io.gfile.remove(old)
  file_io.makedirs(os.path.dirname(output_prefix))
  file_io.write_text(path, text)


def completed_shards(output_prefix: str, num_shards: int) -> set:
  """Indices of shards that are complete (present under their final name)."""
  present = set(tf.io.gfile.glob(shard_file_pattern(output_prefix)))
  return {i for i in range(num_shards) if shard_path(output_prefix, i, num_shards) in present}


def remove_stale_temporaries(output_prefix: str) -> list:
  """Deletes `<shard>.tmp-*` files left by an interrupted run; returns their paths."""
  stale = tf.io.gfile.glob(shard_file_pattern(output_prefix) + "*" + _TMP_MARK + "*")
  for path in stale:
    tf.io.gfile.remove(path)
  return sorted(stale)


def read_shard_stats(shard: str):
  """The stats dict stored next to a completed shard, or None."""
  path = stats_path(shard)
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path, "r") as f:
    return json.load(f)


class AtomicShardWriter:
  """Writes serialized records to a temporary file; `commit` makes the shard visible.

  Usage:
    with AtomicShardWriter(path) as writer:
      writer.write(record_bytes)
      ...
      writer.commit(stats)   # Without commit (e.g. on error) the temporary is deleted.
  """

  def __init__(self, path: str):
    self.path = path
    self.tmp_path = file_io.temporary_path(path)
    self.num_records = 0
    self._writer = None
    self._committed = False

  def __enter__(self):
    self._writer = tf.io.TFRecordWriter(self.tmp_path)
    return self

  def write(self, record: bytes) -> None:
    self._writer.write(record)
    self.num_records += 1

  def commit(self, stats: dict) -> None:
    """Closes the temporary, writes the stats file, then renames the shard into place."""
    self._writer.close()
    file_io.write_text(stats_path(self.path), json.dumps(stats, indent=1, sort_keys=True))
    tf.io.gfile.rename(self.tmp_path, self.path, overwrite=True)
    self._committed = True

  def __exit__(self, exc_type, exc, tb):
    if not self._committed:
      self._writer.close()
      if tf.io.gfile.exists(self.tmp_path):
        tf.io.gfile.remove(self.tmp_path)
    return False


def write_shard_from_parts(path: str, part_paths, stats: dict, chunk_bytes: int = 1 << 24) -> None:
  """Commits a shard that is the concatenation of TFRecord files `part_paths` (in order).

  A TFRecord file is a sequence of self-delimiting records, so concatenating files gives the
  same bytes as writing their records one after another with one writer. The shard appears
  atomically (temporary, stats file, rename), as with AtomicShardWriter.
  """
  tmp_path = file_io.temporary_path(path)
  try:
    with tf.io.gfile.GFile(tmp_path, "wb") as out:
      out.write(b"")  # Creates the file when there are no parts (an empty shard).
      for part in part_paths:
        with tf.io.gfile.GFile(part, "rb") as f:
          while True:
            chunk = f.read(chunk_bytes)
            if not chunk:
              break
            out.write(chunk)
    file_io.write_text(stats_path(path), json.dumps(stats, indent=1, sort_keys=True))
    tf.io.gfile.rename(tmp_path, path, overwrite=True)
  finally:
    if tf.io.gfile.exists(tmp_path):
      tf.io.gfile.remove(tmp_path)
