"""Runs a detector over whole videos: clips around keyframes, batches, CSV, annotated outputs.

Per video, frames are decoded once and streamed: `ClipAssembler` hands out each keyframe's clip
as soon as its last frame is decoded, clips are run in batches, and each frame of the annotated
video is written once the detections of the keyframe it shows are known. A frame shows the
detections of the latest keyframe at or before it, for at most one keyframe interval
(1 / keyframe_rate, or 1 s with explicit timestamps); frames before the first keyframe show
none.

Outputs in `output_dir`: `detections.csv` (AVA detection layout; video id = the file's stem,
timestamp = segment_start + keyframe time for keyframes at whole seconds; one row per
(box, class) with the class probability), and unless `write_video` is False, `<video_id>.mp4`
(H.264, the input's frame count and rate) and `<video_id>/keyframe_<time>.png`.
"""

import collections
import dataclasses
import fractions
import logging
import math
import os
import time
from typing import Callable, List, Optional, Sequence

import numpy as np
from PIL import Image

from ava_tx.core import errors
from ava_tx.core.standard_fields import ServingFields
from ava_tx.data import detection_writer
from ava_tx.data import video_frames
from ava_tx.inference import person_boxes as person_boxes_lib
from ava_tx.inference import rendering
from ava_tx.inference import video_clips
from ava_tx.inference import video_source

DETECTIONS_CSV = "detections.csv"
SCORE_FORMAT = "%.9g"  # float32 probabilities written exactly: ties only where the model ties.
VIDEO_ERRORS = (video_frames.VideoReadError, FileNotFoundError, errors.InputError)


@dataclasses.dataclass(frozen=True)
class PredictOptions:
  """Settings of a predict run (see the predict command's flags)."""

  output_dir: str
  keyframe_rate: float = 1.0
  timestamps: Optional[tuple] = None
  batch_size: int = 4
  write_video: bool = True
  segment_start: float = 0.0
  folder_fps: float = 30.0
  max_labels: int = 3
  min_person_score: float = 0.5
  min_action_score: float = 0.1
  warm_up: bool = True  # One call on a blank clip first, so clips/s measures steady state.
  min_output_height: int = 360  # Smaller videos are drawn scaled up by an integer factor.


@dataclasses.dataclass
class VideoResult:
  """What happened to one input. `error` is set when the video failed (its rows are dropped)."""

  path: str
  video_id: str = ""
  num_frames: int = 0
  num_keyframes: int = 0
  model_seconds: float = 0.0
  seconds: float = 0.0
  video_path: Optional[str] = None
  keyframe_dir: Optional[str] = None
  warnings: list = dataclasses.field(default_factory=list)
  error: Optional[str] = None
  rows: list = dataclasses.field(default_factory=list)


def keyframe_name(seconds: float) -> str:
  """PNG name of a keyframe: keyframe_0003.png, or keyframe_0003.500.png between seconds."""
  exact = fractions.Fraction(str(seconds))
  if exact.denominator == 1:
    return "keyframe_%04d.png" % int(exact)
  return "keyframe_%08.3f.png" % float(exact)


def detections_of(outputs: dict, row: int) -> rendering.KeyframeDetections:
  """The valid detections of batch row `row` of the detector's outputs."""
  n = int(outputs[ServingFields.num_detections][row])
  return rendering.KeyframeDetections(
    np.clip(np.asarray(outputs[ServingFields.detection_boxes][row, :n], np.float32), 0.0, 1.0),
    np.asarray(outputs[ServingFields.detection_scores][row, :n], np.float32),
    np.asarray(outputs[ServingFields.detection_multiclass_scores][row, :n], np.float32),
  )


def detection_rows(
  video_id: str, timestamp: int, detections: rendering.KeyframeDetections, class_ids: Sequence[int]
) -> list:
  """One DetectionRow per (box, class): the class probability as its score."""
  return [
    detection_writer.DetectionRow(
      video_id, timestamp, tuple(float(v) for v in box), int(class_id), float(score)
    )
    for box, scores in zip(detections.boxes, detections.action_scores)
    for class_id, score in zip(class_ids, scores)
  ]


class _VideoRun:
  """The state of one video's run (see the module docstring)."""

  def __init__(self, detector, video, options, box_source, log):
    info = detector.info
    self.detector, self.video, self.options, self.box_source = detector, video, options, box_source
    self.log = log
    self.spec = video_clips.ClipSpec(
      info.num_frames, info.frame_stride, fractions.Fraction(str(info.model_fps))
    )
    times = video_clips.keyframe_times(
      rate_hz=None if options.timestamps else options.keyframe_rate,
      timestamps=(
        [t - options.segment_start for t in options.timestamps] if options.timestamps else None
      ),
    )
    self.assembler = video_clips.ClipAssembler(self.spec, video.native_fps, times)
    self.carry = 1.0 if options.timestamps else 1.0 / options.keyframe_rate
    self.keep_full = options.write_video or (box_source is not None and box_source.needs_frames)
    self.held = collections.OrderedDict()  # native index -> full frame, not yet written.
    self.batch, self.done = [], []  # done: (native index, time, detections), time order.
    self.result = VideoResult(video.path, video.video_id)
    self.writer = None

  def run(self) -> VideoResult:
    started = time.perf_counter()
    options = self.options
    if options.write_video:
      self.result.video_path = os.path.join(options.output_dir, self.video.video_id + ".mp4")
      self.result.keyframe_dir = os.path.join(options.output_dir, self.video.video_id)
      os.makedirs(self.result.keyframe_dir, exist_ok=True)
      self.writer = rendering.AnnotatedVideoWriter(self.result.video_path, self.video.native_fps)
    try:
      size = (self.detector.info.image_height, self.detector.info.image_width)
      for index, full, small in video_source.iter_frames(
        self.video, model_size=size, keep_full=self.keep_full
      ):
        self.result.num_frames = index + 1
        if full is not None:
          self.held[index] = full
        for clip in self.assembler.add_frame(index, small):
          self._add_clip(clip)
      for clip in self.assembler.finish():
        self._add_clip(clip)
      self._run_batch()
      self._write_frames(math.inf)
    finally:
      if self.writer is not None:
        self.writer.close()
    self._check_end()
    self.result.seconds = time.perf_counter() - started
    return self.result

  def _check_end(self):
    video, result = self.video, self.result
    if video_clips.is_short_video(result.num_frames, self.spec, video.native_fps):
      result.warnings.append(
        "%s: %d frames (%.2f s) is shorter than one clip (%.2f s): clips padded with edge "
        "frames"
        % (
          video.path,
          result.num_frames,
          result.num_frames / video.native_fps,
          self.spec.span_seconds,
        )
      )
    if self.assembler.skipped_times:
      result.warnings.append(
        "%s: timestamps beyond the video's end (%.2f s) skipped: %s"
        % (
          video.path,
          result.num_frames / video.native_fps,
          ", ".join("%g" % (t + self.options.segment_start) for t in self.assembler.skipped_times),
        )
      )

  def _add_clip(self, clip):
    boxes = None
    if self.box_source is not None:
      frame = self.held.get(clip.native_index) if self.box_source.needs_frames else None
      boxes = self.box_source.boxes(
        self.video.video_id, clip.time + self.options.segment_start, frame
      )
    self.batch.append((clip, boxes))
    held_bytes = sum(f.nbytes for f in self.held.values())
    if len(self.batch) >= self.options.batch_size or held_bytes > (1 << 30):
      self._run_batch()
      self._write_frames(
        min([self.assembler.unfinished_native_index()] + [c.native_index for c, _ in self.batch])
      )

  def _run_batch(self):
    if not self.batch:
      return
    clips = [clip for clip, _ in self.batch]
    frames = np.stack([clip.frames for clip in clips])
    kwargs = {}
    if self.detector.info.uses_person_boxes:
      kwargs["person_boxes"], kwargs["num_person_boxes"] = person_boxes_lib.pad_person_boxes(
        [boxes for _, boxes in self.batch]
      )
    started = time.perf_counter()
    outputs = self.detector(frames, **kwargs)
    self.result.model_seconds += time.perf_counter() - started
    for row, clip in enumerate(clips):
      self._keyframe_done(clip, detections_of(outputs, row))
    self.batch = []
    self.result.num_keyframes += len(clips)
    self.log(
      "%s: %d keyframes, video time %.1f s, %.2f clips/s (model)"
      % (
        self.video.video_id,
        self.result.num_keyframes,
        clips[-1].time,
        self.result.num_keyframes / max(self.result.model_seconds, 1e-9),
      )
    )

  def _keyframe_done(self, clip, detections):
    info, options = self.detector.info, self.options
    self.done.append((clip.native_index, clip.time, detections))
    timestamp = fractions.Fraction(str(clip.time)) + fractions.Fraction(str(options.segment_start))
    if timestamp.denominator == 1:
      self.result.rows.extend(
        detection_rows(
          self.video.video_id, int(timestamp), detections, [i for i, _ in info.label_map]
        )
      )
    if options.write_video:
      frame = self._draw(self.held[clip.native_index], detections, clip.time)
      Image.fromarray(frame).save(
        os.path.join(self.result.keyframe_dir, keyframe_name(float(timestamp)))
      )

  def _draw(self, frame, detections, seconds):
    options = self.options
    frame = rendering.upscaled(frame, options.min_output_height)
    return rendering.draw_detections(
      frame,
      detections.above(options.min_person_score),
      self.detector.info.label_map,
      max_labels=options.max_labels,
      min_action_score=options.min_action_score,
      caption="%s  t=%.2f s" % (self.video.video_id, seconds + options.segment_start),
    )

  def _write_frames(self, boundary):
    """Writes (and forgets) the held frames before native index `boundary`."""
    while self.held and next(iter(self.held)) < boundary:
      index, frame = self.held.popitem(last=False)
      if self.writer is None:
        continue
      governing = self._governing(index)
      if governing is not None:
        frame = self._draw(frame, governing[2], governing[1])
      else:
        frame = rendering.upscaled(frame, self.options.min_output_height)
      self.writer.write(frame)

  def _governing(self, index):
    seconds = index / self.video.native_fps
    chosen = None
    for item in self.done:
      if item[0] <= index:
        chosen = item
    if chosen is None or seconds - chosen[1] >= self.carry - 1e-9:
      return None
    return chosen


def warm_up(detector) -> float:
  """Calls the detector once on a blank clip (the first call sets up the graph); returns its
  seconds."""
  info = detector.info
  frames = np.zeros([1, info.num_frames, info.image_height, info.image_width, 3], np.uint8)
  kwargs = {}
  if info.uses_person_boxes:
    kwargs = {
      "person_boxes": np.array([[[0.0, 0.0, 1.0, 1.0]]], np.float32),
      "num_person_boxes": np.array([1], np.int32),
    }
  started = time.perf_counter()
  detector(frames, **kwargs)
  return time.perf_counter() - started


def predict_videos(
  detector,
  paths: Sequence[str],
  options: PredictOptions,
  *,
  box_source=None,
  log: Callable[[str], None] = logging.info,
) -> List[VideoResult]:
  """Runs `detector` over each video, writes detections.csv; one failing video does not stop
  the others (its VideoResult has `error`, and its rows are left out)."""
  os.makedirs(options.output_dir, exist_ok=True)
  if options.warm_up:
    log("model warm-up (first call on a blank clip): %.2f s" % warm_up(detector))
  results, seen = [], {}
  for path in paths:
    result = VideoResult(path, video_source.video_id_of(path))
    try:
      if result.video_id in seen:
        raise errors.InputError(
          "%s: same video id %r as %s (ids are file stems and must be "
          "distinct)" % (path, result.video_id, seen[result.video_id])
        )
      seen[result.video_id] = path
      video = video_source.open_video(path, folder_fps=options.folder_fps)
      if box_source is not None:
        box_source.check_video(video.video_id, path)
      result = _VideoRun(detector, video, options, box_source, log).run()
    except VIDEO_ERRORS as e:
      result.error = str(e) if path in str(e) else "%s: %s" % (path, e)
      result.rows = []
    for warning in result.warnings:
      log("warning: " + warning)
    results.append(result)
  rows = [row for result in results for row in result.rows]
  detection_writer.write_detections(
    os.path.join(options.output_dir, DETECTIONS_CSV), rows, score_format=SCORE_FORMAT
  )
  return results


def format_summary(results: Sequence[VideoResult], output_dir: str) -> str:
  """The lines predict prints at the end: one per video, then the totals."""
  lines = []
  for r in results:
    if r.error:
      lines.append("%s: FAILED: %s" % (r.video_id, r.error))
      continue
    lines.append(
      "%s: %d frames, %d keyframes, %d CSV rows, %.2f clips/s (model), %.2f clips/s "
      "(end to end)%s"
      % (
        r.video_id,
        r.num_frames,
        r.num_keyframes,
        len(r.rows),
        r.num_keyframes / max(r.model_seconds, 1e-9),
        r.num_keyframes / max(r.seconds, 1e-9),
        "; video %s" % r.video_path if r.video_path else "",
      )
    )
  done = [r for r in results if not r.error]
  clips = sum(r.num_keyframes for r in done)
  lines.append(
    "%d of %d videos done, %d clips, %.2f clips/s (model), %.2f clips/s (end to end); "
    "detections: %s/detections.csv"
    % (
      len(done),
      len(results),
      clips,
      clips / max(sum(r.model_seconds for r in done), 1e-9),
      clips / max(sum(r.seconds for r in done), 1e-9),
      output_dir,
    )
  )
  return "\n".join(lines)
