"""benchmarks.data_benchmark's conversion bound: which frames it decodes and encodes."""

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
