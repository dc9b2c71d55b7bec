"""The converters' shared work function: records, encodes per frame, ranges, shard parts."""

import collections

import pytest

from ava_tx.core.tf_setup import tf
from ava_tx.data import ava_annotations
from ava_tx.data import ava_clips
from ava_tx.data import ava_conversion
from ava_tx.data import tfrecord_writer
from ava_tx.data import video_frames
from tests.data import video_fixtures

# 48 frames per keyframe at 30 fps, keyframes 1 s apart: neighbouring clips share 18 frames.
SETTINGS = ava_clips.ClipSettings(fps=30, clip_frames=48, segment_start=0)
TIMESTAMPS = (1, 2, 3, 4, 6)


@pytest.fixture(scope="module")
def task(tmp_path_factory):
  path = tmp_path_factory.mktemp("video") / "v.mp4"
  video_fixtures.write_video(path, video_fixtures.signature_frames(7 * 30, 24, 32))
  box = ava_annotations.BoxAnnotation(box=(0.1, 0.2, 0.5, 0.6), action_ids=(12,), person_id=0)
  requests = tuple(ava_clips.KeyframeRequest(t, (box,)) for t in TIMESTAMPS)
  return ava_conversion.VideoTask("v", ("video", str(path)), requests)


def _windows():
  """Frame ranges [first, last] of the keyframes (keyframe t is frame 30 t)."""
  return [(30 * t - 24, 30 * t + 23) for t in TIMESTAMPS]


def _reference_records(task):
  """The records as a converter without any frame cache would build them: for each keyframe,
  decode the video and encode the clip's frames afresh (the pre-Beam single-video path)."""
  encoder = SETTINGS.encoder()
  records = []
  for request, (first, last) in zip(task.requests, _windows()):
    frames = [
      encoder.encode_av_frame(f)
      for i, f in video_frames.iter_video_frames(task.source[1], fps=SETTINGS.fps)
      if first <= i <= last
    ]
    clip = ava_clips.KeyframeClip(
      "v", request, [f[0] for f in frames], first, 24, frames[24][1], frames[24][2]
    )
    records.append(
      ava_clips.clip_to_sequence_example(clip, SETTINGS).SerializeToString(deterministic=True)
    )
  return records


@pytest.fixture
def encode_counter(monkeypatch):
  counts = collections.Counter()
  original = video_frames.FrameEncoder.encode_av_frame

  def counted(self, frame):
    counts["encodes"] += 1
    return original(self, frame)

  monkeypatch.setattr(video_frames.FrameEncoder, "encode_av_frame", counted)
  return counts


def test_each_stored_frame_is_encoded_once_and_records_match_the_reference(task, encode_counter):
  reference = _reference_records(task)
  encode_counter.clear()
  records = []
  stats = ava_conversion.convert_keyframes(task, SETTINGS, records.append)
  assert records == reference
  distinct = set().union(*(range(a, b + 1) for a, b in _windows()))
  # 5 clips x 48 frames stored = 240, of which 48 + 3 * 30 + 48 = 186 distinct frames.
  assert stats["frames"] == 240 and len(distinct) == 186
  assert encode_counter["encodes"] == 186
  assert stats["keyframes"] == 5 and stats["boxes"] == 5 and stats["video_ids"] == ["v"]
  assert stats["labels_per_class"] == {12: 5} and not stats["skipped_keyframes"]


def test_ranges_give_the_same_records_and_encode_once_per_range(task, encode_counter):
  whole = []
  ava_conversion.convert_keyframes(task, SETTINGS, whole.append)
  ranges = ava_conversion.split_task(task, 2)
  assert [[r.timestamp for r in t.requests] for t in ranges] == [[1, 2], [3, 4], [6]]
  encode_counter.clear()
  parts, all_stats = [], []
  for part in ranges:
    all_stats.append(ava_conversion.convert_keyframes(part, SETTINGS, parts.append))
  assert parts == whole
  # Per range: 48 + 30 distinct frames (twice), then 48: the frames 66..71 that keyframes
  # 2 and 3 share are encoded by both ranges.
  assert encode_counter["encodes"] == 78 + 78 + 48
  merged = ava_conversion.merge_task_stats(all_stats, len(parts))
  assert merged["videos"] == 1 and merged["keyframes"] == 5 and merged["examples"] == 5
  assert merged["labels_per_class"] == {"12": 5}


def test_split_task_keeps_an_empty_task_and_rejects_zero(task):
  empty = ava_conversion.VideoTask("e", None, ())
  assert ava_conversion.split_task(empty, 3) == [empty]
  with pytest.raises(ValueError, match="keyframes_per_task must be >= 1"):
    ava_conversion.split_task(task, 0)


def test_failed_video_is_named_and_its_keyframes_skipped(tmp_path):
  (tmp_path / "broken.mp4").write_bytes(b"not a video" * 100)
  requests = (ava_clips.KeyframeRequest(1), ava_clips.KeyframeRequest(2))
  records = []
  stats = ava_conversion.convert_keyframes(
    ava_conversion.VideoTask("broken", ("video", str(tmp_path / "broken.mp4")), requests),
    SETTINGS,
    records.append,
  )
  assert not records and list(stats["videos_failed"]) == ["broken"]
  assert "broken.mp4" in stats["videos_failed"]["broken"]
  assert [s[:2] for s in stats["skipped_keyframes"]] == [["broken", 1], ["broken", 2]]
  merged = ava_conversion.merge_task_stats([stats], 0)
  assert merged["videos"] == 0 and merged["videos_failed"] == stats["videos_failed"]


def test_concatenated_parts_equal_one_writer(tmp_path):
  records = [b"a" * n for n in (0, 1, 5, 300)]
  with tf.io.TFRecordWriter(str(tmp_path / "one")) as writer:
    for record in records:
      writer.write(record)
  parts = []
  for i, chunk in enumerate((records[:1], records[1:3], [], records[3:])):
    parts.append(str(tmp_path / ("part%d" % i)))
    with tf.io.TFRecordWriter(parts[-1]) as writer:
      for record in chunk:
        writer.write(record)
  shard = str(tmp_path / "t-00000-of-00002")
  tfrecord_writer.write_shard_from_parts(shard, parts, {"examples": 4}, chunk_bytes=7)
  assert (tmp_path / "t-00000-of-00002").read_bytes() == (tmp_path / "one").read_bytes()
  assert tfrecord_writer.read_shard_stats(shard) == {"examples": 4}
  assert [r.numpy() for r in tf.data.TFRecordDataset(shard)] == records
  empty = str(tmp_path / "t-00001-of-00002")
  tfrecord_writer.write_shard_from_parts(empty, [], {"examples": 0})
  assert (tmp_path / "t-00001-of-00002").read_bytes() == b""
  assert not list(tmp_path.glob("*.tmp-*"))


def test_remote_paths_are_read_through_gfile_with_the_same_records(task):
  """Paths with a scheme (gs:// on Dataflow) are streamed to PyAV as tf.io.gfile file
  objects; file:// takes the same route here."""
  local, remote = [], []
  ava_conversion.convert_keyframes(task, SETTINGS, local.append)
  remote_task = ava_conversion.VideoTask("v", ("video", "file://" + task.source[1]), task.requests)
  stats = ava_conversion.convert_keyframes(remote_task, SETTINGS, remote.append)
  assert not stats["videos_failed"] and remote == local
