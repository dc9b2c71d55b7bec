"""Shared fixtures of the reliability tests: a tiny AVA-format workspace and bad input files."""

import os
from pathlib import Path
import shutil

from google.protobuf import text_format
import pytest

from ava_tx.builders import config_util
from ava_tx.data import ava_clips
from ava_tx.data import ava_conversion
from ava_tx.data.synthetic import writer

REPO = Path(__file__).resolve().parents[2]
NUM_TRAIN_SHARDS = 3


def tiny_config(data, shards, config_path):
  """The tiny real model of tests/test_model_main_tf2 on this workspace; writes config_path."""
  config = config_util.load_pipeline_config(str(REPO / "configs" / "tiny_synthetic_cpu.config"))
  model = config.model.action_transformer
  model.num_frames, model.image_height, model.image_width = 8, 64, 64
  model.trunk.depth_multiplier = 0.125
  model.rpn.num_proposals_train = model.rpn.num_proposals_test = 4
  model.rpn.pre_nms_top_k_train = model.rpn.pre_nms_top_k_test = 64
  config.train_config.batch_size = 2
  config.train_config.summary_every_n_steps = 1
  config.train_config.image_summary_every_n_steps = 0
  for reader in (config.train_input_reader, config.eval_input_reader):
    reader.label_map_path = str(data / "label_map.pbtxt")
    reader.shuffle_buffer_size = 4
  config.train_input_reader.input_path[:] = [str(shards / "train-?????-of-?????")]
  config.eval_input_reader.input_path[:] = [str(shards / "val-?????-of-?????")]
  config.eval_config.label_map_path = str(data / "label_map.pbtxt")
  config.eval_config.groundtruth_csv_path = str(data / "val.csv")
  config.eval_config.excluded_timestamps_path = str(data / "val_excluded_timestamps.csv")
  config_path.write_text(text_format.MessageToString(config))
  return config_path


@pytest.fixture(scope="session")
def tiny_workspace(tmp_path_factory):
  """Synthetic AVA data (3 videos x 5 s), 3 train shards and 1 val shard, and a tiny config."""
  root = tmp_path_factory.mktemp("tiny_workspace")
  data, shards = root / "data", root / "shards"
  writer.generate_dataset(
    writer.SynthConfig(num_videos=4, seconds=5, seed=3, width=64, height=48, val_fraction=0.25),
    str(data),
  )
  for split, num_shards in (("train", NUM_TRAIN_SHARDS), ("val", 1)):
    ava_conversion.convert(
      annotations_csv=str(data / f"{split}.csv"),
      video_dir=str(data / "videos"),
      output_prefix=str(shards / split),
      num_shards=num_shards,
      settings=ava_clips.ClipSettings(clip_frames=8),
      label_map=str(data / "label_map.pbtxt"),
      log=lambda *args, **kwargs: None,
    )
  return {
    "root": root,
    "data": data,
    "shards": shards,
    "config": tiny_config(data, shards, root / "pipeline.config"),
  }


def flip_bytes(path, offset, count=3):
  """Inverts `count` bytes of a file from `offset` (the tests' stand-in for bit rot)."""
  with open(path, "r+b") as f:
    f.seek(offset)
    data = f.read(count)
    f.seek(offset)
    f.write(bytes(b ^ 0xFF for b in data))


@pytest.fixture(scope="session")
def corrupt_workspace(tiny_workspace):
  """The tiny workspace's shards with 8 bytes flipped in the 2nd of 3 train shards, and a
  config reading them: {"shard": the damaged shard, "config": its pipeline.config}."""
  root = tiny_workspace["root"]
  corrupt = root / "corrupt_shards"
  shutil.copytree(tiny_workspace["shards"], corrupt)
  shard = corrupt / "train-00001-of-00003"
  flip_bytes(str(shard), 200, count=8)
  return {
    "shard": str(shard),
    "config": tiny_config(tiny_workspace["data"], corrupt, root / "corrupt.config"),
  }


@pytest.fixture(scope="session")
def bad_inputs(tmp_path_factory):
  """Paths of the bad inputs every command is given (see bad_input_cases.py)."""
  root = tmp_path_factory.mktemp("bad_inputs")
  (root / "empty.txt").write_bytes(b"")
  (root / "a_directory").mkdir()
  (root / "binary.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
  (root / "blocker").write_text("a regular file: nothing can be created below it\n")
  non_utf8_dir = os.fsdecode(bytes(root) + b"/caf\xe9")  # Latin-1 "café": not UTF-8.
  os.mkdir(non_utf8_dir)
  return {
    "root": root,
    "missing": str(root / "does_not_exist" / "x.csv"),
    "empty": str(root / "empty.txt"),
    "directory": str(root / "a_directory"),
    "binary": str(root / "binary.png"),
    "unwritable": str(root / "blocker" / "out"),
    "non_utf8_dir": non_utf8_dir,
  }
