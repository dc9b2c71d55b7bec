"""Data figures: conversion keyframes/s against decoding the video once and encoding each stored
frame once (and raw video decoding), input-pipeline clips/s
against raw JPEG decoding of the same stored frames, and the fraction of a tiny-config training
step spent waiting for input (benchmarks.data_benchmark's source video and layouts)."""

import dataclasses
from pathlib import Path
import time

from ava_tx.data import dataset as dataset_lib
from ava_tx.data import parser as parser_lib
from benchmarks import data_benchmark
from benchmarks.suite import common
from benchmarks.suite import models

_KEYFRAME_EVERY = 30  # frames of the 30 fps video per keyframe (1 Hz)


def _layout_rows(work, name, source, batch_size, num_batches, repeats):
  video, timestamps, video_fps = source
  summary, seconds = data_benchmark.convert(work, name)
  keyframes = summary["keyframes"]
  bound_seconds, encoded = data_benchmark.decode_encode_bound(video, name, timestamps)
  section = f"data, {name} layout"
  rows = [
    common.row(
      section,
      "conversion (1 process)",
      keyframes / seconds,
      "keyframes/s",
      "decode once + encode each stored frame once",
      keyframes / bound_seconds,
      note=f"{summary['bytes'] / 1e3 / keyframes:.0f} kB/keyframe; {encoded} frames encoded "
      f"by the bound; raw video decode alone {video_fps / _KEYFRAME_EVERY:.1f} keyframes/s",
    )
  ]
  result = data_benchmark.pipeline_against_bound(
    summary["file_pattern"], name, batch_size, num_batches, repeats
  )
  rows.append(
    common.row(
      section,
      f"input pipeline {result.shape}",
      result.clips_per_second,
      "clips/s",
      "JPEG-decode bound",
      result.bound_clips_per_second,
      note=f"medians of {repeats} alternated runs of {num_batches} batches; CPU time per clip: "
      f"pipeline {result.pipeline_cpu_ms:.0f} ms, decoding {result.bound_cpu_ms:.0f} ms "
      f"({result.bound_cpu_ms / result.pipeline_cpu_ms:.2f})",
    )
  )
  return rows, summary["file_pattern"]


def wait_fraction_row(file_pattern, quick, steps, trunk_final_endpoint=None):
  """Tiny config: fraction of each training step spent in next(iterator).
  `trunk_final_endpoint`: see models.sizes."""
  tiny, _ = models.sizes(quick, trunk_final_endpoint)
  tiny = dataclasses.replace(tiny, num_frames=16, image_size=112)
  config = models.model_config(tiny)
  config.num_classes = 2  # the benchmark's label ids 12 and 80
  model = models.model_builder.build(config)
  parser = parser_lib.AvaParser(
    num_frames=16,
    frame_stride=4,
    output_size=(112, 112),
    label_map_ids=[12, 80],
    max_num_boxes=8,
    max_num_proposals=16,
  )
  iterator = iter(
    dataset_lib.build_dataset(
      file_pattern=file_pattern,
      parser=parser,
      batch_size=tiny.batch_size,
      is_training=True,
      seed=1,
      shuffle_buffer_size=16,
    )
  )
  step = models.train_step(model)
  for _ in range(2):
    step(next(iterator)).numpy()
  waiting = total = 0.0
  for _ in range(steps):
    start = time.perf_counter()
    batch = next(iterator)
    got = time.perf_counter()
    step(batch).numpy()
    waiting += got - start
    total += time.perf_counter() - start
  return common.row(
    "data, tiny layout",
    "time waiting for input / step time",
    waiting / total,
    "fraction",
    note=f"{steps} steps of batch {tiny.batch_size}, {tiny.batch_size * steps / total:.2f} clips/s",
  )


def rows(quick: bool, work_dir: str, trunk_final_endpoint=None, repeats: int = 3):
  work = Path(work_dir)
  seconds = 6 if quick else 12
  video, _, source = data_benchmark.prepare_source(work, seconds)
  video_fps = data_benchmark.raw_video_decode_rate(video)
  result = [common.row("data", "raw H.264 decode (PyAV)", video_fps, "frames/s", note=source)]
  layouts = ("tiny",) if quick else ("tiny", "paper")
  for name in layouts:
    layout_rows, pattern = _layout_rows(
      work,
      name,
      (video, data_benchmark.keyframe_timestamps(seconds), video_fps),
      2,
      3 if quick else 10,
      repeats,
    )
    result += layout_rows
    if name == "tiny":
      result.append(wait_fraction_row(pattern, quick, 3 if quick else 20, trunk_final_endpoint))
  return result
