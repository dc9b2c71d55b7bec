"""Deterministic frame extraction: any PyAV container, or folders of extracted frames.

Frame layout. Times are measured from the first decoded frame. Output frame `i` (counted
from 0) is the last source frame whose presentation time t satisfies t < (i + 1/2) / fps,
i.e. each source frame goes to the output slot nearest its time (like FFmpeg's `fps` filter
with round=near): missing slots repeat the previous frame, and of several frames in one slot
the last wins. Comparisons use exact rational arithmetic, and the rounding to the nearest slot
makes millisecond container timestamps (mkv, webm: 67 ms for 2/30 s) land in the right slot.
A video whose last frame starts at time T yields floor(T * fps - 1/2) + 2 frames. For a 30 fps
source decoded at 30 fps this is the identity. With AVA 15-minute cuts starting at 900 s, AVA
timestamp t is frame (t - 900) * fps (`ava_constants.keyframe_frame_index`).

Frames come out as RGB, resized with libswscale (bundled with the pinned PyAV wheel, AREA
interpolation) so the short side equals `short_side` (0 keeps the size), and encoded with
Pillow (JPEG at `jpeg_quality`, 4:2:0, no optimisation flags, or lossless PNG). The same input
and settings give the same bytes on every run.

Folders of extracted frames (`<video_id>/` holding image files) are taken to be already at
`fps`: sorted by the last integer in the file name, frame i is the i-th file. JPEG files are
copied byte for byte when no resize or format change is asked for.

Only the frames a caller asks for are converted to RGB and encoded, so a 15-minute video is
streamed with memory bounded by the frames of the active clips.
"""

import fractions
import io
import itertools
import math
import os
import re
from typing import Callable, Iterable, Iterator, Optional, Tuple

import av
import numpy as np
from PIL import Image

from ava_tx.core import errors

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".gif", ".mov", ".m4v", ".mpg", ".mpeg")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
IMAGE_FORMATS = ("JPEG", "PNG")


class VideoReadError(IOError):
  """A video or frame folder that cannot be opened or decoded; the message names it."""


def resized_shape(height: int, width: int, short_side: int) -> Tuple[int, int]:
  """(height, width) after scaling the shorter side to `short_side` (0: unchanged).

  The longer side is rounded to the nearest integer, e.g. (360, 640) at 256 -> (256, 455).
  """
  if short_side <= 0 or min(height, width) == short_side:
    return height, width
  if height <= width:
    return short_side, max(1, int(round(width * short_side / height)))
  return max(1, int(round(height * short_side / width))), short_side


def encode_image(rgb: np.ndarray, *, image_format: str = "JPEG", jpeg_quality: int = 90) -> bytes:
  """Encodes uint8 [height, width, 3] RGB to JPEG (at `jpeg_quality`) or PNG bytes."""
  if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
    raise ValueError("Expected uint8 [height, width, 3], got %s %s" % (rgb.dtype, rgb.shape))
  buffer = io.BytesIO()
  image = Image.fromarray(rgb)
  if image_format == "JPEG":
    image.save(buffer, format="JPEG", quality=jpeg_quality, subsampling=2)
  elif image_format == "PNG":
    image.save(buffer, format="PNG", compress_level=6)
  else:
    raise errors.InputError(
      "image_format must be one of %s, got %r" % (IMAGE_FORMATS, image_format)
    )
  return buffer.getvalue()


def frame_to_rgb(frame, short_side: int = 0) -> np.ndarray:
  """uint8 [height, width, 3] RGB of a decoded PyAV frame, the shorter side scaled to
  `short_side` with libswscale AREA (0: unchanged), as the TFRecord conversion stores it."""
  return _frame_to_rgb(frame, short_side)


def _first_video_stream(container, source):
  """(first video stream, its stated rate or None); VideoReadError if there is no stream."""
  if not container.streams.video:
    raise VideoReadError("no video stream in %s" % _source_name(source))
  stream = container.streams.video[0]
  return stream, stream.average_rate or stream.guessed_rate


def native_frame_rate(source) -> fractions.Fraction:
  """Frames per second of the first video stream as the container states it (average rate,
  else the guessed rate), read without decoding. Raises VideoReadError if there is none."""
  container = _open_container(source)
  try:
    stream, rate = _first_video_stream(container, source)
    if not rate or rate <= 0:
      raise VideoReadError("no frame rate stated in %s" % _source_name(source))
    return fractions.Fraction(rate)
  finally:
    container.close()


def stated_duration_seconds(source) -> float:
  """Duration of the first video stream as the container states it (frame count / rate, else
  the container's duration), read without decoding; 0.0 if it states neither."""
  container = _open_container(source)
  try:
    stream, rate = _first_video_stream(container, source)
    if stream.frames and rate:
      return float(stream.frames / fractions.Fraction(rate))
    return float(container.duration or 0) / av.time_base
  finally:
    container.close()


def _frame_to_rgb(frame, short_side):
  height, width = resized_shape(frame.height, frame.width, short_side)
  if (height, width) != (frame.height, frame.width):
    frame = frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA")
  return frame.to_ndarray(format="rgb24")


def _open_container(source):
  """source: local path or binary file object (e.g. tf.io.gfile.GFile for gs://)."""
  try:
    return av.open(source, mode="r")
  except (av.error.FFmpegError, OSError, ValueError) as e:
    raise VideoReadError("cannot open video %s: %s" % (_source_name(source), e)) from None


def _source_name(source):
  return str(getattr(source, "name", source))


_SEEK_MIN_SECONDS = 10  # Seek only when the first wanted frame is at least this far in ...
_SEEK_MARGIN_SECONDS = 2  # ... to a key frame at least this much before it.


def _frame_time(frame, position, stream, fps):
  if frame.pts is not None:
    return fractions.Fraction(frame.pts) * frame.time_base
  # Containers without timestamps: use the decode order and the nominal rate.
  rate = stream.average_rate or stream.guessed_rate or fps
  return fractions.Fraction(position) / fractions.Fraction(rate)


def _slot(time, fps):
  """The output slot a source frame at `time` (from the origin) goes to."""
  return math.floor(time * fps - fractions.Fraction(1, 2)) + 1


def iter_video_frames(
  source, *, fps: float, wanted: Optional[Callable[[int], bool]] = None, start_index: int = 0
) -> Iterator[tuple]:
  """Decodes a video at a fixed frame rate (see the module docstring for the exact rule).

  Args:
    source: path or binary file object of any container PyAV decodes.
    fps: output frames per second.
    wanted: predicate on the output frame index; frames for which it is False are
      yielded as None (skipping the RGB conversion). None: every frame is converted.
    start_index: output frames before it are not needed (yielded as None). When it lies
      10 s or more into the video, the decoder seeks to a key frame at least 2 s before it
      instead of decoding from the start (full movies); the frames are the same (tested).
      If the seek lands wrong, decoding restarts from the beginning.

  Yields:
    (index, av.VideoFrame or None) for index 0, 1, 2, ... in order.

  Raises:
    VideoReadError: if the video cannot be opened or has no video stream or frames.
  """
  fps = fractions.Fraction(fps).limit_denominator(1001 * 1000)
  video = _VideoDecoder(source)
  try:
    try:
      video.open_stream()
      first = video.first_frame()
      origin = _frame_time(first, 0, video.stream, fps)
      head, index = [first], 0
      if first.pts is not None and start_index / fps >= _SEEK_MIN_SECONDS:
        head, index = _seek_before(video, first, origin, start_index, fps)
      for skipped in range(index):
        yield skipped, None
      timed = ((frame, time - origin) for frame, time in video.timed_frames(head, first, fps))
      yield from _resample(timed, fps, index=index, start_index=start_index, wanted=wanted)
    except av.error.FFmpegError as e:
      raise VideoReadError(
        "cannot decode %s after %d frames: %s" % (_source_name(source), video.num_decoded, e)
      ) from None
  finally:
    video.close()


class _VideoDecoder:
  """The containers opened on one video (a failed seek reopens it) and the single-threaded
  decoding of its first video stream."""

  def __init__(self, source):
    self.source = source
    self.containers = [_open_container(source)]
    self.stream = self.frames = None
    self.num_decoded = 0  # For error messages and the timing of frames without timestamps.

  def open_stream(self):
    self.stream, _ = _first_video_stream(self.containers[-1], self.source)
    self.stream.thread_type = "NONE"  # Single-threaded decode: byte-identical across runs.
    self.frames = self.containers[-1].decode(self.stream)

  def first_frame(self):
    first = next(self.frames, None)
    if first is None:
      raise VideoReadError("no frames decoded from %s" % _source_name(self.source))
    self.num_decoded = 1
    return first

  def seek(self, time):
    """Decoding continues from the last key frame at or before `time` (seconds, a Fraction)."""
    self.containers[-1].seek(int(time / self.stream.time_base), stream=self.stream, backward=True)
    self.frames = self.containers[-1].decode(self.stream)

  def restart(self):
    """Decoding continues from the second frame (the caller holds the first)."""
    self.containers[-1].close()
    if hasattr(self.source, "seek"):
      self.source.seek(0)
    self.containers.append(_open_container(self.source))
    self.open_stream()
    next(self.frames, None)

  def timed_frames(self, head, first, fps):
    """(frame, time in seconds) of `head`, then of the frames still to decode."""
    for frame in itertools.chain(head, self.frames):
      position = self.num_decoded - 1 if frame is first else self.num_decoded
      if frame is not first:
        self.num_decoded += 1
      yield frame, _frame_time(frame, position, self.stream, fps)

  def close(self):
    for container in self.containers:
      container.close()


def _seek_before(video, first, origin, start_index, fps):
  """Seeks to a key frame at least _SEEK_MARGIN_SECONDS before output frame `start_index`.

  Returns:
    (frames to resample first, the output index of the first of them): the frame the seek
    landed on and its slot, or, if the seek overshot or failed, `first` and 0 (decoding
    restarted from the beginning).
  """
  video.seek(origin + start_index / fps - _SEEK_MARGIN_SECONDS)
  landed = next(video.frames, None)
  slot = None
  if landed is not None and landed.pts is not None:
    slot = _slot(_frame_time(landed, 0, video.stream, fps) - origin, fps)
  if slot is not None and 0 < slot <= start_index:
    return [landed], slot
  video.restart()
  return [first], 0


def _resample(timed_frames, fps, *, index, start_index, wanted):
  """(frame, time from the origin) in decode order -> (output index, frame or None) from
  output frame `index` on: each slot shows the last frame at or before its midpoint."""
  half = fractions.Fraction(1, 2)

  def chosen(index, frame):
    wanted_here = index >= start_index and (wanted is None or wanted(index))
    return index, (frame if wanted_here else None)

  previous = time = None
  for frame, time in timed_frames:
    # Slots whose midpoint (index + 1/2) / fps this frame reaches show the previous frame.
    while previous is not None and (index + half) / fps <= time:
      yield chosen(index, previous)
      index += 1
    previous = frame
  while (index - half) / fps <= time:  # Slots up to the last frame's own slot.
    yield chosen(index, previous)
    index += 1


def _natural_key(name):
  numbers = re.findall(r"\d+", name)
  return (int(numbers[-1]) if numbers else -1, name)


def list_frame_files(names: Iterable[str]) -> list:
  """Image file names of a frame folder, sorted by their last integer (then by name)."""
  return sorted(
    (n for n in names if os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS), key=_natural_key
  )


class FrameEncoder:
  """Turns decoded frames or stored image bytes into the stored image bytes."""

  def __init__(self, *, short_side: int = 0, image_format: str = "JPEG", jpeg_quality: int = 90):
    if image_format not in IMAGE_FORMATS:
      raise errors.InputError(
        "image_format must be one of %s, got %r" % (IMAGE_FORMATS, image_format)
      )
    if not 1 <= jpeg_quality <= 100:
      raise errors.InputError("jpeg_quality must be in [1, 100], got %d" % jpeg_quality)
    self.short_side = short_side
    self.image_format = image_format
    self.jpeg_quality = jpeg_quality

  def encode_rgb(self, rgb: np.ndarray) -> bytes:
    return encode_image(rgb, image_format=self.image_format, jpeg_quality=self.jpeg_quality)

  def encode_av_frame(self, frame) -> Tuple[bytes, int, int]:
    """Returns (image bytes, height, width) of a PyAV frame after the resize."""
    rgb = _frame_to_rgb(frame, self.short_side)
    return self.encode_rgb(rgb), rgb.shape[0], rgb.shape[1]

  def encode_file_bytes(self, data: bytes, name: str) -> Tuple[bytes, int, int]:
    """Returns (image bytes, height, width) of a stored image file; copies JPEG bytes when
    no resize or format change is needed."""
    try:
      image = Image.open(io.BytesIO(data))
      image_format = image.format
      height, width = image.height, image.width
      target = resized_shape(height, width, self.short_side)
      if (
        image_format == self.image_format == "JPEG"
        and target == (height, width)
        and image.mode == "RGB"
      ):
        return data, height, width
      image = image.convert("RGB")
      if target != (height, width):
        image = image.resize((target[1], target[0]), Image.Resampling.BILINEAR, reducing_gap=None)
      rgb = np.asarray(image)
    except (OSError, SyntaxError, ValueError) as e:
      raise VideoReadError("cannot read frame image %s: %s" % (name, e)) from None
    return self.encode_rgb(rgb), rgb.shape[0], rgb.shape[1]
