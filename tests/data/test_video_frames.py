"""Tests of ava_tx.data.video_frames: fixed-rate decoding, resizing and encoding."""

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image
from PIL import ImageSequence
import pytest

from ava_tx.data import video_frames
from tests.data import video_fixtures


@pytest.mark.parametrize(
  "name, codec, pix_fmt",
  [
    ("v.avi", "png", "rgb24"),  # Lossless, frame-count timestamps.
    ("v.mkv", "ffv1", "bgr0"),  # Lossless, millisecond timestamps (2/30 s -> 67 ms).
  ],
)
def test_lossless_videos_decode_exactly_at_30fps(tmp_path, name, codec, pix_fmt):
  frames = video_fixtures.noise_frames(40)
  video_fixtures.write_video(tmp_path / name, frames, codec=codec, pix_fmt=pix_fmt)
  decoded = list(video_frames.iter_video_frames(str(tmp_path / name), fps=30))
  assert [i for i, _ in decoded] == list(range(40))
  for i, frame in decoded:
    np.testing.assert_array_equal(frame.to_ndarray(format="rgb24"), frames[i])


@pytest.mark.parametrize("name", ["v.mp4", "v.webm"])
def test_lossy_videos_keep_frame_order(tmp_path, name):
  frames = video_fixtures.signature_frames(30)
  codec = "libx264" if name.endswith("mp4") else "libvpx-vp9"
  video_fixtures.write_video(tmp_path / name, frames, codec=codec)
  decoded = list(video_frames.iter_video_frames(str(tmp_path / name), fps=30))
  assert len(decoded) == 30
  for i, frame in decoded:
    mean = frame.to_ndarray(format="rgb24")[20:].mean()
    assert abs(mean - video_fixtures.gray_level(i)) < 3, (i, mean)


def test_resampling_rule(tmp_path):
  frames = video_fixtures.noise_frames(30)
  video_fixtures.write_video(tmp_path / "v.avi", frames, codec="png", pix_fmt="rgb24")
  # 15 fps: slot i takes the last source frame with time < (i + 1/2) / 15, i.e. frame 2i;
  # the last frame (29/30 s) rounds up to its own slot 15: floor(29/30*15 - 1/2) + 2 = 16.
  half = list(video_frames.iter_video_frames(str(tmp_path / "v.avi"), fps=15))
  assert len(half) == 16
  for i, frame in half:
    np.testing.assert_array_equal(frame.to_ndarray(format="rgb24"), frames[min(2 * i, 29)])
  # 60 fps: each source frame twice, the last frame once more: floor(29/30*60 - 1/2) + 2 = 59.
  double = list(
    video_frames.iter_video_frames(str(tmp_path / "v.avi"), fps=60, wanted=lambda i: i % 2 == 0)
  )
  assert len(double) == 59
  assert all((frame is None) == (i % 2 == 1) for i, frame in double)
  np.testing.assert_array_equal(double[20][1].to_ndarray(format="rgb24"), frames[10])


def test_resized_shape():
  assert video_frames.resized_shape(360, 640, 256) == (256, 455)
  assert video_frames.resized_shape(640, 360, 256) == (455, 256)
  assert video_frames.resized_shape(48, 64, 0) == (48, 64)


def test_encoder_resizes_and_is_deterministic(tmp_path):
  frames = video_fixtures.signature_frames(3, height=60, width=80)
  video_fixtures.write_video(tmp_path / "v.avi", frames, codec="png", pix_fmt="rgb24")
  encoder = video_frames.FrameEncoder(short_side=30, jpeg_quality=80)
  ((_, frame),) = [
    x for x in video_frames.iter_video_frames(str(tmp_path / "v.avi"), fps=30) if x[0] == 1
  ]
  data, height, width = encoder.encode_av_frame(frame)
  assert (height, width) == (30, 40)
  assert encoder.encode_av_frame(frame)[0] == data
  image = Image.open(io.BytesIO(data))
  assert image.format == "JPEG" and image.size == (40, 30)
  assert abs(np.asarray(image)[20:].mean() - video_fixtures.gray_level(1)) < 3


def test_frame_folder_bytes_are_copied(tmp_path):
  frames = video_fixtures.signature_frames(12)
  video_fixtures.write_frame_folder(tmp_path / "f", frames)
  names = video_frames.list_frame_files(p.name for p in (tmp_path / "f").iterdir())
  assert names[:3] == ["img_00001.jpg", "img_00002.jpg", "img_00003.jpg"]
  assert names[-1] == "img_00012.jpg"
  data = (tmp_path / "f" / names[4]).read_bytes()
  assert video_frames.FrameEncoder().encode_file_bytes(data, names[4]) == (data, 48, 64)
  png, height, width = video_frames.FrameEncoder(image_format="PNG").encode_file_bytes(
    data, names[4]
  )
  np.testing.assert_array_equal(
    np.asarray(Image.open(io.BytesIO(png))), np.asarray(Image.open(io.BytesIO(data)))
  )


def test_unreadable_video_is_named(tmp_path):
  path = tmp_path / "broken.mp4"
  path.write_bytes(b"not a video at all" * 10)
  with pytest.raises(video_frames.VideoReadError, match="broken.mp4"):
    list(video_frames.iter_video_frames(str(path), fps=30))


GIF = (
  Path(__file__).resolve().parents[2]
  / ".."
  / "shared"
  / "data"
  / "video"
  / "v_CricketShot_g04_c01_rgb.gif"
)


@pytest.mark.skipif(not GIF.exists(), reason="shared sample video not found at %s" % GIF)
def test_real_gif_matches_pillow_and_resamples_25_to_30_fps():
  pillow = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(Image.open(GIF))]
  assert len(pillow) == 79  # 25 fps (40 ms per frame).
  native = list(video_frames.iter_video_frames(str(GIF), fps=25))
  assert len(native) == 79
  for i, frame in native:
    np.testing.assert_array_equal(frame.to_ndarray(format="rgb24"), pillow[i])
  # 30 fps: slot i shows source frame j = ceil((i + 1/2) * 25 / 30) - 1; 95 slots in all.
  resampled = list(video_frames.iter_video_frames(str(GIF), fps=30))
  assert len(resampled) == 95
  for i, frame in resampled[::7]:
    j = math.ceil((i + 0.5) * 25 / 30) - 1
    np.testing.assert_array_equal(frame.to_ndarray(format="rgb24"), pillow[j])


@pytest.mark.parametrize(
  "name, codec, pix_fmt",
  [("v.mp4", "libx264", "yuv420p"), ("v.mkv", "ffv1", "bgr0"), ("v.webm", "libvpx-vp9", "yuv420p")],
)
def test_seeking_gives_the_same_frames(tmp_path, name, codec, pix_fmt):
  frames = video_fixtures.signature_frames(14 * 30, height=24, width=32)
  video_fixtures.write_video(tmp_path / name, frames, codec=codec, pix_fmt=pix_fmt)
  path = str(tmp_path / name)
  sequential = {
    i: f.to_ndarray(format="rgb24")
    for i, f in video_frames.iter_video_frames(path, fps=30)
    if i >= 355
  }
  seeking = list(video_frames.iter_video_frames(path, fps=30, start_index=360))
  assert [i for i, _ in seeking] == list(range(14 * 30))
  assert all(f is None for i, f in seeking if i < 360)
  for i, frame in seeking[360:]:
    np.testing.assert_array_equal(frame.to_ndarray(format="rgb24"), sequential[i], err_msg=i)


@pytest.mark.parametrize("as_file", [False, True])
def test_a_seek_that_overshoots_restarts_from_the_beginning(tmp_path, monkeypatch, as_file):
  """A seek landing after start_index (forced here by a negative margin) decodes again from
  the first frame, reopening the path or rewinding the file object: the same frames."""
  frames = video_fixtures.signature_frames(12 * 30, height=24, width=32)
  path = tmp_path / "v.mkv"
  video_fixtures.write_video(path, frames, codec="ffv1", pix_fmt="bgr0")
  monkeypatch.setattr(video_frames, "_SEEK_MARGIN_SECONDS", -1)
  with open(path, "rb") as f:
    decoded = list(
      video_frames.iter_video_frames(f if as_file else str(path), fps=30, start_index=330)
    )
  assert [i for i, _ in decoded] == list(range(12 * 30))
  assert all(frame is None for _, frame in decoded[:330])
  for i, frame in decoded[330::7]:
    np.testing.assert_array_equal(frame.to_ndarray(format="rgb24"), frames[i], err_msg=i)
