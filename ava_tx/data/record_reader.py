"""Reads TFRecord shards so that a corrupt or truncated shard is named, or skipped and counted.

TensorFlow's TFRecord reader stops at the first record whose length or CRC is wrong
(DataLossError "corrupted record at 12") without naming the file, and cannot resynchronise
after it. A shard read to its end has been read to its last byte, each record taking its length
+ 16 bytes of framing; otherwise its bad record starts at the offset reached (TensorFlow reports
that offset, or 12 bytes later for a bad data CRC).

  * Default: shards are read with the plain reader (full speed). When it fails, the caller
    (model_lib) calls `locate_corrupt_shard`, which reads each shard once to find the bad one
    and returns the one-line message naming it and the offset.
  * `skip_corrupt=True` (input_reader `skip_corrupt_records`): each shard is read on its own
    inside the interleave, followed by an end marker, with a scan adding up the bytes read
    (about 4x slower at reading raw records, measured on 20 kB records; decoding the frames
    costs far more). At a shard's end marker, a shard not read to its last byte is reported
    (a warning naming it) and the rest of it is skipped; `SKIPPED` counts the shards, the
    records lost (known when the converter's `<shard>.stats.json` gives the shard's record
    count) and the bytes lost, for the training summaries.

Uncompressed TFRecords only (what the converter writes).
"""

import sys

from ava_tx.core import errors
from ava_tx.core.tf_setup import tf
from ava_tx.data import tfrecord_writer

RECORD_FRAMING_BYTES = 16  # uint64 length, uint32 CRC of the length, data, uint32 CRC of data.
GROUP_SIZE = 8  # Records per bookkeeping step (each shard being read buffers up to this many).


class SkippedRecords:
  """Process-wide counts of what `skip_corrupt` dropped (cumulative over epochs and readers).

  Counted when the reader reaches a corrupt shard, which may be a little ahead of the batches
  the training loop has consumed (prefetching).
  """

  def __init__(self):
    self._variables = None

  def _create(self):
    if self._variables is None:
      with tf.init_scope():
        self._variables = {
          name: tf.Variable(0, dtype=tf.int64, trainable=False, name="skipped_" + name)
          for name in ("shards", "records", "bytes")
        }
    return self._variables

  def add(self, *, records, num_bytes):
    """Graph-mode update for one corrupt shard (`records` < 0 when unknown)."""
    variables = self._create()
    return tf.group(
      variables["shards"].assign_add(1),
      variables["records"].assign_add(tf.maximum(records, 0)),
      variables["bytes"].assign_add(num_bytes),
    )

  def as_dict(self) -> dict:
    """{"corrupt_shards": n, "skipped_records": n, "skipped_bytes": n} as Python ints."""
    if self._variables is None:
      return {"corrupt_shards": 0, "skipped_records": 0, "skipped_bytes": 0}
    return {
      "corrupt_shards": int(self._variables["shards"].numpy()),
      "skipped_records": int(self._variables["records"].numpy()),
      "skipped_bytes": int(self._variables["bytes"].numpy()),
    }


SKIPPED = SkippedRecords()


def shard_metadata(files):
  """(sizes in bytes, record counts from the converter's stats files or -1) of `files`."""
  sizes, counts = [], []
  for path in files:
    sizes.append(tf.io.gfile.stat(path).length)
    stats = tfrecord_writer.read_shard_stats(path)
    counts.append(int(stats["keyframes"]) if stats and "keyframes" in stats else -1)
  return sizes, counts


def _scan_offsets(groups):
  """(records [n], is_end) -> (records, is_end, offset after them, records up to them)."""

  def step(state, item):
    offset, count = state
    records, is_end = item
    lengths = tf.cast(tf.strings.length(records), tf.int64) + RECORD_FRAMING_BYTES
    new_state = (offset + tf.reduce_sum(lengths), count + tf.size(records, tf.int64))
    return new_state, (records, is_end) + new_state

  return groups.scan((tf.constant(0, tf.int64), tf.constant(0, tf.int64)), step)


def _on_corrupt(path, offset, size, records_read, expected_records):
  """The side effect at the end marker of a shard that was not read to its end."""
  lost = tf.where(expected_records >= 0, expected_records - records_read, -1)
  text = tf.strings.join(
    [
      "WARNING: skipping corrupt TFRecord shard ",
      path,
      " from byte offset ",
      tf.strings.as_string(offset),
      " of ",
      tf.strings.as_string(size),
      " (records read: ",
      tf.strings.as_string(records_read),
      ", records lost: ",
      tf.where(lost >= 0, tf.strings.as_string(lost), "unknown"),
      ")",
    ]
  )
  printed = tf.print(text, output_stream=sys.stderr)  # One string tensor prints unquoted.
  with tf.control_dependencies([printed]):
    return SKIPPED.add(records=lost, num_bytes=size - offset)


def read_shard(path, size, expected_records):
  """Dataset of one shard's serialized records (string []), skipping (and counting) the rest of
  the shard from a corrupt record on; see the module doc.

  Args:
    path: string [] shard path.
    size: int64 [] its size in bytes.
    expected_records: int64 [] its record count, or -1 if unknown.
  """
  size, expected_records = tf.cast(size, tf.int64), tf.cast(expected_records, tf.int64)
  records = tf.data.TFRecordDataset(path).ignore_errors()  # Ends at the first bad record.
  # Records go through the bookkeeping in small groups (far fewer per-element ops); the
  # output order is unchanged.
  groups = (
    records.batch(GROUP_SIZE)
    .map(lambda r: (r, tf.constant(False)))
    .concatenate(tf.data.Dataset.from_tensors((tf.zeros([0], tf.string), tf.constant(True))))
  )

  def keep(unused_records, is_end, offset, count):
    corrupt = tf.logical_and(is_end, tf.not_equal(offset, size))
    effect = tf.cond(
      corrupt, lambda: tf.group(_on_corrupt(path, offset, size, count, expected_records)), tf.no_op
    )
    with tf.control_dependencies([effect]):
      return tf.logical_not(is_end)

  return _scan_offsets(groups).filter(keep).map(lambda records, *unused: records).unbatch()


def corrupt_shard_message(path, offset, size, records_read) -> str:
  """The one-line error for a shard that cannot be read past `offset` (see the module doc)."""
  return (
    f"{errors.CORRUPT_SHARD_MARK} {path} is corrupt or truncated: TensorFlow cannot read "
    f"the record at byte offset {offset} of {size} (after {records_read} records). "
    "Re-create the shard, or set skip_corrupt_records: true in the input reader to skip "
    "the rest of it."
  )


def locate_corrupt_shard(files):
  """The `corrupt_shard_message` of the first of `files` that cannot be read to its end, or None.

  Reads every file once (at TensorFlow's plain reading speed). The default input pipeline reads
  shards with the plain TFRecord reader, which is several times faster than the checked one;
  when it fails with "corrupted record at N", this finds which shard it was.
  """
  for path in files:
    size = tf.io.gfile.stat(path).length
    lengths = (
      tf.data.TFRecordDataset(path)
      .ignore_errors()
      .map(lambda r: tf.cast(tf.strings.length(r), tf.int64) + RECORD_FRAMING_BYTES)
      .batch(4096)
    )
    offset = count = 0
    for batch in lengths:
      offset += int(tf.reduce_sum(batch))
      count += int(tf.size(batch))
    if offset != size:
      return corrupt_shard_message(path, offset, size, count)
  return None


def read_shards(files, *, cycle_length, num_parallel_calls, skip_corrupt=False, deterministic=True):
  """Interleaves the records of a dataset of shard paths; see the module doc.

  Args:
    files: tf.data.Dataset of (path string [], size int64 [], expected_records int64 []), e.g.
      from `shard_metadata`.
    cycle_length, num_parallel_calls: as in `tf.data.Dataset.interleave`.
    skip_corrupt: skip (and count in `SKIPPED`) the rest of a corrupt shard; else the plain
      reader, which fails with DataLossError (`locate_corrupt_shard` then names the shard).
  """
  if not skip_corrupt:  # The plain reader: fast; `locate_corrupt_shard` names a bad shard.
    return files.map(lambda path, size, count: path).interleave(
      tf.data.TFRecordDataset,
      cycle_length=cycle_length,
      num_parallel_calls=num_parallel_calls,
      deterministic=deterministic,
    )
  return files.interleave(
    read_shard,
    cycle_length=cycle_length,
    num_parallel_calls=num_parallel_calls,
    deterministic=deterministic,
  )


def external_state_options():
  """tf.data options under which the counters and the warning do not stop the training loop
  from checkpointing the iterator (the counters are not part of the iterator's state)."""
  options = tf.data.Options()
  options.experimental_external_state_policy = tf.data.experimental.ExternalStatePolicy.IGNORE
  return options
