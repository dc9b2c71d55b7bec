"""ava_clips.clip_window: the frames a converter stores per keyframe, and `_windows` built on it."""

import pytest

from ava_tx.data import ava_clips


def _settings(**kwargs):
  return ava_clips.ClipSettings(**{"fps": 30, "clip_frames": 64, "segment_start": 900, **kwargs})


def test_clip_window_known_answers():
  # Keyframe 902 s is frame 60; 32 frames before it, the keyframe, 31 after: 28..91.
  assert ava_clips.clip_window(902, _settings()) == (60, 28, 91)
  assert ava_clips.clip_window(902, _settings()).last - 28 + 1 == 64
  # Odd clip length: 2 before, 2 after.
  assert ava_clips.clip_window(902, _settings(clip_frames=5)) == (60, 58, 62)
  assert ava_clips.clip_window(902, _settings(clip_frames=1)) == (60, 60, 60)
  # Full movie at 25 fps: keyframe 3 s is frame 75.
  assert ava_clips.clip_window(3, _settings(fps=25, clip_frames=32, segment_start=0)) == (
    75,
    59,
    90,
  )


def test_clip_window_cuts_at_the_video_start_only():
  window = ava_clips.clip_window(900, _settings())
  assert (window.keyframe, window.first, window.last) == (0, 0, 31)
  assert ava_clips.clip_window(901, _settings()) == (30, 0, 61)


def test_clip_window_before_the_segment_start_is_an_error():
  with pytest.raises(ValueError, match="899"):
    ava_clips.clip_window(899, _settings())


def test_windows_are_clip_windows_in_timestamp_order_with_skips():
  requests = [ava_clips.KeyframeRequest(t) for t in (903, 899, 902)]
  windows = list(ava_clips._windows(requests, _settings()))
  assert [(r.timestamp, w) for r, w, _ in windows] == [
    (899, None),
    (902, (60, 28, 91)),
    (903, (90, 58, 121)),
  ]
  assert windows[0][2] == "timestamp before the segment start 900"
  assert windows[1][2] is None and windows[2][2] is None
