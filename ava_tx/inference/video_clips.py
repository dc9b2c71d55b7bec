"""Model clips around keyframes of a raw video, decoding each frame once (streaming).

Two timelines. The video's own frames (`native` frames, index j at time j / native_fps) are
what the annotated output shows. The model was trained on frames stored at `model_fps`
(AVA's 30 fps layout); its clip of `num_frames` frames is sampled `frame_stride` stored frames
apart with the keyframe at position num_frames // 2, as the training parser samples it
(`parser.temporal_sample_indices`). Model frame m (time m / model_fps) shows the native frame
of the slot rule of `video_frames`: the last native frame starting before (m + 1/2) /
model_fps, i.e. j = ceil((m + 1/2) * native_fps / model_fps) - 1 (the identity when the rates
are equal). A keyframe at time s is model frame round(s * model_fps). Frames before the first
or after the last native frame repeat the edge frame (padding), as in training.

A keyframe exists when its time is inside the video (s < num_native_frames / native_fps).
`ClipAssembler` receives the native frames in order and hands out each keyframe's clip as soon
as its last frame has arrived, keeping only the frames that pending clips still need.
"""

import dataclasses
import fractions
import itertools
import math
from typing import Iterable, List, Optional, Sequence

import numpy as np

from ava_tx.core import ava_constants
from ava_tx.core import errors


@dataclasses.dataclass(frozen=True)
class ClipSpec:
  """How the model's clips are sampled.

  Attributes:
    num_frames: frames per clip (T).
    frame_stride: step between clip frames, in model-rate frames.
    model_fps: frame rate of the frames the model was trained on (stored frames).
  """

  num_frames: int
  frame_stride: int = 1
  model_fps: fractions.Fraction = fractions.Fraction(ava_constants.FPS)

  def __post_init__(self):
    if self.num_frames < 1 or self.frame_stride < 1 or self.model_fps <= 0:
      raise errors.InputError(
        "clip needs num_frames >= 1, frame_stride >= 1 and model_fps > 0, got %r" % (self,)
      )

  @property
  def span_seconds(self) -> float:
    """Seconds from the clip's first to its last frame."""
    return float((self.num_frames - 1) * self.frame_stride / fractions.Fraction(self.model_fps))


@dataclasses.dataclass
class KeyframeClip:
  """One keyframe's clip.

  Attributes:
    time: keyframe time, seconds from the first frame (float).
    native_index: native frame shown at the keyframe.
    native_indices: int [num_frames], native frame of each clip frame (edge frames repeated).
    frames: uint8 [num_frames, height, width, 3] model frames.
    padded: True if some clip frames lay outside the video and repeat an edge frame.
  """

  time: float
  native_index: int
  native_indices: tuple
  frames: np.ndarray
  padded: bool


def keyframe_times(
  *, rate_hz: Optional[float] = None, timestamps: Optional[Sequence[float]] = None
):
  """Keyframe times in seconds (Fractions), increasing: an endless iterator 0, 1/rate,
  2/rate, ..., or the list of the sorted distinct `timestamps`. Give exactly one of the two."""
  if (rate_hz is None) == (timestamps is None):
    raise errors.InputError("give either a keyframe rate or timestamps")
  if timestamps is not None:
    times = sorted({fractions.Fraction(str(t)) for t in timestamps})
    if times and times[0] < 0:
      raise errors.InputError("--timestamps: negative time %s" % float(times[0]))
    return times
  if rate_hz <= 0:
    raise errors.InputError("--keyframe_rate must be > 0, got %r" % rate_hz)
  rate = fractions.Fraction(str(rate_hz))
  return (n / rate for n in itertools.count())


def native_index_of_model_frame(model_index: int, native_fps, model_fps) -> int:
  """Native frame shown at model frame `model_index` (>= 0); not clamped at the video's end."""
  ratio = fractions.Fraction(native_fps) / fractions.Fraction(model_fps)
  return max(0, math.ceil((model_index + fractions.Fraction(1, 2)) * ratio) - 1)


def clip_native_indices(time, spec: ClipSpec, native_fps) -> List[int]:
  """Native frame index of each clip frame of the keyframe at `time` (not clamped at the end)."""
  keyframe = int(round(fractions.Fraction(time) * spec.model_fps))
  offsets = [(i - spec.num_frames // 2) * spec.frame_stride for i in range(spec.num_frames)]
  return [
    native_index_of_model_frame(max(0, keyframe + o), native_fps, spec.model_fps) for o in offsets
  ]


def keyframe_native_index(time, spec: ClipSpec, native_fps) -> int:
  """Native frame shown at the keyframe at `time` (not clamped at the end)."""
  keyframe = int(round(fractions.Fraction(time) * spec.model_fps))
  return native_index_of_model_frame(keyframe, native_fps, spec.model_fps)


def is_short_video(num_native_frames: int, spec: ClipSpec, native_fps) -> bool:
  """True if the video lasts less than one clip span (its clips are padded)."""
  return num_native_frames / fractions.Fraction(native_fps) < spec.span_seconds


class ClipAssembler:
  """Builds keyframe clips from native frames fed in order.

  Usage: `ready = assembler.add_frame(j, frame)` for j = 0, 1, ...; then
  `ready = assembler.finish()`. Each call returns the KeyframeClips completed by then, in time
  order. `times` (increasing) may be endless (a keyframe rate); a finite list of requested
  times is drained at `finish`, where `skipped_times` lists those beyond the video's end.
  """

  def __init__(self, spec: ClipSpec, native_fps, times: Iterable):
    self._finite = isinstance(times, (list, tuple))
    self.spec = spec
    self.native_fps = fractions.Fraction(native_fps)
    self._times = iter(times)
    self._next_time = next(self._times, None)
    self._pending = []  # (time, native indices), in time order.
    self._frames = {}
    self._last_index = -1
    self.skipped_times = []

  def _first_needed(self):
    firsts = [indices[0] for _, indices in self._pending]
    if self._next_time is not None:
      firsts.append(clip_native_indices(self._next_time, self.spec, self.native_fps)[0])
    return min(firsts) if firsts else None

  def unfinished_native_index(self) -> float:
    """Smallest native frame shown at a keyframe not yet handed out (inf if none is left)."""
    times = [time for time, _ in self._pending]
    if self._next_time is not None:
      times.append(self._next_time)
    return min(
      [keyframe_native_index(t, self.spec, self.native_fps) for t in times], default=math.inf
    )

  def add_frame(self, index: int, frame: np.ndarray) -> List[KeyframeClip]:
    """Takes native frame `index` (uint8 [height, width, 3]; indices must be 0, 1, 2, ...)."""
    if index != self._last_index + 1:
      raise ValueError("frames must come in order: got %d after %d" % (index, self._last_index))
    self._last_index = index
    self._frames[index] = frame
    # The video reaches past `time` once frame `index` (lasting until (index + 1) / fps) exists.
    while self._next_time is not None and self._next_time * self.native_fps < index + 1:
      self._pending.append(
        (self._next_time, clip_native_indices(self._next_time, self.spec, self.native_fps))
      )
      self._next_time = next(self._times, None)
    ready = []
    while self._pending and self._pending[0][1][-1] <= index:
      ready.append(self._make_clip(*self._pending.pop(0)))
    first_needed = self._first_needed()
    stale = [i for i in self._frames if first_needed is None or i < first_needed]
    for i in stale:
      del self._frames[i]
    return ready

  def finish(self) -> List[KeyframeClip]:
    """Completes the clips still waiting (padding them with the last frame)."""
    ready = [self._make_clip(*item) for item in self._pending]
    self._pending = []
    while self._finite and self._next_time is not None:
      self.skipped_times.append(float(self._next_time))
      self._next_time = next(self._times, None)
    self._next_time = None
    self._frames = {}
    return ready

  def _make_clip(self, time, indices):
    last = self._last_index
    clamped = [min(i, last) for i in indices]
    keyframe = int(round(fractions.Fraction(time) * self.spec.model_fps))
    native = min(keyframe_native_index(time, self.spec, self.native_fps), last)
    model_start = keyframe - (self.spec.num_frames // 2) * self.spec.frame_stride
    padded = model_start < 0 or indices[-1] > last
    frames = np.stack([self._frames[i] for i in clamped])
    return KeyframeClip(float(time), native, tuple(clamped), frames, padded)
