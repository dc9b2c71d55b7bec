"""The comparison's data: dataset paths from a directory layout, existing shards, clip length."""

import json

import pytest

from ava_tx.core import errors
from ava_tx.experiments import comparison_data


def _layout(tmp_path):
  for name in ("label_map.pbtxt", "train.csv", "val.csv", "val_predicted_boxes.csv"):
    (tmp_path / name).write_text("")
  return tmp_path


def test_paths_from_the_layout_and_explicit_overrides(tmp_path):
  data = _layout(tmp_path)
  other = tmp_path / "other.csv"
  other.write_text("")
  paths = comparison_data.dataset_paths(
    data_dir=str(data), tfrecord_dir="/shards", groundtruth={"val": str(other)}
  )
  assert paths.label_map == str(data / "label_map.pbtxt")
  assert paths.groundtruth == {"train": str(data / "train.csv"), "val": str(other)}
  assert paths.person_boxes == {"train": None, "val": str(data / "val_predicted_boxes.csv")}
  assert paths.excluded == {"train": None, "val": None}  # Absent files are None.
  assert paths.shard_pattern("val") == "/shards/val-?????-of-?????"


def test_missing_label_map_names_the_flag(tmp_path):
  with pytest.raises(errors.InputError, match="--label_map_path: .*label_map.pbtxt does not exist"):
    comparison_data.dataset_paths(data_dir=str(tmp_path), tfrecord_dir=str(tmp_path))


def test_complete_shards_only(tmp_path):
  prefix = tmp_path / "train"
  assert comparison_data.complete_shards(str(prefix)) == []
  for i in (0, 2):
    (tmp_path / f"train-0000{i}-of-00003").write_text("")
  assert comparison_data.complete_shards(str(prefix)) == []  # Shard 1 is missing.
  (tmp_path / "train-00001-of-00003").write_text("")
  assert len(comparison_data.complete_shards(str(prefix))) == 3


def test_shards_with_too_short_clips_are_refused(tmp_path):
  prefix = tmp_path / "train"
  (tmp_path / "train.settings.json").write_text(json.dumps({"settings": {"clip_frames": 32}}))
  comparison_data.check_clip_frames(str(prefix), 32)
  with pytest.raises(
    errors.InputError, match="store 32 frames per clip, the base config samples 64"
  ):
    comparison_data.check_clip_frames(str(prefix), 64)
