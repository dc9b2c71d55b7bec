"""The data of a comparison: an AVA-format dataset's files, and its TFRecord shards.

Any AVA-format dataset works: a directory in the layout `data_tools.synth_ava` writes
(`videos/`, `train.csv`, `val.csv`, `label_map.pbtxt`, `{train,val}_predicted_boxes.csv`,
`{train,val}_excluded_timestamps.csv`), or explicit paths. Shards already converted (e.g. by
`data_tools.create_ava_tf_record`) are used as they are; otherwise the videos are converted
in-process with `ava_conversion.convert` (which resumes an interrupted conversion).
"""

import dataclasses
import json
import os
import re
from typing import Optional

from ava_tx.core import errors
from ava_tx.core.tf_setup import tf
from ava_tx.data import ava_clips
from ava_tx.data import ava_conversion
from ava_tx.data import tfrecord_writer

SPLITS = ("train", "val")
_SHARD_COUNT = re.compile(r"-of-(\d{5})$")


@dataclasses.dataclass(frozen=True)
class DatasetPaths:
  """Files of one AVA-format dataset (None: absent).

  Attributes:
    label_map: label map (pbtxt or CSV); its classes are the model's.
    groundtruth: {split: ground-truth CSV}.
    person_boxes: {split: person-detector CSV or None} (proposals of the detector mode).
    excluded: {split: excluded-timestamps CSV or None}.
    video_dir: videos (only needed when shards must be converted).
    tfrecord_dir: where the `<split>-?????-of-?????` shards are, or are written.
  """

  label_map: str
  groundtruth: dict
  person_boxes: dict
  excluded: dict
  video_dir: Optional[str]
  tfrecord_dir: str

  def shard_prefix(self, split: str) -> str:
    return os.path.join(self.tfrecord_dir, split)

  def shard_pattern(self, split: str) -> str:
    return tfrecord_writer.shard_file_pattern(self.shard_prefix(split))


def _optional(path):
  return path if path and tf.io.gfile.exists(path) else None


def dataset_paths(
  *,
  data_dir=None,
  tfrecord_dir,
  label_map=None,
  groundtruth=None,
  person_boxes=None,
  excluded=None,
  video_dir=None,
) -> DatasetPaths:
  """Paths from `data_dir`'s layout, each overridden by an explicit one.

  Args:
    data_dir: a directory in the synth_ava layout, or None.
    tfrecord_dir: the shards' directory.
    label_map, video_dir: explicit paths (None: from data_dir).
    groundtruth, person_boxes, excluded: {split: path} explicit paths (missing splits: from
      data_dir).
  """

  def pick(explicit, name):
    if explicit:
      return explicit
    return os.path.join(data_dir, name) if data_dir else None

  paths = DatasetPaths(
    label_map=pick(label_map, "label_map.pbtxt"),
    groundtruth={s: pick((groundtruth or {}).get(s), f"{s}.csv") for s in SPLITS},
    person_boxes={
      s: _optional(pick((person_boxes or {}).get(s), f"{s}_predicted_boxes.csv")) for s in SPLITS
    },
    excluded={
      s: _optional(pick((excluded or {}).get(s), f"{s}_excluded_timestamps.csv")) for s in SPLITS
    },
    video_dir=pick(video_dir, "videos"),
    tfrecord_dir=tfrecord_dir,
  )
  for field, path in (
    ("--label_map_path", paths.label_map),
    ("--val_csv", paths.groundtruth["val"]),
  ):
    if not path or not tf.io.gfile.exists(path):
      raise errors.InputError(f"{field}: {path or 'not given (nor --data_dir)'} does not exist")
  return paths


def complete_shards(prefix: str) -> list:
  """The shards `<prefix>-?????-of-NNNNN` if all N are present, else [] (none or a part)."""
  files = sorted(tf.io.gfile.glob(tfrecord_writer.shard_file_pattern(prefix)))
  counts = {int(_SHARD_COUNT.search(f).group(1)) for f in files}
  if len(counts) != 1 or len(files) != counts.pop():
    return []
  return files


def check_clip_frames(prefix: str, needed: int) -> None:
  """InputError if the shards' settings say they store fewer than `needed` frames per clip."""
  path = tfrecord_writer.settings_path(prefix)
  if not tf.io.gfile.exists(path):
    return  # Shards written without a settings file: nothing to check against.
  with tf.io.gfile.GFile(path) as f:
    stored = json.load(f).get("settings", {}).get("clip_frames")
  if stored is not None and stored < needed:
    raise errors.InputError(
      f"{path}: the shards store {stored} frames per clip, the base config samples {needed} "
      "(num_frames x frame_stride): convert again with more --clip_frames"
    )


def ensure_shards(
  paths: DatasetPaths,
  *,
  clip_frames: int,
  segment_start: float,
  num_shards: int = 4,
  num_workers: int = 1,
  log=print,
) -> None:
  """Converts the splits whose shards are not complete in `paths.tfrecord_dir`."""
  for split in SPLITS:
    prefix = paths.shard_prefix(split)
    if complete_shards(prefix):
      check_clip_frames(prefix, clip_frames)
      log(f"using the existing {split} shards {paths.shard_pattern(split)}")
      continue
    if not paths.groundtruth[split] or not tf.io.gfile.exists(paths.groundtruth[split]):
      raise errors.InputError(
        f"--{split}_csv: {paths.groundtruth[split]} does not exist (and "
        f"there are no {split} shards in {paths.tfrecord_dir})"
      )
    if not paths.video_dir or not tf.io.gfile.isdir(paths.video_dir):
      raise errors.InputError(
        f"--video_dir: {paths.video_dir} is not a directory (needed to "
        f"convert {split}; or point --tfrecord_dir at converted shards)"
      )
    log(f"converting {split} to {paths.shard_pattern(split)}")
    summary = ava_conversion.convert(
      annotations_csv=paths.groundtruth[split],
      video_dir=paths.video_dir,
      output_prefix=prefix,
      num_shards=num_shards,
      settings=ava_clips.ClipSettings(clip_frames=clip_frames, segment_start=segment_start),
      num_workers=num_workers,
      label_map=paths.label_map,
      person_boxes_csv=paths.person_boxes[split],
      log=log,
    )
    if summary["videos_failed"]:
      raise errors.InputError(f"converting {split}: {ava_conversion.format_summary(summary)}")
