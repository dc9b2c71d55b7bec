"""A video clip as DeepMind's Kinetics I3D expects it.

DeepMind's preprocessing for the RGB I3D (their kinetics-i3d release): frames at 25 fps, resized
(bilinear, aspect kept) so that the short side is 256, the centre 224 x 224 crop, values scaled
to [-1, 1]. Clips already cut to that crop, as the sample clip of their release is, are not
resized again: frames whose short side equals the crop size are only cropped. Decoding goes
through the project's PyAV reader (`video_frames.iter_video_frames`), so any container it reads
works, gif included.
"""

import numpy as np

from ava_tx.core import errors
from ava_tx.core.tf_setup import tf
from ava_tx.data import video_frames

KINETICS_FPS = 25
RESIZE_SHORT_SIDE = 256
CROP_SIZE = 224


def center_crop(
  frames: np.ndarray, *, short_side: int = RESIZE_SHORT_SIDE, crop_size: int = CROP_SIZE
) -> np.ndarray:
  """uint8 [num_frames, height, width, 3] -> float32 [num_frames, crop_size, crop_size, 3].

  Resizes (bilinear) so the short side is `short_side` unless it already equals `crop_size`,
  takes the centre crop_size x crop_size crop and scales values to [-1, 1].
  """
  if frames.ndim != 4 or frames.shape[-1] != 3:
    raise ValueError(f"Expected frames [num_frames, height, width, 3], got {frames.shape}.")
  height, width = frames.shape[1:3]
  images = tf.convert_to_tensor(frames, tf.float32)
  if min(height, width) != crop_size:
    scale = short_side / min(height, width)
    size = [max(crop_size, round(height * scale)), max(crop_size, round(width * scale))]
    images = tf.image.resize(images, size, method="bilinear", antialias=True)
    height, width = size
  top, left = (height - crop_size) // 2, (width - crop_size) // 2
  images = images[:, top : top + crop_size, left : left + crop_size, :]
  return (images.numpy() / 127.5 - 1.0).astype(np.float32)


def read_clip(
  path: str,
  *,
  fps: float = KINETICS_FPS,
  max_frames: int = 0,
  short_side: int = RESIZE_SHORT_SIDE,
  crop_size: int = CROP_SIZE,
) -> np.ndarray:
  """Decodes a video into float32 [num_frames, crop_size, crop_size, 3] in [-1, 1].

  Args:
    path: any video PyAV reads (mp4, webm, gif, ...).
    fps: frame rate to decode at (Kinetics I3D: 25).
    max_frames: keep the first max_frames frames (0: all).
    short_side, crop_size: see center_crop.

  Raises:
    video_frames.VideoReadError: the video cannot be read.
    InputError: fewer than 9 frames (the classifier needs 2 steps after 8x temporal stride).
  """
  frames = []
  for _, frame in video_frames.iter_video_frames(path, fps=fps):
    frames.append(frame.to_ndarray(format="rgb24"))
    if max_frames and len(frames) >= max_frames:
      break
  if len(frames) < 9:
    raise errors.InputError(
      f"{path}: {len(frames)} frames at {fps} fps; the Kinetics classifier needs at least 9."
    )
  return center_crop(np.stack(frames), short_side=short_side, crop_size=crop_size)
