"""benchmarks.data_benchmark's bounds: which frames the conversion bound decodes and encodes, and the
JPEG-decode bound's timing loop."""

import pytest

from ava_tx.core.tf_setup import tf
from benchmarks import data_benchmark


def test_bound_encodes_each_stored_frame_once(tmp_path):
  video, num_keyframes, _ = data_benchmark.prepare_source(tmp_path / "work", 5)
  timestamps = data_benchmark.keyframe_timestamps(5)
  assert list(timestamps) == [2, 3] and num_keyframes == 2
  seconds, encoded = data_benchmark.decode_encode_bound(video, "tiny", timestamps)
  # Keyframe frames 60 and 90 with 64-frame windows [k - 32, k + 31]: frames 28..121 once,
  # although the two clips store 128 frames between them.
  assert encoded == 121 - 28 + 1 and seconds > 0
  _, one = data_benchmark.decode_encode_bound(video, "tiny", [2])
  assert one == 64


def test_time_next_counts_the_calls_and_returns_the_last_element():
  timing, last = data_benchmark._time_next(iter(range(10, 20)), 3)
  assert (timing.items, last) == (3, 12)
  iterator = iter(range(5))
  assert data_benchmark._time_next(iterator, 0)[1] is None
  assert next(iterator) == 0  # nothing consumed


def test_decode_timing_cycles_the_images_and_checks_its_arguments():
  images = [tf.io.encode_jpeg(tf.zeros([8, 8, 3], tf.uint8)).numpy() for _ in range(2)]
  # 2 images, 10 timed decodes after 3 warm-up ones: without cycling, StopIteration.
  timing = data_benchmark.decode_timing(images, num_frames=10, warmup_frames=3)
  assert timing.items == 10 and timing.wall_seconds > 0
  assert data_benchmark.decode_timing(images, num_frames=4, warmup_frames=0).items == 4
  with pytest.raises(ValueError, match="0 images"):
    data_benchmark.decode_timing([], num_frames=10)
  with pytest.raises(ValueError, match="num_frames=0"):
    data_benchmark.decode_timing(images, num_frames=0)
