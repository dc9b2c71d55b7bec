"""benchmarks.data_benchmark's bounds: which frames the conversion bound decodes and encodes, and the
JPEG-decode bound's timing loop."""

import numpy as np
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


def test_raw_decode_rate_cycles_the_images_and_checks_its_arguments():
  images = [tf.io.encode_jpeg(tf.zeros([8, 8, 3], tf.uint8)).numpy() for _ in range(2)]
  # 2 images, 10 timed decodes after 3 warm-up ones: the images are cycled on one iterator.
  timing = data_benchmark.decode_timing(images, num_frames=10, warmup_frames=3)
  assert timing.items == 10 and timing.wall_seconds > 0 and timing.cpu_seconds >= 0
  assert timing.rate == 10 / timing.wall_seconds
  assert timing.cpu_seconds_per_item == timing.cpu_seconds / 10
  assert np.isfinite(data_benchmark.raw_decode_rate(images, num_frames=10, warmup_frames=0))
  with pytest.raises(ValueError, match="0 images"):
    data_benchmark.raw_decode_rate([], num_frames=10)
  with pytest.raises(ValueError, match="num_frames=0"):
    data_benchmark.raw_decode_rate(images, num_frames=0)
