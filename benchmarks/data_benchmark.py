r"""Data benchmark: conversion keyframes/s and input-pipeline clips/s, each next to the raw
JPEG decode rate measured in the same run.

  python -m benchmarks.data_benchmark [--seconds=12] [--work_dir=/tmp/ava_data_benchmark]

Source video: UCF-101's v_CricketShot_g04_c01_rgb.gif (224x224, looped to --seconds and
re-encoded as H.264) when the project's shared data folder sits beside the checkout (not part of
the repository: ../shared/data/video, as for the tests that use it), else a synthetic pattern;
the summary says which. Keyframes at 1 Hz with
two boxes each. Two stored layouts:
  paper: 64-frame clips at 30 fps, short side 400 (upscaled from 224), JPEG q90; the parser
         samples 64 frames at stride 1 and outputs 64x400x400 (ava_tx_*_64f_400 configs);
  tiny:  64-frame clips at 30 fps, short side 120; the parser samples 16 frames at stride 4 and
         outputs 16x112x112 (tiny_synthetic_cpu.config).
The "JPEG decode bound" is the raw tf.io.decode_jpeg rate of the same stored frames (a tf.data
map with the same parallelism) divided by the distinct frames a clip needs. The conversion's
bound is decoding the video once and JPEG-encoding each frame it stores once (the converter's
encoder, at the layout's stored size), in one process like the conversion it is compared with.
"""

import os
from pathlib import Path
import shutil
import statistics
import time
from typing import NamedTuple

from absl import app
from absl import flags
import numpy as np

from ava_tx.core import command_line
from ava_tx.core.tf_setup import tf
from ava_tx.data import ava_clips
from ava_tx.data import ava_conversion
from ava_tx.data import dataset as dataset_lib
from ava_tx.data import parser as parser_lib
from ava_tx.data import video_frames
from ava_tx.data.synthetic import writer

FLAGS = flags.FLAGS


@command_line.flag_definitions
def define_flags():
  flags.DEFINE_string("work_dir", "/tmp/ava_data_benchmark", "Scratch directory (deleted first).")
  flags.DEFINE_integer("seconds", 12, "Length of the source video.")
  flags.DEFINE_integer("num_batches", 6, "Timed batches per pipeline (after 2 warm-up batches).")
  flags.DEFINE_integer("batch_size", 2, "Clips per batch.")
  flags.DEFINE_integer("repeats", 3, "Alternated pipeline and bound measurements (medians).")


_GIF = (
  Path(__file__).resolve().parents[1]
  / ".."
  / "shared"
  / "data"
  / "video"
  / "v_CricketShot_g04_c01_rgb.gif"
)


def _source_frames(num_frames):
  if _GIF.exists():
    frames = [
      f.to_ndarray(format="rgb24") for _, f in video_frames.iter_video_frames(str(_GIF), fps=30)
    ]
    source = "real clip %s" % _GIF.name
  else:
    y, x = np.mgrid[0:224, 0:224]
    frames = [
      np.stack([(x + 3 * i) % 256, (y + 2 * i) % 256, (x + y) % 256], -1).astype(np.uint8)
      for i in range(30)
    ]
    source = "synthetic pattern"
  return [frames[i % len(frames)] for i in range(num_frames)], source


# name -> (stored short side, (parser num_frames, frame_stride, output (height, width))).
LAYOUTS = {"paper": (400, (64, 1, (400, 400))), "tiny": (120, (16, 4, (112, 112)))}


def prepare_source(work, seconds):
  """Writes work/videos/bench.mp4 and work/gt.csv (2 boxes per keyframe at 1 Hz).

  Returns (video path, number of keyframes, description of the source).
  """
  shutil.rmtree(work, ignore_errors=True)
  (work / "videos").mkdir(parents=True)
  frames, source = _source_frames(30 * seconds)
  writer.encode_video(str(work / "videos" / "bench.mp4"), np.stack(frames), 30)
  rows = [
    "bench,%04d,0.1,0.2,0.6,0.9,12,0\nbench,%04d,0.3,0.5,0.9,0.95,80,1\n" % (t, t)
    for t in keyframe_timestamps(seconds)
  ]
  (work / "gt.csv").write_text("".join(rows))
  return work / "videos" / "bench.mp4", len(rows), source


def keyframe_timestamps(seconds):
  """The source's keyframes (1 Hz, whole clips inside the video)."""
  return range(2, seconds - 1)


def decode_encode_bound(path, name, timestamps):
  """The conversion's bound: (seconds, frames) to decode the video once and encode once each
  frame that the clips of `timestamps` store, with the converter's encoder and settings."""
  settings = clip_settings(name)
  stored = set()
  for timestamp in timestamps:
    window = ava_clips.clip_window(timestamp, settings)
    stored.update(range(window.first, window.last + 1))
  encoder = settings.encoder()
  encoded = 0
  start = time.perf_counter()
  for _, frame in video_frames.iter_video_frames(str(path), fps=30, wanted=stored.__contains__):
    if frame is not None:
      encoder.encode_av_frame(frame)
      encoded += 1
  return time.perf_counter() - start, encoded


def raw_video_decode_rate(path):
  """Frames/s of decoding the whole video with PyAV (no conversion, no encoding)."""
  start = time.perf_counter()
  decoded = sum(
    1 for _ in video_frames.iter_video_frames(str(path), fps=30, wanted=lambda i: False)
  )
  return decoded / (time.perf_counter() - start)


def layout_parser(name):
  """The AvaParser of a layout (training augmentation on, label ids 12 and 80)."""
  num_frames, stride, size = LAYOUTS[name][1]
  return parser_lib.AvaParser(
    num_frames=num_frames,
    frame_stride=stride,
    output_size=size,
    label_map_ids=[12, 80],
    max_num_boxes=8,
  )


def distinct_frames(name):
  """Stored frames a clip of the layout needs (edge repeats counted once)."""
  num_frames, stride, _ = LAYOUTS[name][1]
  return len(set(np.clip(32 + (np.arange(num_frames) - num_frames // 2) * stride, 0, 63)))


def convert(work, name, num_workers=1):
  """Converts work/videos with the layout's stored size; returns (summary, seconds)."""
  return _convert(work, name, LAYOUTS[name][0], num_workers)


def clip_settings(name, short_side=None):
  """The converter's settings of a layout (or another stored short side)."""
  return ava_clips.ClipSettings(
    fps=30,
    clip_frames=64,
    segment_start=0,
    short_side=LAYOUTS[name][0] if short_side is None else short_side,
    image_format="JPEG",
    jpeg_quality=90,
  )


def _convert(work, name, short_side, num_workers):
  settings = clip_settings(name, short_side)
  start = time.perf_counter()
  summary = ava_conversion.convert(
    annotations_csv=str(work / "gt.csv"),
    video_dir=str(work / "videos"),
    output_prefix=str(work / name / "t"),
    num_shards=2,
    settings=settings,
    num_workers=num_workers,
    log=lambda line: None,
  )
  return summary, time.perf_counter() - start


def stored_jpegs(pattern, limit):
  images = []
  for record in tf.data.TFRecordDataset(tf.io.gfile.glob(pattern)).take(4):
    example = tf.train.SequenceExample.FromString(record.numpy())
    images += [
      f.bytes_list.value[0] for f in example.feature_lists.feature_list["image/encoded"].feature
    ]
  return images[:limit]


class Timing(NamedTuple):
  """`items` produced in `wall_seconds`, using `cpu_seconds` of the process's CPU time (all
  threads). On a shared machine the CPU time per item moves less than the rate: time the
  process spends descheduled is not counted."""

  items: int
  wall_seconds: float
  cpu_seconds: float

  @property
  def rate(self) -> float:
    return self.items / self.wall_seconds

  @property
  def cpu_seconds_per_item(self) -> float:
    return self.cpu_seconds / self.items


def _time_next(iterator, count):
  """Timing of `count` next(iterator) calls; also the last element (None when count is 0)."""
  element = None
  wall, cpu = time.perf_counter(), time.process_time()
  for _ in range(count):
    element = next(iterator)
  return Timing(count, time.perf_counter() - wall, time.process_time() - cpu), element


def decode_timing(images, num_frames=1280, warmup_frames=128) -> Timing:
  """tf.io.decode_jpeg over `images` (cycled) in a parallel tf.data map: `num_frames` decodes
  timed after `warmup_frames` on the same iterator.

  The same iterator matters: a fresh one starts its threads and autotuning again. Timing one
  pass over 256 frames of a fresh iterator (about 0.1 s at paper size) read anywhere from 12 to
  37 clips/s on one quiet machine within a minute, and inflated the pipeline/bound ratio up to
  1.5 (docs/INPUT_PIPELINE.md). Time about as many frames as the pipeline measurement decodes."""
  if not images or num_frames < 1 or warmup_frames < 0:
    raise ValueError(
      f"decode_timing needs images and num_frames >= 1, got {len(images)} images, "
      f"num_frames={num_frames}, warmup_frames={warmup_frames}"
    )
  ds = (
    tf.data.Dataset.from_tensor_slices(images)
    .repeat()
    .map(
      lambda x: tf.reduce_sum(tf.cast(tf.io.decode_jpeg(x, channels=3)[:1, :1], tf.int32)),
      num_parallel_calls=tf.data.AUTOTUNE,
    )
  )
  iterator = iter(ds)
  _time_next(iterator, warmup_frames)
  return _time_next(iterator, num_frames)[0]


def pipeline_timing(pattern, parser, batch_size, num_batches, **dataset_kwargs):
  """Timing of the training input pipeline in clips (`num_batches` batches after 2 warm-up
  batches); also the batch shape."""
  ds = dataset_lib.build_dataset(
    file_pattern=pattern,
    parser=parser,
    batch_size=batch_size,
    is_training=True,
    seed=1,
    shuffle_buffer_size=16,
    **dataset_kwargs,
  )
  iterator = iter(ds)
  _time_next(iterator, 2)
  timing, batch = _time_next(iterator, num_batches)
  return timing._replace(items=num_batches * batch_size), batch["frames"].shape


class PipelineAgainstBound(NamedTuple):
  """Medians of alternated measurements: the training pipeline's clips/s and the JPEG-decode
  bound's (decoding the same stored frames), their CPU milliseconds per clip, the batch shape."""

  clips_per_second: float
  bound_clips_per_second: float
  pipeline_cpu_ms: float
  bound_cpu_ms: float
  shape: tuple

  @property
  def ratio(self) -> float:
    return self.clips_per_second / self.bound_clips_per_second


def pipeline_against_bound(pattern, name, batch_size, num_batches, repeats):
  """`repeats` alternated measurements of layout `name`'s training pipeline (`num_batches`
  batches) and of decoding as many of the same stored frames as those batches need; one of each
  is too short to trust (a second or less, and the machine's load swings between them)."""
  images = stored_jpegs(pattern, 256)
  frames_per_clip = distinct_frames(name)
  frames = batch_size * num_batches * frames_per_clip
  pipelines, bounds = [], []
  for _ in range(repeats):
    bounds.append(decode_timing(images, num_frames=frames))
    timing, shape = pipeline_timing(pattern, layout_parser(name), batch_size, num_batches)
    pipelines.append(timing)
  median = statistics.median
  return PipelineAgainstBound(
    clips_per_second=median(t.rate for t in pipelines),
    bound_clips_per_second=median(t.rate for t in bounds) / frames_per_clip,
    pipeline_cpu_ms=median(t.cpu_seconds_per_item for t in pipelines) * 1e3,
    bound_cpu_ms=median(t.cpu_seconds_per_item for t in bounds) * frames_per_clip * 1e3,
    shape=tuple(shape),
  )


def main(argv):
  del argv
  work = Path(FLAGS.work_dir)
  video, num_keyframes, source = prepare_source(work, FLAGS.seconds)
  print(
    "source: %s, %d s, %d keyframes, %d CPU cores"
    % (source, FLAGS.seconds, num_keyframes, os.cpu_count())
  )
  print("raw H.264 decode (PyAV, 224x224): %.0f frames/s" % raw_video_decode_rate(video))
  for name, (short_side, _) in LAYOUTS.items():
    summary, seconds = convert(work, name)
    keyframes = summary["keyframes"]
    bound_seconds, encoded = decode_encode_bound(video, name, keyframe_timestamps(FLAGS.seconds))
    print(
      "[%s] conversion (1 process, short side %d, 64 frames/keyframe, %.0f kB/keyframe): "
      "%.2f keyframes/s (%.0f stored frames/s) | decode once + encode once (%d frames): "
      "%.2f keyframes/s; conversion/bound = %.2f"
      % (
        name,
        short_side,
        summary["bytes"] / 1e3 / keyframes,
        keyframes / seconds,
        summary["frames"] / seconds,
        encoded,
        keyframes / bound_seconds,
        bound_seconds / seconds,
      )
    )
    result = pipeline_against_bound(
      summary["file_pattern"], name, FLAGS.batch_size, FLAGS.num_batches, FLAGS.repeats
    )
    print(
      "[%s] input pipeline (training, augmentation, batches %s): %.2f clips/s, %.0f CPU-ms/clip "
      "| JPEG decode bound (%d distinct frames per clip): %.2f clips/s, %.0f CPU-ms/clip; "
      "pipeline/bound = %.2f (medians of %d)"
      % (
        name,
        result.shape,
        result.clips_per_second,
        result.pipeline_cpu_ms,
        distinct_frames(name),
        result.bound_clips_per_second,
        result.bound_cpu_ms,
        result.ratio,
        FLAGS.repeats,
      )
    )


if __name__ == "__main__":
  define_flags()
  app.run(main)
