r"""Conversion benchmark: the Beam pipeline and the multiprocessing converter against the bound.

  python -m benchmarks.conversion_benchmark [--num_videos=8] [--short_side=400] \
      [--clip_frames=64] [--keyframes_per_task=60] [--work_dir=/tmp/ava_conversion_benchmark]

Input: the first --num_videos videos of the synthetic training split (--data_dir, default
workspace/data/synthetic as scripts/demo.sh writes it; 160x120, 20 s, 1 Hz keyframes), stored
as --clip_frames frames at 30 fps, short side --short_side (upscaled), JPEG q90: the paper
layout at 400 px by default.
All figures come from one run of this command, so they share the machine's load:
- bound: each video decoded once and each stored frame JPEG-encoded once, in this process;
- the shared work function in this process, per whole video (what one worker of either
  converter does) and per range of --keyframes_per_task keyframes (a Beam element), with
  JPEG encodes per distinct stored frame;
- create_ava_tf_record with 1 and 2 worker processes, and the Beam pipeline with the
  DirectRunner in multi_processing mode with 1 and 2 workers: wall-clock keyframes/s, and the
  fixed cost of each launcher (the same run on a one-keyframe input), from which the steady
  rate is (keyframes - 1) / (wall - fixed);
- bytes per keyframe and the projected disk size and wall time of the AVA training set.
Requires apache_beam (pip install -e ".[beam]").
"""

import collections
import os
from pathlib import Path
import shutil
import time

from absl import app
from absl import flags

from ava_tx.core import command_line
from ava_tx.data import ava_clips
from ava_tx.data import ava_conversion
from ava_tx.data import beam_conversion
from ava_tx.data import video_frames

FLAGS = flags.FLAGS


@command_line.flag_definitions
def define_flags():
  flags.DEFINE_string(
    "data_dir",
    "workspace/data/synthetic",
    "Synthetic AVA-format data (train.csv, videos/), as written by data_tools.synth_ava.",
  )
  flags.DEFINE_string(
    "work_dir", "/tmp/ava_conversion_benchmark", "Scratch directory (deleted first)."
  )
  flags.DEFINE_integer("num_videos", 8, "Videos converted.")
  flags.DEFINE_integer("short_side", 400, "Stored short side.")
  flags.DEFINE_integer("clip_frames", 64, "Stored frames per keyframe.")
  flags.DEFINE_integer("keyframes_per_task", 60, "Keyframes per Beam element.")
  flags.DEFINE_integer("ava_keyframes", 211000, "Keyframes of the AVA training set (projection).")
  flags.DEFINE_list("project_workers", ["1", "2", "16", "64", "256"], "Worker counts projected.")


def _write_inputs(work):
  rows = (Path(FLAGS.data_dir) / "train.csv").read_text().splitlines(keepends=True)
  videos = sorted({r.split(",")[0] for r in rows})[: FLAGS.num_videos]
  (work / "gt.csv").write_text("".join(r for r in rows if r.split(",")[0] in videos))
  first = [r for r in rows if r.split(",")[0] == videos[0]]
  (work / "one.csv").write_text(
    "".join(r for r in first if r.split(",")[1] == first[0].split(",")[1])
  )
  return videos


def _plan(work, csv, name, settings):
  return dict(
    annotations_csv=str(work / csv),
    video_dir=str(Path(FLAGS.data_dir) / "videos"),
    output_prefix=str(work / name / "t"),
    num_shards=FLAGS.num_videos,
    settings=settings,
    log=lambda line: None,
  )


def _tasks(work, settings):
  plan = ava_conversion.plan_conversion(**_plan(work, "gt.csv", "plan", settings))
  return [plan.tasks[v] for v in sorted(plan.tasks)]


def _bound(tasks, settings):
  """Seconds to decode each video once and encode each stored frame once; distinct frames."""
  encoder = settings.encoder()
  start, distinct = time.perf_counter(), 0
  before = settings.clip_frames // 2
  after = settings.clip_frames - 1 - before
  for task in tasks:
    keyframes = [
      round((r.timestamp - settings.segment_start) * settings.fps) for r in task.requests
    ]
    wanted = set()
    for k in keyframes:
      wanted.update(range(max(0, k - before), k + after + 1))
    for index, frame in video_frames.iter_video_frames(
      task.source[1], fps=settings.fps, wanted=wanted.__contains__
    ):
      if frame is not None:
        encoder.encode_av_frame(frame)
        distinct += 1
      if index >= max(wanted):
        break
  return time.perf_counter() - start, distinct


def _in_process(tasks, settings, keyframes_per_task=None):
  """Seconds, stats and JPEG encodes of convert_keyframes over whole videos or ranges."""
  counts = collections.Counter()
  original = video_frames.FrameEncoder.encode_av_frame

  def counted(self, frame):
    counts["encodes"] += 1
    return original(self, frame)

  video_frames.FrameEncoder.encode_av_frame = counted
  try:
    start, all_stats = time.perf_counter(), []
    for task in tasks:
      parts = ava_conversion.split_task(task, keyframes_per_task) if keyframes_per_task else [task]
      all_stats += [ava_conversion.convert_keyframes(p, settings, lambda r: None) for p in parts]
    seconds = time.perf_counter() - start
  finally:
    video_frames.FrameEncoder.encode_av_frame = original
  return seconds, ava_conversion.merge_task_stats(all_stats, 0), counts["encodes"]


def _timed(function, **kwargs):
  start = time.perf_counter()
  summary = function(**kwargs)
  return time.perf_counter() - start, summary


def _launchers(work, settings):
  """{name: (function, extra kwargs)} of the four runs compared."""

  def beam_args(workers):
    return ["--direct_num_workers=%d" % workers, "--direct_running_mode=multi_processing"]

  return collections.OrderedDict(
    [
      ("create_ava_tf_record, 1 process", (ava_conversion.convert, dict(num_workers=1))),
      ("create_ava_tf_record, 2 processes", (ava_conversion.convert, dict(num_workers=2))),
      (
        "Beam DirectRunner, 1 worker",
        (
          beam_conversion.convert,
          dict(beam_args=beam_args(1), keyframes_per_task=FLAGS.keyframes_per_task),
        ),
      ),
      (
        "Beam DirectRunner, 2 workers",
        (
          beam_conversion.convert,
          dict(beam_args=beam_args(2), keyframes_per_task=FLAGS.keyframes_per_task),
        ),
      ),
    ]
  )


def main(argv):
  del argv
  work = Path(FLAGS.work_dir)
  shutil.rmtree(work, ignore_errors=True)
  work.mkdir(parents=True)
  videos = _write_inputs(work)
  settings = ava_clips.ClipSettings(clip_frames=FLAGS.clip_frames, short_side=FLAGS.short_side)
  tasks = _tasks(work, settings)
  keyframes = sum(len(t.requests) for t in tasks)
  print(
    "%d videos, %d keyframes, %d frames of short side %d per keyframe, %d CPU cores "
    "(shared machine: compare figures within this run)"
    % (len(videos), keyframes, FLAGS.clip_frames, FLAGS.short_side, os.cpu_count())
  )
  bound_s, distinct = _bound(tasks, settings)
  whole_s, stats, whole_encodes = _in_process(tasks, settings)
  range_s, _, range_encodes = _in_process(tasks, settings, FLAGS.keyframes_per_task)
  small = max(2, FLAGS.keyframes_per_task // 6)
  small_s, _, small_encodes = _in_process(tasks, settings, small)
  print("\n| in this process | keyframes/s | of the bound | JPEG encodes per stored frame |")
  print("| --- | ---: | ---: | ---: |")
  print(
    "| bound: decode once, encode each stored frame once | %.2f | 1.00 | 1.00 |"
    % (keyframes / bound_s)
  )
  for name, seconds, encodes in (
    ("convert_keyframes, whole videos", whole_s, whole_encodes),
    (
      "convert_keyframes, ranges of %d keyframes" % FLAGS.keyframes_per_task,
      range_s,
      range_encodes,
    ),
    ("convert_keyframes, ranges of %d keyframes" % small, small_s, small_encodes),
  ):
    print(
      "| %s | %.2f | %.2f | %.3f |"
      % (name, keyframes / seconds, bound_s / seconds, encodes / distinct)
    )
  print(
    "\nstored frames per keyframe %.1f, distinct frames %d, so each frame is stored %.2f "
    "times; bytes per keyframe %.0f kB"
    % (
      stats["frames"] / keyframes,
      distinct,
      stats["frames"] / distinct,
      stats["bytes"] / 1e3 / keyframes,
    )
  )
  _compare_launchers(work, settings, keyframes, bound_s, stats)


def _compare_launchers(work, settings, keyframes, bound_s, stats):
  print(
    "\n| run | wall s | keyframes/s | fixed s (1 keyframe) | steady keyframes/s | steady / bound |"
  )
  print("| --- | ---: | ---: | ---: | ---: | ---: |")
  shards, steady = {}, {}
  for i, (name, (function, extra)) in enumerate(_launchers(work, settings).items()):
    fixed_s, _ = _timed(function, **_plan(work, "one.csv", "one%d" % i, settings), **extra)
    wall_s, summary = _timed(function, **_plan(work, "gt.csv", "run%d" % i, settings), **extra)
    assert summary["keyframes"] == keyframes, summary
    shards[name] = [
      open(p, "rb").read() for p in sorted(Path(work / ("run%d" % i)).glob("t-?????-of-?????"))
    ]
    # The steady rate is only meaningful when the run is well above its fixed cost.
    steady[name] = (keyframes - 1) / (wall_s - fixed_s) if wall_s > 1.5 * fixed_s else None
    print(
      "| %s | %.1f | %.2f | %.1f | %s | %s |"
      % (
        name,
        wall_s,
        keyframes / wall_s,
        fixed_s,
        "n/a" if steady[name] is None else "%.2f" % steady[name],
        "n/a" if steady[name] is None else "%.2f" % (steady[name] / (keyframes / bound_s)),
      )
    )
  reference = next(iter(shards.values()))
  print(
    "\nshards byte-identical across the four runs: %s"
    % all(s == reference for s in shards.values())
  )
  per_worker = steady["Beam DirectRunner, 1 worker"] or keyframes / bound_s
  print(
    "per-worker rate used below: %s"
    % (
      "Beam 1-worker steady rate"
      if steady["Beam DirectRunner, 1 worker"]
      else "the bound (the Beam run was dominated by start-up)"
    )
  )
  per_keyframe = stats["bytes"] / keyframes
  print(
    "\nAVA training set (%d keyframes) at this layout: %.0f GB (%.0f kB per keyframe; "
    "real movies compress worse than these synthetic frames)"
    % (FLAGS.ava_keyframes, FLAGS.ava_keyframes * per_keyframe / 1e9, per_keyframe / 1e3)
  )
  for workers in (int(w) for w in FLAGS.project_workers):
    hours = FLAGS.ava_keyframes / (per_worker * workers) / 3600
    print(
      "  %4d workers at %.2f keyframes/s each: %.2f h (%.0f min)"
      % (workers, per_worker, hours, hours * 60)
    )


if __name__ == "__main__":
  define_flags()
  app.run(main)
