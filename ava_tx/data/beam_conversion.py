"""AVA conversion as an Apache Beam pipeline: the same shards as `ava_conversion.convert`.

The command line is data_tools/create_ava_tf_record_beam.py; docs/BEAM.md says how to run it
on Dataflow, Flink and Spark. The launcher reads the CSVs and plans the run exactly as the
multiprocessing converter does (`ava_conversion.plan_conversion`: same settings check, shard
assignment and resume), then runs:

  Create: one element per (video, range of `keyframes_per_task` consecutive keyframes)
    -> Reshuffle (spreads the elements over the workers)
    -> ConvertTaskFn: `ava_conversion.convert_keyframes` (the one implementation of record
       building; the video is opened once and each stored frame encoded once per element)
       writes the range's records to a part file `<prefix>.beam-temp/<shard>/<video>-<range>`
       and emits (shard, PartInfo); a video that cannot be read goes to the "failed" output
    -> GroupByKey(shard), with an empty marker for every pending shard so that shards without
       videos are written too
    -> WriteShardFn: the shard's parts in (video_id, range) order, concatenated into
       `<prefix>-SSSSS-of-NNNNN` with its `.stats.json`, committed atomically.
  failed -> one row per video (first failing range) -> `<prefix>.failed_videos.csv` and the
    counters `videos_failed` and `failed_video <video_id>`.

Only part-file paths and small stats go through the shuffle, not the records, so the
DirectRunner (which holds shuffled data in memory) converts AVA-sized inputs on one host, and
a shard's bytes equal those of create_ava_tf_record whatever the runner and worker count.
Beam metrics (namespace `ava_conversion`): keyframes, boxes, proposals, frames, bytes,
skipped_keyframes, skipped_rows, tasks, videos_failed, shards.
"""

import dataclasses
import os
import time

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options import pipeline_options

from ava_tx.core.tf_setup import tf
from ava_tx.data import ava_clips
from ava_tx.data import ava_conversion
from ava_tx.data import tfrecord_writer

NAMESPACE = "ava_conversion"
FAILED_TAG = "failed"
_COUNTED = ("keyframes", "boxes", "proposals", "frames", "bytes")


@dataclasses.dataclass(frozen=True)
class PartInfo:
  """One converted range: its part file, the number of records in it and its stats."""

  video_id: str
  range_index: int
  path: str
  num_records: int
  stats: dict


def temp_dir(output_prefix: str) -> str:
  return output_prefix + ".beam-temp"


def failed_videos_path(output_prefix: str) -> str:
  return output_prefix + ".failed_videos.csv"


def pipeline_elements(plan: ava_conversion.ConversionPlan, keyframes_per_task: int) -> list:
  """[(shard_index, range_index, VideoTask)] for the pending shards, in shard order."""
  elements = []
  for shard in plan.pending_shards:
    for video_id in plan.assignment[shard]:
      for range_index, task in enumerate(
        ava_conversion.split_task(plan.tasks[video_id], keyframes_per_task)
      ):
        elements.append((shard, range_index, task))
  return elements


class ConvertTaskFn(beam.DoFn):
  """(shard, range_index, VideoTask) -> (shard, PartInfo); failures also to FAILED_TAG."""

  def __init__(self, settings: ava_clips.ClipSettings, parts_dir: str):
    self._settings = settings
    self._parts_dir = parts_dir
    self._counters = {
      name: Metrics.counter(NAMESPACE, name)
      for name in _COUNTED + ("skipped_keyframes", "tasks", "tasks_failed")
    }

  def process(self, element):
    shard, range_index, task = element
    directory = os.path.join(self._parts_dir, "%05d" % shard)
    tf.io.gfile.makedirs(directory)
    path = os.path.join(directory, "%s-%05d.tfrecord" % (task.video_id, range_index))
    # Written under a temporary name and renamed: a retried or duplicated element leaves one
    # complete part file.
    tmp_path = "%s.tmp-%d-%d" % (path, os.getpid(), time.monotonic_ns())
    writer = tf.io.TFRecordWriter(tmp_path)
    records = [0]

    def write(record):
      writer.write(record)
      records[0] += 1

    try:
      stats = ava_conversion.convert_keyframes(task, self._settings, write)
    finally:
      writer.close()
    tf.io.gfile.rename(tmp_path, path, overwrite=True)
    for name in _COUNTED:
      self._counters[name].inc(stats[name])
    self._counters["skipped_keyframes"].inc(len(stats["skipped_keyframes"]))
    self._counters["tasks"].inc()
    stats["labels_per_class"] = dict(stats["labels_per_class"])
    for video_id, reason in stats["videos_failed"].items():
      self._counters["tasks_failed"].inc()
      yield beam.pvalue.TaggedOutput(FAILED_TAG, (video_id, (range_index, reason)))
    yield shard, PartInfo(task.video_id, range_index, path, records[0], stats)


class WriteShardFn(beam.DoFn):
  """(shard, [PartInfo or None]) -> the committed shard's path."""

  def __init__(self, output_prefix: str, num_shards: int):
    self._output_prefix = output_prefix
    self._num_shards = num_shards
    self._shards = Metrics.counter(NAMESPACE, "shards")

  def process(self, element):
    shard, values = element
    parts = sorted((p for p in values if p is not None), key=lambda p: (p.video_id, p.range_index))
    stats = ava_conversion.merge_task_stats(
      [p.stats for p in parts], sum(p.num_records for p in parts)
    )
    path = tfrecord_writer.shard_path(self._output_prefix, shard, self._num_shards)
    tfrecord_writer.write_shard_from_parts(path, [p.path for p in parts], stats)
    self._shards.inc()
    yield path


def _count_failed_video(video_and_reason):
  video_id, (_, reason) = video_and_reason
  Metrics.counter(NAMESPACE, "videos_failed").inc()
  Metrics.counter(NAMESPACE, "failed_video " + video_id).inc()
  return video_id, reason


def _csv_field(text):
  text = str(text)
  if any(c in text for c in ',"\n\r'):
    return '"%s"' % text.replace('"', '""')
  return text


def write_failed_videos(rows, path: str) -> str:
  """Writes `video_id,reason` rows (sorted, with a header) to `path`; returns the path."""
  lines = ["video_id,reason"] + [
    "%s,%s" % (_csv_field(v), _csv_field(r.replace("\n", " "))) for v, r in sorted(rows)
  ]
  with tf.io.gfile.GFile(path, "w") as f:
    f.write("\n".join(lines) + "\n")
  return path


def _count_skipped_row(row):
  Metrics.counter(NAMESPACE, "skipped_rows").inc()
  return row


def build_pipeline(
  root,
  plan: ava_conversion.ConversionPlan,
  settings: ava_clips.ClipSettings,
  keyframes_per_task: int,
):
  """Adds the conversion to pipeline `root`; returns the PCollection of written shard paths."""
  elements = pipeline_elements(plan, keyframes_per_task)
  converted = (
    root
    | "Tasks" >> beam.Create(elements, reshuffle=False)
    | "Spread" >> beam.Reshuffle()
    | "Convert"
    >> beam.ParDo(ConvertTaskFn(settings, temp_dir(plan.output_prefix))).with_outputs(
      FAILED_TAG, main="parts"
    )
  )
  markers = root | "EveryShard" >> beam.Create([(i, None) for i in plan.pending_shards])
  shards = (
    (converted.parts, markers)
    | "WithMarkers" >> beam.Flatten()
    | "PartsByShard" >> beam.GroupByKey()
    | "WriteShards" >> beam.ParDo(WriteShardFn(plan.output_prefix, plan.num_shards))
  )
  (
    converted[FAILED_TAG]
    | "FirstFailurePerVideo" >> beam.CombinePerKey(min)
    | "CountFailed" >> beam.Map(_count_failed_video)
    | "AllFailed" >> beam.combiners.ToList()
    | "FailedVideosCsv" >> beam.Map(write_failed_videos, failed_videos_path(plan.output_prefix))
  )
  skipped_rows = [(s.path, s.line, s.reason) for r in plan.reports for s in r.skipped]
  (
    root
    | "SkippedRows" >> beam.Create(skipped_rows)
    | "CountSkippedRows" >> beam.Map(_count_skipped_row)
  )
  return shards


def pipeline_options_with_defaults(beam_args) -> pipeline_options.PipelineOptions:
  """PipelineOptions from Beam's own flags, unchanged, except that without --runner the
  DirectRunner runs in multi_processing mode on all cores (unless those flags are given)."""
  beam_args = list(beam_args)
  given = {a.split("=")[0] for a in beam_args if a.startswith("--")}
  options = pipeline_options.PipelineOptions(beam_args)
  if is_direct(options):
    direct = options.view_as(pipeline_options.DirectOptions)
    if "--direct_running_mode" not in given:
      direct.direct_running_mode = "multi_processing"
    if "--direct_num_workers" not in given:
      direct.direct_num_workers = 0  # All cores.
  return options


def is_direct(options) -> bool:
  return options.view_as(pipeline_options.StandardOptions).runner in (
    None,
    "DirectRunner",
    "direct",
  )


def make_pipeline(options) -> beam.Pipeline:
  """A Pipeline on the runner of `options`. The DirectRunner is run as its FnApiRunner, the
  one that honours --direct_num_workers and --direct_running_mode: Beam 2.77's DirectRunner
  first tries Prism, a binary it downloads at run time, which ignores both."""
  if not is_direct(options):
    return beam.Pipeline(options=options)
  from apache_beam.runners.portability.fn_api_runner import fn_runner  # pylint: disable=g-import-not-at-top

  return beam.Pipeline(runner=fn_runner.FnApiRunner(), options=options)


def counters(result) -> dict:
  """{counter name: value} of the namespace (committed values, else attempted)."""
  values = {}
  query = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
  for counter in query["counters"]:
    value = counter.committed if counter.committed is not None else counter.attempted
    values[counter.key.metric.name] = values.get(counter.key.metric.name, 0) + (value or 0)
  return values


def convert(*, beam_args=(), keyframes_per_task: int = 60, log=print, **plan_args) -> dict:
  """Runs the pipeline to completion; returns `ava_conversion.summarize`'s dict plus
  `counters` (Beam metrics) and `failed_videos_csv`.

  Args:
    beam_args: Beam's command-line options (--runner, --direct_num_workers, Dataflow's ...).
    keyframes_per_task: keyframes per element (per (video, range)).
    log: function taking a line of text.
    **plan_args: the inputs and settings, as for `ava_conversion.convert` (annotations_csv,
      video_dir, output_prefix, num_shards, settings, label_map, person_boxes_csv,
      min_person_score, skip_bad_rows, overwrite).
  """
  start = time.time()
  plan = ava_conversion.plan_conversion(log=log, **plan_args)
  options = pipeline_options_with_defaults(beam_args)
  log(
    "%d keyframes of %d shards in %d elements"
    % (
      plan.pending_keyframes(),
      len(plan.pending_shards),
      len(pipeline_elements(plan, keyframes_per_task)),
    )
  )
  pipeline = make_pipeline(options)
  build_pipeline(pipeline, plan, plan_args["settings"], keyframes_per_task)
  result = pipeline.run()
  result.wait_until_finish()
  values = counters(result)
  parts = temp_dir(plan.output_prefix)
  if tf.io.gfile.exists(parts):
    tf.io.gfile.rmtree(parts)
  summary = ava_conversion.summarize(
    plan.output_prefix,
    plan.num_shards,
    plan.reports,
    time.time() - start,
    values.get("keyframes", 0),
  )
  summary.update(counters=values, failed_videos_csv=failed_videos_path(plan.output_prefix))
  return summary
