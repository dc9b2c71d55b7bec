"""Tests of keyframe clip sampling and streaming assembly (ava_tx.inference.video_clips)."""

import fractions
import math

import numpy as np
import pytest

from ava_tx.core import errors
from ava_tx.inference import video_clips


def _frame(index):
  return np.full([2, 3, 3], index, np.uint8)


def _assemble(spec, native_fps, num_frames, times):
  assembler = video_clips.ClipAssembler(spec, native_fps, times)
  clips, held = [], []
  for index in range(num_frames):
    clips.extend(assembler.add_frame(index, _frame(index)))
    held.append(len(assembler._frames))
  clips.extend(assembler.finish())
  return clips, assembler, held


def test_clip_indices_match_the_training_sampler_at_equal_rates():
  # parser.temporal_sample_indices: keyframe at num_frames // 2, stride apart, clamped at 0.
  spec = video_clips.ClipSpec(num_frames=4, frame_stride=2)
  assert video_clips.clip_native_indices(1, spec, 30) == [26, 28, 30, 32]
  assert video_clips.clip_native_indices(0, spec, 30) == [0, 0, 0, 2]


def test_model_frames_map_to_the_slot_rule_of_video_frames():
  # A 25 fps video seen at 30 fps: model frame m shows native ceil((m + 1/2) * 25 / 30) - 1.
  for m in range(60):
    expected = math.ceil((m + 0.5) * 25 / 30) - 1
    assert video_clips.native_index_of_model_frame(m, 25, 30) == expected
  assert video_clips.keyframe_native_index(2, video_clips.ClipSpec(8), 25) == 50


def test_assembler_clips_frames_padding_and_bounded_memory():
  spec = video_clips.ClipSpec(num_frames=4, frame_stride=3)
  clips, assembler, held = _assemble(spec, 30, 75, video_clips.keyframe_times(rate_hz=1.0))
  assert [c.time for c in clips] == [0.0, 1.0, 2.0]
  assert [c.native_indices for c in clips] == [(0, 0, 0, 3), (24, 27, 30, 33), (54, 57, 60, 63)]
  assert [c.padded for c in clips] == [True, False, False]
  assert [c.native_index for c in clips] == [0, 30, 60]
  for clip in clips:
    np.testing.assert_array_equal(clip.frames[:, 0, 0, 0], clip.native_indices)
    assert clip.frames.shape == (4, 2, 3, 3)
  assert max(held) <= 10  # Only the frames of the clip being built, not the video.
  assert assembler.skipped_times == []


def test_assembler_pads_at_the_end_and_skips_timestamps_past_it():
  spec = video_clips.ClipSpec(num_frames=4, frame_stride=4)
  times = video_clips.keyframe_times(timestamps=[1.5, 0.9, 5.0])
  clips, assembler, _ = _assemble(spec, 30, 48, times)
  assert [c.time for c in clips] == [0.9, 1.5]
  assert clips[1].native_indices == (37, 41, 45, 47)  # Model frame 49 -> the last frame, 47.
  assert clips[1].padded and not clips[0].padded
  assert assembler.skipped_times == [5.0]


def test_keyframe_times():
  times = video_clips.keyframe_times(rate_hz=2.0)
  half = fractions.Fraction(1, 2)
  assert [next(times) for _ in range(4)] == [0, half, 1, 3 * half]
  assert list(video_clips.keyframe_times(timestamps=[3, 1, 3])) == [1, 3]
  with pytest.raises(errors.InputError, match="keyframe_rate"):
    video_clips.keyframe_times(rate_hz=0.0)


def test_short_video():
  spec = video_clips.ClipSpec(num_frames=16, frame_stride=4)  # 60 frames = 2 s span.
  assert video_clips.is_short_video(59, spec, 30)
  assert not video_clips.is_short_video(61, spec, 30)
