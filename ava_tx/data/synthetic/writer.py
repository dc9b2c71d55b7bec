"""Writes the synthetic AVA-format dataset: H.264 videos, CSVs, label map, summary.

Time layout (AVA's, from ava_constants): video second 0 is movie second `segment_start`
(default 900). Keyframes are the whole seconds segment_start + 2 .. segment_start + seconds - 2
(AVA's 902..1798 for a 900 s segment), and keyframe t is frame (t - segment_start) * fps, so the
converter's `--segment_start` must equal the generator's.
"""

import collections
import concurrent.futures
import dataclasses
import fractions
import json
import os
import tempfile

import av
import numpy as np

from ava_tx.core import ava_constants
from ava_tx.core import file_io
from ava_tx.data.synthetic import classes
from ava_tx.data.synthetic import labels as labels_lib
from ava_tx.data.synthetic import render
from ava_tx.data.synthetic import simulate
from ava_tx.data.synthetic import statistics

VIDEO_DIR = "videos"
VIDEO_EXTENSION = ".mp4"
LABEL_MAP = "label_map.pbtxt"
SUMMARY = "summary.json"
SPLITS = ("train", "val")
# Per split: ground truth, excluded keyframes, person-detector boxes.
SPLIT_FILES = {
  "groundtruth": "%s.csv",
  "excluded": "%s_excluded_timestamps.csv",
  "person_boxes": "%s_predicted_boxes.csv",
}
BOX_FORMAT = "%.3f"  # AVA ground truth writes 3 decimals.
KEYFRAME_MARGIN_START = ava_constants.FIRST_TIMESTAMP - ava_constants.SEGMENT_START_SEC
KEYFRAME_MARGIN_END = ava_constants.SEGMENT_END_SEC - ava_constants.LAST_TIMESTAMP


@dataclasses.dataclass(frozen=True)
class SynthConfig:
  """What to generate. Every field is a flag of data_tools/synth_ava.py."""

  num_videos: int = 8
  seconds: int = 10
  seed: int = 0
  width: int = 160
  height: int = 120
  fps: int = ava_constants.FPS
  segment_start: int = ava_constants.SEGMENT_START_SEC
  val_fraction: float = 0.25
  excluded_fraction: float = 0.05
  crf: int = 18
  video_id_prefix: str = "synth"

  def validate(self):
    """Raises ValueError naming the bad field."""
    min_seconds = KEYFRAME_MARGIN_START + KEYFRAME_MARGIN_END
    checks = [
      (self.num_videos >= 1, "num_videos must be >= 1, got %d" % self.num_videos),
      (
        self.seconds >= min_seconds,
        "seconds must be >= %d (keyframes start %d s after the video start and end %d s "
        "before its end), got %d"
        % (min_seconds, KEYFRAME_MARGIN_START, KEYFRAME_MARGIN_END, self.seconds),
      ),
      (
        self.width >= 32 and self.width % 2 == 0,
        "width must be even and >= 32 (yuv420p), got %d" % self.width,
      ),
      (
        self.height >= 32 and self.height % 2 == 0,
        "height must be even and >= 32 (yuv420p), got %d" % self.height,
      ),
      (self.fps >= 2, "fps must be >= 2, got %d" % self.fps),
      (self.segment_start >= 0, "segment_start must be >= 0, got %d" % self.segment_start),
      (0 <= self.val_fraction < 1, "val_fraction must be in [0, 1), got %s" % self.val_fraction),
      (
        0 <= self.excluded_fraction < 1,
        "excluded_fraction must be in [0, 1), got %s" % self.excluded_fraction,
      ),
      ("," not in self.video_id_prefix, "video_id_prefix must not contain a comma"),
    ]
    for ok, message in checks:
      if not ok:
        raise ValueError(message)

  @property
  def num_frames(self):
    return self.seconds * self.fps

  def video_id(self, index):
    return "%s_%04d" % (self.video_id_prefix, index)

  def split_of(self, index):
    """'train' or 'val': the last round(num_videos * val_fraction) videos are val."""
    num_val = int(round(self.num_videos * self.val_fraction))
    return "val" if index >= self.num_videos - num_val else "train"

  def keyframe_timestamps(self):
    """AVA timestamps of the keyframes of every video (whole movie seconds)."""
    return range(
      self.segment_start + KEYFRAME_MARGIN_START,
      self.segment_start + self.seconds - KEYFRAME_MARGIN_END + 1,
    )

  def keyframe_frame_index(self, timestamp):
    return ava_constants.keyframe_frame_index(
      timestamp, segment_start=self.segment_start, fps=self.fps
    )


def make_scene(config, index):
  """The simulated scene of video `index`: a function of (seed, index) only."""
  rng = np.random.default_rng([config.seed, index, 0])
  return simulate.simulate_scene(
    rng, width=config.width, height=config.height, fps=config.fps, num_frames=config.num_frames
  )


def _mean_2x2(c):
  return (c[0::2, 0::2] + c[0::2, 1::2] + c[1::2, 0::2] + c[1::2, 1::2]) / 4.0


def rgb_to_yuv420p(rgb):
  """uint8 [height, width, 3] RGB (even height and width) -> uint8 [height * 3 // 2, width]
  yuv420p planes (Y, then U, then V), BT.601 limited range, chroma the mean of each 2x2 block.

  Done in numpy rather than by PyAV's reformat (libswscale): through that path one test
  process (PyAV 18.1 / FFmpeg 8) encoded the same frames into different bytes on a second call;
  the cause was not isolated. With this conversion the bytes have been the same in every run.
  """
  x = rgb.astype(np.float64)
  r, g, b = x[..., 0], x[..., 1], x[..., 2]
  y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0
  r2, g2, b2 = (_mean_2x2(c) for c in (r, g, b))
  u = 128.0 + (-37.797 * r2 - 74.203 * g2 + 112.0 * b2) / 255.0
  v = 128.0 + (112.0 * r2 - 93.786 * g2 - 18.214 * b2) / 255.0
  height, width = rgb.shape[:2]
  planes = [np.floor(p + 0.5).clip(0, 255).astype(np.uint8) for p in (y, u, v)]
  return np.concatenate(
    [planes[0], planes[1].reshape(height // 4, width), planes[2].reshape(height // 4, width)]
  )


def encode_video(path, frames, fps, *, crf=18):
  """Writes uint8 [num_frames, height, width, 3] RGB frames as H.264 (libx264, yuv420p) mp4.

  The colour conversion is ours (`rgb_to_yuv420p`) and x264 runs single-threaded with fixed
  settings, so the same frames give the same bytes. PyAV encodes to a local file: for a remote
  `path` (gs://) the video is encoded in a local temporary directory and then copied; either way
  `path` appears only once complete.
  """
  if file_io.is_remote(path):
    with tempfile.TemporaryDirectory(prefix="ava_tx_video_") as local_dir:
      local = os.path.join(local_dir, os.path.basename(path))
      encode_video(local, frames, fps, crf=crf)
      file_io.copy_into_place(local, path)
    return
  tmp = file_io.temporary_path(path) + ".mp4"  # PyAV picks the container from the extension.
  with av.open(tmp, mode="w") as container:
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height = frames.shape[2], frames.shape[1]
    stream.pix_fmt = "yuv420p"
    stream.time_base = fractions.Fraction(1, fps)
    stream.codec_context.thread_count = 1
    stream.options = {"crf": str(crf), "preset": "medium", "threads": "1"}
    for i, rgb in enumerate(frames):
      frame = av.VideoFrame.from_ndarray(rgb_to_yuv420p(rgb), format="yuv420p")
      frame.pts = i
      for packet in stream.encode(frame):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)
  file_io.rename(tmp, path)


def _format_box(box):
  ymin, xmin, ymax, xmax = box
  return ",".join(BOX_FORMAT % v for v in (xmin, ymin, xmax, ymax))


def _person_box_rows(rng, geometry, k, video_id, timestamp, config):
  """Noisy person-detector rows for keyframe frame k: jittered true boxes + false positives."""
  scene = geometry.scene
  scale = np.array([scene.height, scene.width, scene.height, scene.width], np.float64)
  detections = []
  boxes, clipped = geometry.boxes_absolute[k], geometry.clipped[k]
  for i in range(len(scene.persons)):
    area = np.prod(boxes[i, 2:] - boxes[i, :2])
    c_size = clipped[i, 2:] - clipped[i, :2]
    if c_size.min() < labels_lib.MIN_VISIBLE_SIZE or np.prod(c_size) < 0.25 * area:
      continue
    if rng.random() < 0.05:
      continue  # Missed detection.
    noise = rng.normal(0.0, 0.04, size=4)
    size = np.array([c_size[0], c_size[1], c_size[0], c_size[1]])
    box = labels_lib.clip_boxes(clipped[i] + noise * size, scene.height, scene.width)
    score = float(np.clip(1.0 - 2.0 * np.abs(noise).mean() + rng.normal(0, 0.03), 0.5, 0.999))
    detections.append((box / scale, score))
  for _ in range(rng.poisson(0.6)):
    box_height = rng.uniform(0.2, 0.7)
    box_width = min(0.9, box_height * rng.uniform(0.3, 0.6) * scene.height / scene.width)
    y, x = rng.uniform(0, 1 - box_height), rng.uniform(0, 1 - box_width)
    detections.append(
      (np.array([y, x, y + box_height, x + box_width]), float(rng.uniform(0.05, 0.6)))
    )
  detections.sort(key=lambda d: -d[1])
  key = "%s,%s" % (video_id, ava_constants.format_timestamp(timestamp))
  rows = []
  for box, score in detections:
    ymin, xmin, ymax, xmax = (float(BOX_FORMAT % v) for v in box)
    if xmin < xmax and ymin < ymax:  # Drop boxes that collapse when written with 3 decimals.
      rows.append("%s,%s,,%s\n" % (key, _format_box(box), ava_constants.SCORE_FORMAT % score))
  return rows


@dataclasses.dataclass
class VideoResult:
  """Everything generated for one video (the CSV rows as text lines)."""

  video_id: str
  split: str
  groundtruth_rows: list
  excluded_rows: list
  person_box_rows: list
  class_counts: collections.Counter
  num_boxes: int
  num_keyframes: int
  cues: statistics.CueCounter
  video_bytes: int


def generate_video(config, index, output_dir):
  """Simulates, renders, encodes and labels video `index`; returns its VideoResult."""
  video_id = config.video_id(index)
  scene = make_scene(config, index)
  frames = np.stack([render.render_frame(scene, t) for t in range(scene.num_frames)])
  path = os.path.join(output_dir, VIDEO_DIR, video_id + VIDEO_EXTENSION)
  encode_video(path, frames, config.fps, crf=config.crf)
  geometry = labels_lib.SceneGeometry(scene)
  excluded_rng = np.random.default_rng([config.seed, index, 1])
  boxes_rng = np.random.default_rng([config.seed, index, 2])
  result = VideoResult(
    video_id,
    config.split_of(index),
    [],
    [],
    [],
    collections.Counter(),
    0,
    0,
    statistics.CueCounter(),
    file_io.size(path),
  )
  for timestamp in config.keyframe_timestamps():
    k = config.keyframe_frame_index(timestamp)
    key = "%s,%s" % (video_id, ava_constants.format_timestamp(timestamp))
    result.person_box_rows += _person_box_rows(boxes_rng, geometry, k, video_id, timestamp, config)
    if excluded_rng.random() < config.excluded_fraction:
      result.excluded_rows.append(key + "\n")
      continue
    result.num_keyframes += 1
    for label in labels_lib.keyframe_labels(geometry, k):
      result.num_boxes += 1
      result.class_counts.update(label.action_ids)
      result.cues.add(statistics.person_cues(geometry, label.person_index, k, label.action_ids))
      for action_id in label.action_ids:
        result.groundtruth_rows.append(
          "%s,%s,%d,%d\n" % (key, _format_box(label.box), action_id, label.person_id)
        )
  return result


def _write_text(path, lines):
  file_io.write_text(path, "".join(lines))


def output_paths(output_dir):
  """{name: path} of every annotation file ('label_map', 'summary', '<split>_<kind>')."""
  paths = {
    "label_map": os.path.join(output_dir, LABEL_MAP),
    "summary": os.path.join(output_dir, SUMMARY),
  }
  for split in SPLITS:
    for kind, pattern in SPLIT_FILES.items():
      paths["%s_%s" % (split, kind)] = os.path.join(output_dir, pattern % split)
  return paths


def generate_dataset(config, output_dir, *, num_workers=1, progress=None):
  """Writes the whole dataset under output_dir (videos/ plus the files of `output_paths`).

  Args:
    config: SynthConfig.
    output_dir: destination directory (created if needed; existing files are replaced).
    num_workers: processes rendering videos in parallel (the output does not depend on it).
    progress: optional callable(num_done, num_videos) called after each video.

  Returns:
    dict summary (also written as summary.json): config, per-split counts of videos,
    keyframes, boxes and per-class labels, single-frame cue table, video bytes.
  """
  config.validate()
  file_io.makedirs(os.path.join(output_dir, VIDEO_DIR))
  results = _generate_videos(config, output_dir, num_workers, progress)
  paths = output_paths(output_dir)
  _write_text(paths["label_map"], [classes.label_map_pbtxt()])
  summary = {"config": dataclasses.asdict(config), "splits": {}}
  cues = statistics.CueCounter()
  for split in SPLITS:
    split_results = [r for r in results if r.split == split]
    for kind, attr in (
      ("groundtruth", "groundtruth_rows"),
      ("excluded", "excluded_rows"),
      ("person_boxes", "person_box_rows"),
    ):
      _write_text(
        paths["%s_%s" % (split, kind)], [row for r in split_results for row in getattr(r, attr)]
      )
    for r in split_results:
      cues.merge(r.cues)
    summary["splits"][split] = _split_summary(split_results)
  summary["single_frame_cues"] = _cue_rows(cues)
  _write_text(paths["summary"], [json.dumps(summary, indent=1, sort_keys=True) + "\n"])
  return summary


def _generate_videos(config, output_dir, num_workers, progress):
  """VideoResults of every video in index order, rendered by `num_workers` processes."""
  indices = range(config.num_videos)
  results = []
  if num_workers > 1:
    with concurrent.futures.ProcessPoolExecutor(num_workers) as pool:
      futures = [pool.submit(generate_video, config, i, output_dir) for i in indices]
      for done, future in enumerate(futures, 1):
        results.append(future.result())
        if progress:
          progress(done, config.num_videos)
  else:
    for i in indices:
      results.append(generate_video(config, i, output_dir))
      if progress:
        progress(i + 1, config.num_videos)
  return results


def _split_summary(split_results):
  """The summary.json counts of one split's VideoResults."""
  counts = collections.Counter()
  for r in split_results:
    counts.update(r.class_counts)
  return {
    "videos": len(split_results),
    "keyframes": sum(r.num_keyframes for r in split_results),
    "excluded_keyframes": sum(len(r.excluded_rows) for r in split_results),
    "boxes": sum(r.num_boxes for r in split_results),
    "person_detector_boxes": sum(len(r.person_box_rows) for r in split_results),
    "video_bytes": sum(r.video_bytes for r in split_results),
    "class_counts": {str(c.id): counts[c.id] for c in classes.SYNTHETIC_CLASSES},
  }


def _cue_rows(cues):
  """The single-frame cue table (statistics.CueCounter) as summary.json rows."""
  return [
    {
      "cue": name,
      "class_id": cls.id,
      "description": cue,
      "population": population,
      "positives": pos,
      "p_cue_given_positive": round(p_pos, 4),
      "negatives": neg,
      "p_cue_given_negative": round(p_neg, 4),
    }
    for name, cls, cue, population, pos, p_pos, neg, p_neg in cues.table()
  ]
