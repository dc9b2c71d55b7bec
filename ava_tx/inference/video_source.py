"""The frames of one user video (any container PyAV reads, or a folder of frame images).

Decoding goes through `ava_tx.data.video_frames` (the same PyAV rules as the TFRecord
conversion). A video is read at its own frame rate, so its frames are the ones it has; a
folder of frames is taken to be at `folder_fps`.
"""

import dataclasses
import fractions
import os
from typing import Iterator, Optional, Tuple

import numpy as np
from PIL import Image

from ava_tx.core import errors
from ava_tx.data import video_frames


@dataclasses.dataclass(frozen=True)
class VideoInput:
  """One input of a predict run.

  Attributes:
    path: the file or folder the user named.
    video_id: the file's stem (or the folder's name): the video id in the output CSV.
    native_fps: frames per second of its frames.
    frame_files: sorted frame image names (folders), else None.
  """

  path: str
  video_id: str
  native_fps: fractions.Fraction
  frame_files: Optional[tuple] = None


def video_id_of(path: str) -> str:
  """The video id of a path: the file's stem, or the folder's name."""
  path = os.path.normpath(path)
  if os.path.isdir(path):
    return os.path.basename(path)
  return os.path.splitext(os.path.basename(path))[0]


def open_video(path: str, *, folder_fps: float) -> VideoInput:
  """Checks that `path` is a readable video or a non-empty frame folder.

  Raises:
    FileNotFoundError: nothing at `path`.
    errors.InputError: a folder with no frame images.
    video_frames.VideoReadError: a file PyAV cannot open or with no video stream.
  """
  if not os.path.exists(path):
    raise FileNotFoundError("video not found: %s" % path)
  if os.path.isdir(path):
    files = video_frames.list_frame_files(os.listdir(path))
    if not files:
      raise errors.InputError(
        "%s: frame folder holds no %s images" % (path, "/".join(video_frames.IMAGE_EXTENSIONS))
      )
    return VideoInput(path, video_id_of(path), fractions.Fraction(str(folder_fps)), tuple(files))
  return VideoInput(path, video_id_of(path), video_frames.native_frame_rate(path))


def duration_seconds(video: VideoInput) -> float:
  """The video's duration as stated by its container (frame folders: files / folder_fps)."""
  if video.frame_files is not None:
    return float(len(video.frame_files) / video.native_fps)
  return video_frames.stated_duration_seconds(video.path)


def _model_short_side(height, width, model_size):
  """Short side to scale a frame to before the model (which resizes to `model_size` inside):
  large frames are reduced with AREA to the largest model side, as the TFRecord conversion's
  `short_side` does; smaller ones are kept."""
  target = max(model_size)
  return target if min(height, width) > target else 0


def iter_frames(
  video: VideoInput, *, model_size: Tuple[int, int], keep_full: bool
) -> Iterator[tuple]:
  """Yields (index, full uint8 [H, W, 3] or None, model uint8 [h, w, 3]) for every frame.

  `full` is the frame as stored (kept only with keep_full, for drawing); `model` is the frame
  the model gets, scaled as described in `_model_short_side`.

  Raises:
    video_frames.VideoReadError: a file or frame image that cannot be decoded (names it).
  """
  if video.frame_files is not None:
    yield from _iter_folder(video, model_size, keep_full)
    return
  for index, frame in video_frames.iter_video_frames(video.path, fps=video.native_fps):
    short_side = _model_short_side(frame.height, frame.width, model_size)
    full = frame.to_ndarray(format="rgb24") if keep_full else None
    if full is not None and short_side == 0:
      small = full
    else:
      small = video_frames.frame_to_rgb(frame, short_side)
    yield index, full, small


def _iter_folder(video, model_size, keep_full):
  for index, name in enumerate(video.frame_files):
    path = os.path.join(video.path, name)
    try:
      with Image.open(path) as image:
        image = image.convert("RGB")
        full = np.asarray(image)
        height, width = video_frames.resized_shape(
          image.height, image.width, _model_short_side(image.height, image.width, model_size)
        )
        if (height, width) != (image.height, image.width):
          image = image.resize((width, height), Image.Resampling.BILINEAR, reducing_gap=None)
        small = np.asarray(image)
    except (OSError, SyntaxError, ValueError) as e:
      raise video_frames.VideoReadError("cannot read frame image %s: %s" % (path, e)) from None
    yield index, (full if keep_full else None), small
