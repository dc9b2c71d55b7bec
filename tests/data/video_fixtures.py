"""Small real videos and frame folders for the data tests (written with PyAV)."""

import av
import numpy as np
from PIL import Image


def gray_level(index):
  """Flat grey level of frame `index` in `signature_frames`; neighbours differ by 7."""
  return 20 + (7 * index) % 210


def signature_frames(num_frames, height=48, width=64):
  """uint8 [height, width, 3] frames whose mean encodes the frame index (survives lossy codecs),
  with a bright square moving right one pixel per frame."""
  frames = []
  for i in range(num_frames):
    frame = np.full((height, width, 3), gray_level(i), np.uint8)
    frame[4:12, i % (width - 8) : i % (width - 8) + 8] = 255
    frames.append(frame)
  return frames


def noise_frames(num_frames, height=48, width=64, seed=0):
  rng = np.random.default_rng(seed)
  return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(num_frames)]


def write_video(path, frames, *, fps=30, codec="libx264", pix_fmt="yuv420p"):
  """Writes uint8 RGB frames to `path` (container from the extension) with `codec`.

  Lossless choices: codec="png", pix_fmt="rgb24" (avi/mkv); codec="ffv1", pix_fmt="bgr0".
  """
  container = av.open(str(path), "w")
  stream = container.add_stream(codec, rate=fps)
  stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
  stream.pix_fmt = pix_fmt
  for frame in frames:
    for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
      container.mux(packet)
  for packet in stream.encode():
    container.mux(packet)
  container.close()


def write_frame_folder(directory, frames, *, quality=95):
  """Writes frames as img_00001.jpg ... (1-based, like the SlowFast frame dumps)."""
  directory.mkdir(parents=True)
  for i, frame in enumerate(frames):
    Image.fromarray(frame).save(directory / ("img_%05d.jpg" % (i + 1)), quality=quality)
