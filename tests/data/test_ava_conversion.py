"""Conversion round trips (videos -> shards -> frames and boxes), resume and bad inputs."""

import io
import os
from pathlib import Path
import signal
import subprocess
import sys
import time

import numpy as np
from PIL import Image
import pytest

from ava_tx.core import standard_fields
from ava_tx.core.tf_setup import tf
from ava_tx.data import ava_annotations
from ava_tx.data import ava_clips
from ava_tx.data import ava_conversion
from ava_tx.data import tfrecord_writer
from ava_tx.data import video_frames
from tests.data import video_fixtures

KEYS = standard_fields.SequenceExampleKeys
REPO = Path(__file__).resolve().parents[2]
GT = """\
lossless,0000,0.1,0.2,0.5,0.6,12,0
lossless,0000,0.1,0.2,0.5,0.6,17,0
lossless,0001,0.3,0.2,0.5,0.6,80,1
lossless,0001,0.0,0.0,1.0,1.0,14,2
h264,0002,0.25,0.125,0.75,0.875,12,0
folder,0001,0.1,0.2,0.5,0.6,14,0
missing,0001,0.1,0.2,0.5,0.6,14,0
"""


def _read_examples(pattern):
  examples = []
  for path in sorted(tf.io.gfile.glob(pattern)):
    for record in tf.data.TFRecordDataset(path):
      examples.append(tf.train.SequenceExample.FromString(record.numpy()))
  return examples


def _context(example, key, kind):
  return list(getattr(example.context.feature[key], kind).value)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
  root = tmp_path_factory.mktemp("ava")
  videos = root / "videos"
  videos.mkdir()
  lossless = video_fixtures.noise_frames(45)
  video_fixtures.write_video(videos / "lossless.avi", lossless, codec="png", pix_fmt="rgb24")
  video_fixtures.write_video(videos / "h264.mp4", video_fixtures.signature_frames(90))
  video_fixtures.write_frame_folder(videos / "folder", video_fixtures.signature_frames(40))
  (root / "gt.csv").write_text(GT)
  (root / "boxes.csv").write_text(
    "h264,0002,0.1,0.1,0.4,0.5,,0.9\nh264,0002,0.5,0.5,0.6,0.7,,0.3\n"
  )
  return {"root": root, "videos": videos, "lossless": lossless}


def _convert(inputs, prefix, *, image_format="JPEG", **kwargs):
  settings = ava_clips.ClipSettings(
    fps=30, clip_frames=8, segment_start=0, image_format=image_format
  )
  return ava_conversion.convert(
    annotations_csv=str(inputs["root"] / "gt.csv"),
    video_dir=str(inputs["videos"]),
    output_prefix=str(prefix),
    num_shards=3,
    settings=settings,
    person_boxes_csv=str(inputs["root"] / "boxes.csv"),
    log=lambda line: None,
    **kwargs,
  )


def test_png_round_trip_is_exact_and_boxes_match_csv(inputs, tmp_path):
  summary = _convert(inputs, tmp_path / "png", image_format="PNG")
  assert summary["videos_failed"] == {"missing": "video not found"}
  assert summary["skipped_keyframes"] == [["missing", 1, "video failed: video not found"]]
  assert summary["keyframes"] == 4 and summary["boxes"] == 5
  assert summary["labels_per_class"] == {12: 2, 14: 2, 17: 1, 80: 1}
  examples = {
    _context(e, KEYS.example_id, "bytes_list")[0].decode(): e
    for e in _read_examples(summary["file_pattern"])
  }
  assert sorted(examples) == ["folder,0001", "h264,0002", "lossless,0000", "lossless,0001"]
  # Keyframe 0 at 30 fps is frame 0: the clip [-4, 3] is cut to [0, 3] at the video start.
  first = examples["lossless,0000"]
  assert _context(first, KEYS.clip_keyframe_index, "int64_list") == [0]
  assert _context(first, KEYS.clip_num_frames, "int64_list") == [4]
  # Keyframe 1 s is frame 30: clip frames 26..33, keyframe at position 4.
  second = examples["lossless,0001"]
  assert _context(second, KEYS.clip_keyframe_index, "int64_list") == [4]
  images = second.feature_lists.feature_list[KEYS.image_encoded].feature
  assert len(images) == 8
  for position, feature in enumerate(images):
    decoded = np.asarray(Image.open(io.BytesIO(feature.bytes_list.value[0])))
    np.testing.assert_array_equal(decoded, inputs["lossless"][26 + position])
  timestamps = [
    f.int64_list.value[0] for f in second.feature_lists.feature_list[KEYS.image_timestamp].feature
  ]
  assert timestamps[4] == 1_000_000 and timestamps[0] == round(26 / 30 * 1e6)
  # Boxes: CSV x1,y1,x2,y2 -> [ymin, xmin, ymax, xmax]; labels merged per box.
  expected = ava_annotations.read_annotations(inputs["root"] / "gt.csv").annotations
  for key, example in examples.items():
    video_id, timestamp = key.split(",")
    boxes = expected[(video_id, int(timestamp))]
    stored = np.stack(
      [
        _context(example, k, "float_list")
        for k in (
          KEYS.region_bbox_ymin,
          KEYS.region_bbox_xmin,
          KEYS.region_bbox_ymax,
          KEYS.region_bbox_xmax,
        )
      ],
      axis=1,
    )
    np.testing.assert_allclose(stored, [b.box for b in boxes], atol=1e-7)
    assert _context(example, KEYS.region_label_index, "int64_list") == [
      i for b in boxes for i in b.action_ids
    ]
    assert _context(example, KEYS.region_label_count, "int64_list") == [
      len(b.action_ids) for b in boxes
    ]
    assert _context(example, KEYS.region_person_id, "int64_list") == [b.person_id for b in boxes]
  assert _context(second, KEYS.region_label_index, "int64_list") == [80, 14]
  # Proposals are attached to their keyframe only.
  np.testing.assert_allclose(
    _context(examples["h264,0002"], KEYS.proposal_score, "float_list"), [0.9, 0.3], rtol=1e-6
  )
  assert _context(examples["h264,0002"], KEYS.proposal_bbox_xmax, "float_list") == pytest.approx(
    [0.4, 0.6]
  )
  assert not _context(second, KEYS.proposal_score, "float_list")


def test_jpeg_frames_equal_the_converters_decode_path(inputs, tmp_path):
  summary = _convert(inputs, tmp_path / "jpeg")
  examples = {
    _context(e, KEYS.example_id, "bytes_list")[0].decode(): e
    for e in _read_examples(summary["file_pattern"])
  }
  # H.264 keyframe 2 s = frame 60: clip 56..63. The stored JPEGs are byte-identical to an
  # independent decode + encode of those frames, and each frame's grey level says its index.
  example = examples["h264,0002"]
  encoder = video_frames.FrameEncoder()
  reference = {
    i: encoder.encode_av_frame(f)[0]
    for i, f in video_frames.iter_video_frames(str(inputs["videos"] / "h264.mp4"), fps=30)
    if 56 <= i <= 63
  }
  stored = [
    f.bytes_list.value[0] for f in example.feature_lists.feature_list[KEYS.image_encoded].feature
  ]
  assert stored == [reference[i] for i in range(56, 64)]
  for position, data in enumerate(stored):
    mean = np.asarray(Image.open(io.BytesIO(data)))[20:].mean()
    assert abs(mean - video_fixtures.gray_level(56 + position)) < 3
  # Frame folders: JPEG files copied byte for byte (keyframe 1 s = file 31 = img_00031.jpg).
  folder = examples["folder,0001"]
  images = [
    f.bytes_list.value[0] for f in folder.feature_lists.feature_list[KEYS.image_encoded].feature
  ]
  assert images[4] == (inputs["videos"] / "folder" / "img_00031.jpg").read_bytes()
  assert _context(folder, KEYS.image_height, "int64_list") == [48]


def test_settings_change_is_refused(inputs, tmp_path):
  _convert(inputs, tmp_path / "out")
  with pytest.raises(ValueError, match="other settings.*settings"):
    _convert(inputs, tmp_path / "out", image_format="PNG")


def test_assign_shards_is_sorted_round_robin():
  assert tfrecord_writer.assign_shards(["c", "a", "d", "b", "e"], 2) == [
    ["a", "c", "e"],
    ["b", "d"],
  ]


def _run_main(args):
  """Runs the command line's main() in this process (saves a TensorFlow import)."""
  from data_tools import create_ava_tf_record as cli

  cli.define_flags()
  cli.FLAGS(["create_ava_tf_record"] + args)
  try:
    return cli.main([])
  finally:
    cli.FLAGS.unparse_flags()


def test_interrupted_run_resumes_to_identical_shards(tmp_path, capsys):
  videos = tmp_path / "videos"
  videos.mkdir()
  rows = []
  for v in range(8):
    video_fixtures.write_video(
      videos / ("v%d.mp4" % v), video_fixtures.noise_frames(120, 96, 128, seed=v)
    )
    rows += ["v%d,%04d,0.1,0.1,0.9,0.9,%d,0\n" % (v, t, 1 + t) for t in range(4)]
  rows.append("v_missing,0001,0.1,0.1,0.9,0.9,1,0\n")
  (tmp_path / "gt.csv").write_text("".join(rows))
  args = [
    "--annotations_csv=%s" % (tmp_path / "gt.csv"),
    "--video_dir=%s" % videos,
    "--segment_start=0",
    "--clip_frames=16",
    "--num_shards=8",
    "--image_format=PNG",
  ]
  # Reference: uninterrupted, in this process.
  settings = ava_clips.ClipSettings(fps=30, clip_frames=16, segment_start=0, image_format="PNG")
  reference = ava_conversion.convert(
    annotations_csv=str(tmp_path / "gt.csv"),
    video_dir=str(videos),
    output_prefix=str(tmp_path / "ref" / "t"),
    num_shards=8,
    settings=settings,
    log=lambda line: None,
  )
  assert reference["keyframes"] == 32
  # Interrupted: the command with two worker processes, SIGKILL to the whole process group as
  # soon as a shard is complete.
  prefix = tmp_path / "run" / "t"
  process = subprocess.Popen(
    [sys.executable, "-m", "data_tools.create_ava_tf_record"]
    + args
    + ["--output_prefix=%s" % prefix, "--num_workers=2"],
    cwd=REPO,
    start_new_session=True,
    stdout=subprocess.PIPE,
    stderr=subprocess.STDOUT,
  )
  deadline = time.time() + 300
  while not list(prefix.parent.glob("t-?????-of-00008")) and time.time() < deadline:
    assert process.poll() is None, process.stdout.read().decode()
    time.sleep(0.002)
  os.killpg(process.pid, signal.SIGKILL)
  process.wait()
  finished = sorted(p.name for p in prefix.parent.glob("t-?????-of-00008"))
  assert 1 <= len(finished) < 8, "the run was not interrupted mid-way: %s" % finished
  for name in finished:  # Visible shards are complete.
    assert (prefix.parent / name).read_bytes() == (tmp_path / "ref" / name).read_bytes()
  # Rerun resumes: same bytes as the uninterrupted run, no temporaries left; the missing
  # video is reported by name (exit status 2) while the rest converts.
  capsys.readouterr()
  assert _run_main(args + ["--output_prefix=%s" % prefix]) == 2
  out = capsys.readouterr().out
  assert "FAILED video v_missing: video not found" in out
  assert "keyframes: 32 (%d this run" % (32 - 4 * len(finished)) in out
  for v in range(8):
    name = "t-%05d-of-00008" % v
    assert (prefix.parent / name).read_bytes() == (tmp_path / "ref" / name).read_bytes(), name
  assert not list(prefix.parent.glob("*.tmp-*"))


def test_command_reports_bad_csv_row(inputs, tmp_path, capsys):
  (tmp_path / "bad.csv").write_text(GT + "h264,0003,0.1,0.2,1.5,0.6,12,0\n")
  status = _run_main(
    [
      "--video_dir=%s" % inputs["videos"],
      "--annotations_csv=%s" % (tmp_path / "bad.csv"),
      "--output_prefix=%s" % (tmp_path / "b" / "t"),
    ]
  )
  assert status == 1
  assert "bad.csv:8: box outside [0,1]: x2=1.5" in capsys.readouterr().err
  assert not (tmp_path / "b").exists()


def test_late_keyframe_is_cut_after_a_seek(tmp_path):
  # Keyframe 13 s: the clip starts at frame 386 > 10 s, so the decoder seeks (full-movie case).
  (tmp_path / "videos").mkdir()
  path = tmp_path / "videos" / "long.mp4"
  video_fixtures.write_video(path, video_fixtures.signature_frames(14 * 30, 24, 32))
  (tmp_path / "gt.csv").write_text("long,0013,0.1,0.2,0.5,0.6,12,0\n")
  summary = ava_conversion.convert(
    annotations_csv=str(tmp_path / "gt.csv"),
    video_dir=str(tmp_path / "videos"),
    output_prefix=str(tmp_path / "out" / "t"),
    num_shards=1,
    settings=ava_clips.ClipSettings(fps=30, clip_frames=8, segment_start=0),
    log=lambda line: None,
  )
  (example,) = _read_examples(summary["file_pattern"])
  encoder = video_frames.FrameEncoder()
  reference = [
    encoder.encode_av_frame(f)[0]
    for i, f in video_frames.iter_video_frames(str(path), fps=30)
    if 386 <= i <= 393
  ]
  stored = [
    f.bytes_list.value[0] for f in example.feature_lists.feature_list[KEYS.image_encoded].feature
  ]
  assert stored == reference
