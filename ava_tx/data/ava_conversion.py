"""AVA annotations + videos -> sharded TFRecords of per-keyframe SequenceExamples.

The command line is data_tools/create_ava_tf_record.py. Work is split by shard: shard i
holds the videos dealt to it by `tfrecord_writer.assign_shards` (sorted ids, round-robin), in
sorted (video_id, timestamp) order, so the bytes of every shard depend only on the inputs and
settings, not on the number of workers or on interruptions. Worker processes (spawned, one
shard at a time) convert shards in parallel; complete shards are skipped on a rerun.

`plan_conversion` (reading, checks, assignment) and `convert_keyframes` (the records of one
video or of a range of its keyframes) are shared with the Beam pipeline (beam_conversion.py),
which writes the same shards. Statistics of tasks, shards and runs: `conversion_stats`."""

import collections
import dataclasses
import hashlib
import multiprocessing
import os
import queue as queue_lib
import sys
import time
from typing import Optional

from ava_tx.core import errors
from ava_tx.core.tf_setup import tf
from ava_tx.data import ava_annotations
from ava_tx.data import ava_clips
from ava_tx.data import label_map_util
from ava_tx.data import tfrecord_writer
from ava_tx.data import video_frames
from ava_tx.data.conversion_stats import count_record
from ava_tx.data.conversion_stats import format_summary  # noqa: F401 (re-exported for the CLIs)
from ava_tx.data.conversion_stats import merge_task_stats
from ava_tx.data.conversion_stats import new_stats
from ava_tx.data.conversion_stats import summarize

_progress_queue = None  # Set in worker processes by _init_worker.


@dataclasses.dataclass(frozen=True)
class VideoTask:
  video_id: str
  source: Optional[tuple]  # ("video", path) or ("frames", dir_path); None: not found.
  requests: tuple  # KeyframeRequests.


def find_video_sources(video_dir: str, video_ids) -> dict:
  """Maps each video id to ("frames", dir) if `video_dir/<id>/` holds frame images, else
  ("video", path) for `video_dir/<id>.<ext>` with a known video extension, else None."""
  try:
    entries = set(tf.io.gfile.listdir(video_dir))
  except tf.errors.NotFoundError:
    raise FileNotFoundError("video directory %s does not exist" % video_dir) from None
  names = {e.rstrip("/") for e in entries}
  by_stem = collections.defaultdict(list)
  for name in names:
    stem, ext = os.path.splitext(name)
    if ext.lower() in video_frames.VIDEO_EXTENSIONS:
      by_stem[stem].append(name)
  sources = {}
  for video_id in video_ids:
    path = os.path.join(video_dir, video_id)
    if video_id in names and tf.io.gfile.isdir(path):
      sources[video_id] = ("frames", path)
    elif by_stem.get(video_id):
      sources[video_id] = ("video", os.path.join(video_dir, sorted(by_stem[video_id])[0]))
    else:
      sources[video_id] = None
  return sources


def _open_source(kind, path):
  if kind == "frames":
    names = video_frames.list_frame_files(n.rstrip("/") for n in tf.io.gfile.listdir(path))
    if not names:
      raise video_frames.VideoReadError("frame folder %s holds no .jpg/.png files" % path)

    def reader(full):
      def read():
        with tf.io.gfile.GFile(full, "rb") as f:
          return f.read()

      return read

    return ("frames", [(os.path.join(path, n), reader(os.path.join(path, n))) for n in names])
  if "://" in path:  # gs:// and other remote file systems: PyAV reads a file object.
    return ("video", tf.io.gfile.GFile(path, "rb"))
  return ("video", path)


def convert_keyframes(
  task: VideoTask, settings: ava_clips.ClipSettings, write, progress=None
) -> dict:
  """The work of both converters: the keyframes of one task, as serialized SequenceExamples.

  A task is a whole video (create_ava_tf_record) or a range of its keyframes (the Beam
  pipeline). The video is opened once and each stored frame is decoded and encoded once
  (ava_clips.extract_clips caches the encoded frames that neighbouring clips share).

  Args:
    task: VideoTask; its requests are in timestamp order.
    settings: ClipSettings.
    write: called with each record (bytes), in timestamp order.
    progress: optional, called with 1 after each record.

  Returns:
    Stats dict of the task: the keys of a shard's stats (`labels_per_class` a Counter of AVA
    ids, `videos_failed` {video_id: reason} if the video could not be read) and `video_ids`.
  """
  stats = new_stats()
  stats.update(labels_per_class=collections.Counter(), video_ids=[task.video_id])
  done = set()
  if task.source is None:
    stats["videos_failed"][task.video_id] = "video not found"
  else:
    try:
      source = _open_source(*task.source)
      for item in ava_clips.extract_clips(task.video_id, source, task.requests, settings):
        if isinstance(item, ava_clips.SkippedKeyframe):
          done.add(item.timestamp)
          stats["skipped_keyframes"].append([task.video_id, item.timestamp, item.reason])
          continue
        done.add(item.request.timestamp)
        record = ava_clips.clip_to_sequence_example(item, settings).SerializeToString(
          deterministic=True
        )
        write(record)
        count_record(stats, item, record)
        if progress:
          progress(1)
    except (video_frames.VideoReadError, OSError, tf.errors.OpError) as e:
      stats["videos_failed"][task.video_id] = str(e).strip()
  for request in task.requests:
    if request.timestamp not in done:
      stats["skipped_keyframes"].append(
        [
          task.video_id,
          request.timestamp,
          "video failed: " + stats["videos_failed"].get(task.video_id, "unknown"),
        ]
      )
  return stats


def convert_shard(shard: str, tasks, settings: ava_clips.ClipSettings, progress=None) -> dict:
  """Converts the videos of one shard and commits it atomically. Returns its stats dict."""
  task_stats = []
  with tfrecord_writer.AtomicShardWriter(shard) as writer:
    for task in tasks:
      task_stats.append(convert_keyframes(task, settings, writer.write, progress))
    stats = merge_task_stats(task_stats, writer.num_records)
    writer.commit(stats)
  return stats


def split_task(task: VideoTask, keyframes_per_task: int) -> list:
  """Splits a video's task into tasks of at most `keyframes_per_task` consecutive keyframes
  (in timestamp order), so a long movie is converted by several workers."""
  if keyframes_per_task < 1:
    raise errors.InputError("keyframes_per_task must be >= 1, got %r" % keyframes_per_task)
  requests = sorted(task.requests, key=lambda r: r.timestamp)
  return [
    dataclasses.replace(task, requests=tuple(requests[i : i + keyframes_per_task]))
    for i in range(0, max(len(requests), 1), keyframes_per_task)
  ]


def _init_worker(progress_queue):
  global _progress_queue
  _progress_queue = progress_queue


def _convert_shard_in_worker(args):
  shard, tasks, settings = args
  return shard, convert_shard(shard, tasks, settings, progress=_progress_queue.put)


def _file_digest(paths):
  digest = hashlib.sha256()
  for path in paths:
    if path:
      with tf.io.gfile.GFile(path, "rb") as f:
        digest.update(f.read())
  return digest.hexdigest()


def build_tasks(annotations: dict, person_boxes: Optional[dict], video_dir: str) -> dict:
  """{video_id: VideoTask} from {(video_id, timestamp): [BoxAnnotation]} and optional
  {(video_id, timestamp): [PersonBox]} (proposals of annotated keyframes only)."""
  per_video = collections.defaultdict(list)
  for (video_id, timestamp), boxes in sorted(annotations.items()):
    proposals = tuple(person_boxes.get((video_id, timestamp), ())) if person_boxes else ()
    per_video[video_id].append(ava_clips.KeyframeRequest(timestamp, tuple(boxes), proposals))
  sources = find_video_sources(video_dir, sorted(per_video))
  return {v: VideoTask(v, sources[v], tuple(per_video[v])) for v in sorted(per_video)}


@dataclasses.dataclass
class ConversionPlan:
  """What a run converts. `tasks`: {video_id: VideoTask}; `assignment`: video ids per shard;
  `pending_shards`: indices of the shards still to write; `reports`: CSV read reports."""

  output_prefix: str
  num_shards: int
  tasks: dict
  assignment: list
  pending_shards: list
  reports: list

  def shard_path(self, shard_index: int) -> str:
    return tfrecord_writer.shard_path(self.output_prefix, shard_index, self.num_shards)

  def pending_keyframes(self) -> int:
    return sum(len(self.tasks[v].requests) for i in self.pending_shards for v in self.assignment[i])


def plan_conversion(
  *,
  annotations_csv: str,
  video_dir: str,
  output_prefix: str,
  num_shards: int,
  settings: ava_clips.ClipSettings,
  label_map: Optional[str] = None,
  person_boxes_csv: Optional[str] = None,
  min_person_score: float = 0.0,
  skip_bad_rows: bool = False,
  overwrite: bool = False,
  log=print,
) -> ConversionPlan:
  """Reads the CSVs, finds the videos, checks or writes `<prefix>.settings.json`, removes
  unfinished shards and returns what is left to convert (arguments: see `convert`)."""
  annotations, person_boxes, reports = _read_csvs(
    annotations_csv,
    label_map=label_map,
    person_boxes_csv=person_boxes_csv,
    min_person_score=min_person_score,
    skip_bad_rows=skip_bad_rows,
  )
  for report in reports:
    log(report.summary())
  tasks = build_tasks(annotations, person_boxes, video_dir)
  tfrecord_writer.check_or_write_settings(
    output_prefix,
    {
      "settings": dataclasses.asdict(settings),
      "num_shards": num_shards,
      "inputs_sha256": _file_digest([annotations_csv, person_boxes_csv, label_map]),
      "min_person_score": min_person_score,
    },
    overwrite=overwrite,
  )
  for stale in tfrecord_writer.remove_stale_temporaries(output_prefix):
    log("removed unfinished shard %s" % stale)
  done = tfrecord_writer.completed_shards(output_prefix, num_shards)
  if done:
    log("resuming: %d of %d shards already complete" % (len(done), num_shards))
  return ConversionPlan(
    output_prefix,
    num_shards,
    tasks,
    tfrecord_writer.assign_shards(tasks, num_shards),
    [i for i in range(num_shards) if i not in done],
    reports,
  )


def _read_csvs(annotations_csv, *, label_map, person_boxes_csv, min_person_score, skip_bad_rows):
  """(annotations by key, person boxes by key or None, [ReadReport]) of the input CSVs."""
  label_ids = None
  if label_map:
    with tf.io.gfile.GFile(label_map, "r") as f:
      label_ids = [e.id for e in label_map_util.read_label_map(f)]
  with tf.io.gfile.GFile(annotations_csv, "r") as f:
    result = ava_annotations.read_annotations(
      f, label_map_ids=label_ids, skip_bad_rows=skip_bad_rows
    )
  if not result.annotations and not result.report.skipped:
    raise errors.InputError("%s: no annotation rows (empty file?)" % annotations_csv)
  if not person_boxes_csv:
    return result.annotations, None, [result.report]
  with tf.io.gfile.GFile(person_boxes_csv, "r") as f:
    boxes_result = ava_annotations.read_person_boxes(
      f, skip_bad_rows=skip_bad_rows, min_score=min_person_score
    )
  return result.annotations, boxes_result.annotations, [result.report, boxes_result.report]


def convert(
  *,
  annotations_csv: str,
  video_dir: str,
  output_prefix: str,
  num_shards: int,
  settings: ava_clips.ClipSettings,
  num_workers: int = 1,
  label_map: Optional[str] = None,
  person_boxes_csv: Optional[str] = None,
  min_person_score: float = 0.0,
  skip_bad_rows: bool = False,
  overwrite: bool = False,
  log=print,
) -> dict:
  """Runs the whole conversion; returns the summary dict (see `format_summary`).

  Args:
    annotations_csv: AVA ground-truth CSV (local or gs://).
    video_dir: directory of `<video_id>.<ext>` videos and/or `<video_id>/` frame folders.
    output_prefix: shards are `<output_prefix>-%05d-of-%05d`.
    num_shards: number of shards (fixed for a given output: it determines the assignment).
    settings: ClipSettings.
    num_workers: worker processes; 1 converts in this process.
    label_map: optional label map; rows with ids outside it are bad rows.
    person_boxes_csv: optional person-detector boxes attached as proposals.
    min_person_score: person boxes below this score are not attached.
    skip_bad_rows: skip (and count) bad CSV rows instead of failing.
    overwrite: delete existing shards of this prefix first.
    log: function taking a line of text.
  """
  start = time.time()
  plan = plan_conversion(
    annotations_csv=annotations_csv,
    video_dir=video_dir,
    output_prefix=output_prefix,
    num_shards=num_shards,
    settings=settings,
    label_map=label_map,
    person_boxes_csv=person_boxes_csv,
    min_person_score=min_person_score,
    skip_bad_rows=skip_bad_rows,
    overwrite=overwrite,
    log=log,
  )
  jobs = [
    (plan.shard_path(i), [plan.tasks[v] for v in plan.assignment[i]], settings)
    for i in plan.pending_shards
  ]
  progress = _Progress(plan.pending_keyframes(), log)
  if num_workers <= 1 or len(jobs) <= 1:
    for shard, shard_tasks, shard_settings in jobs:
      convert_shard(shard, shard_tasks, shard_settings, progress=progress.add)
  else:
    _run_pool(jobs, num_workers, progress)
  progress.finish()
  return summarize(output_prefix, num_shards, plan.reports, time.time() - start, progress.count)


def _run_pool(jobs, num_workers, progress):
  context = multiprocessing.get_context("spawn")  # No fork after TensorFlow is loaded.
  progress_queue = context.Queue()
  with context.Pool(
    min(num_workers, len(jobs)), initializer=_init_worker, initargs=(progress_queue,)
  ) as pool:
    pending = pool.map_async(_convert_shard_in_worker, jobs, chunksize=1)
    while not pending.ready():
      try:
        progress.add(progress_queue.get(timeout=0.2))
      except queue_lib.Empty:
        pass
    pending.get()  # Re-raises a worker's exception.
    while True:
      try:
        progress.add(progress_queue.get_nowait())
      except queue_lib.Empty:
        break


class _Progress:
  """A one-line progress display with keyframes per second."""

  def __init__(self, total, log):
    self.total, self.log, self.count = total, log, 0
    self.start = self.last = time.time()
    self.tty = sys.stderr.isatty()

  def add(self, n):
    self.count += n
    now = time.time()
    if now - self.last >= (0.5 if self.tty else 10.0):
      self.last = now
      line = "%d/%d keyframes, %.1f keyframes/s" % (
        self.count,
        self.total,
        self.count / max(now - self.start, 1e-9),
      )
      if self.tty:
        sys.stderr.write("\r" + line)
        sys.stderr.flush()
      else:
        self.log(line)

  def finish(self):
    if self.tty:
      sys.stderr.write("\n")
    self.elapsed = time.time() - self.start
