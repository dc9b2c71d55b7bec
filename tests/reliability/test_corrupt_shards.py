"""Corrupt and truncated TFRecord shards: named in a one-line error, or skipped and counted."""

import json

import pytest

from ava_tx.core.tf_setup import tf
from ava_tx.data import record_reader
from ava_tx.data import tfrecord_writer
from tests.reliability.conftest import flip_bytes
from tests.training import summary_events

RECORDS_PER_SHARD, RECORD_BYTES = 5, 40
RECORD_SPAN = RECORD_BYTES + record_reader.RECORD_FRAMING_BYTES


def _write_shards(directory, num_shards=3, with_stats=True):
  paths = []
  for s in range(num_shards):
    path = str(directory / tfrecord_writer.shard_path("train", s, num_shards))
    with tf.io.TFRecordWriter(path) as writer:
      for r in range(RECORDS_PER_SHARD):
        writer.write(bytes([s * 16 + r]) * RECORD_BYTES)
    if with_stats:
      (directory / (tfrecord_writer.shard_path("train", s, num_shards) + ".stats.json")).write_text(
        json.dumps({"keyframes": RECORDS_PER_SHARD})
      )
    paths.append(path)
  return paths


def _read_all(paths, skip):
  sizes, counts = record_reader.shard_metadata(paths)
  files = tf.data.Dataset.from_tensor_slices((paths, sizes, counts))
  dataset = record_reader.read_shards(
    files, cycle_length=3, num_parallel_calls=1, skip_corrupt=skip
  )
  return [r.numpy()[0] for r in dataset.with_options(record_reader.external_state_options())]


@pytest.mark.parametrize("skip", [False, True])
def test_clean_shards_read_every_record_in_interleaved_order(tmp_path, skip):
  paths = _write_shards(tmp_path)
  assert _read_all(paths, skip=skip) == [
    s * 16 + r for r in range(RECORDS_PER_SHARD) for s in range(3)
  ]
  assert record_reader.locate_corrupt_shard(paths) is None


@pytest.mark.parametrize("damage", ["data", "length", "truncate"])
def test_corrupt_shard_is_named_with_offset_in_one_line(tmp_path, damage):
  paths = _write_shards(tmp_path)
  bad_offset = 2 * RECORD_SPAN  # Records 0 and 1 of shard 1 stay readable.
  if damage == "data":
    flip_bytes(paths[1], bad_offset + 12 + 10)
  elif damage == "length":
    flip_bytes(paths[1], bad_offset + 1, count=1)
  else:
    with open(paths[1], "r+b") as f:
      f.truncate(bad_offset + 20)
  with pytest.raises(tf.errors.DataLossError, match=r"(corrupted|truncated) record at \d+"):
    _read_all(paths, skip=False)  # The plain reader: fast, but names no file.
  message = record_reader.locate_corrupt_shard(paths)
  size = tf.io.gfile.stat(paths[1]).length
  assert message == (
    f"CorruptShardError: {paths[1]} is corrupt or truncated: TensorFlow cannot read the "
    f"record at byte offset {bad_offset} of {size} (after 2 records). Re-create the shard, "
    "or set skip_corrupt_records: true in the input reader to skip the rest of it."
  )
  assert "\n" not in message


def test_skip_option_reads_the_rest_and_counts_what_was_lost(tmp_path, capfd):
  paths = _write_shards(tmp_path)
  flip_bytes(paths[1], 2 * RECORD_SPAN + 12 + 10)
  before = record_reader.SKIPPED.as_dict()
  got = _read_all(paths, skip=True)
  assert sorted(got) == sorted(
    [s * 16 + r for s in (0, 2) for r in range(RECORDS_PER_SHARD)] + [16, 17]
  )
  after = record_reader.SKIPPED.as_dict()
  assert after["corrupt_shards"] - before["corrupt_shards"] == 1
  assert after["skipped_records"] - before["skipped_records"] == 3
  assert after["skipped_bytes"] - before["skipped_bytes"] == 3 * RECORD_SPAN
  err = capfd.readouterr().err
  assert (
    "WARNING: skipping corrupt TFRecord shard %s from byte offset %d" % (paths[1], 2 * RECORD_SPAN)
    in err
  )
  assert "records lost: 3" in err


def test_without_stats_files_the_lost_record_count_is_unknown(tmp_path, capfd):
  paths = _write_shards(tmp_path, with_stats=False)
  with open(paths[2], "r+b") as f:
    f.truncate(RECORD_SPAN + 5)
  before = record_reader.SKIPPED.as_dict()
  assert len(_read_all(paths, skip=True)) == 2 * RECORDS_PER_SHARD + 1
  after = record_reader.SKIPPED.as_dict()
  assert after["skipped_records"] == before["skipped_records"]
  assert after["skipped_bytes"] - before["skipped_bytes"] == 5
  assert "records lost: unknown" in capfd.readouterr().err


@pytest.mark.slow
def test_training_with_skip_option_runs_and_reports_the_skipped_records(
  corrupt_workspace, tmp_path, capfd, caplog
):
  from ava_tx import model_lib  # pylint: disable=import-outside-toplevel
  from ava_tx.builders import config_util  # pylint: disable=import-outside-toplevel

  config = config_util.load_pipeline_config(str(corrupt_workspace["config"]))
  config.train_input_reader.skip_corrupt_records = True
  config_path = tmp_path / "skip.config"
  config_path.write_text(config_util.text_format.MessageToString(config))
  before = record_reader.SKIPPED.as_dict()
  with caplog.at_level("WARNING"):
    result = model_lib.train(
      pipeline_config_path=str(config_path), model_dir=str(tmp_path / "model"), num_train_steps=2
    )
  assert result.global_step == 2
  skipped = record_reader.SKIPPED.as_dict()
  lost = skipped["skipped_records"] - before["skipped_records"]
  # The damaged bytes are inside the shard's first record: each pass loses the shard's 2.
  assert skipped["corrupt_shards"] > before["corrupt_shards"] and lost >= 2 and lost % 2 == 0
  assert (
    "WARNING: skipping corrupt TFRecord shard %s from byte offset 0" % corrupt_workspace["shard"]
  ) in capfd.readouterr().err
  assert any(
    "records" in r.getMessage() and "skip_corrupt_records" in r.getMessage() for r in caplog.records
  )
  summaries = summary_events.read_summaries(str(tmp_path / "model"))
  written = max(summary_events.scalar(v) for v in summaries["data/skipped_records"].values())
  assert written >= before["skipped_records"] + 2
  assert "data/corrupt_shards" in summaries and "data/skipped_bytes" in summaries
