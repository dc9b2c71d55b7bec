"""Statistics of a conversion: per task, per shard (stored beside it) and of a whole run.

A stats dict counts videos, keyframes, boxes, proposals, frames, bytes and labels per class,
and lists failed videos and skipped keyframes with their reasons (see `new_stats`).
"""

import collections

from ava_tx.data import tfrecord_writer


def new_stats():
  """The stats dict of an empty shard (the keys every stats dict has)."""
  return {
    "videos": 0,
    "videos_failed": {},
    "keyframes": 0,
    "boxes": 0,
    "proposals": 0,
    "frames": 0,
    "bytes": 0,
    "labels_per_class": {},
    "skipped_keyframes": [],
  }


def count_record(stats, clip, record):
  """Adds one written record (of KeyframeClip `clip`) to `stats`."""
  stats["keyframes"] += 1
  stats["boxes"] += len(clip.request.boxes)
  stats["proposals"] += len(clip.request.proposals)
  stats["frames"] += len(clip.frames)
  stats["bytes"] += len(record)
  stats["labels_per_class"].update(i for b in clip.request.boxes for i in b.action_ids)


def merge_task_stats(task_stats, num_records: int) -> dict:
  """Stats of a shard from the stats of its tasks (in shard order), as stored next to it.

  A video counts as converted when none of its tasks failed.
  """
  merged = new_stats()
  labels = collections.Counter()
  video_ids = set()
  for stats in task_stats:
    for key in ("keyframes", "boxes", "proposals", "frames", "bytes"):
      merged[key] += stats[key]
    merged["skipped_keyframes"].extend(stats["skipped_keyframes"])
    for video_id, reason in stats["videos_failed"].items():
      merged["videos_failed"].setdefault(video_id, reason)
    labels.update({int(k): v for k, v in stats["labels_per_class"].items()})
    video_ids.update(stats["video_ids"])
  merged["videos"] = len(video_ids - set(merged["videos_failed"]))
  merged["labels_per_class"] = {str(k): v for k, v in sorted(labels.items())}
  merged["examples"] = num_records
  return merged


def summarize(output_prefix, num_shards, reports, seconds, keyframes_this_run) -> dict:
  """Aggregates the stats of all shards (including ones completed by earlier runs)."""
  total = new_stats()
  total["labels_per_class"] = collections.Counter()
  total["examples"] = 0
  missing_stats = []
  for i in range(num_shards):
    shard = tfrecord_writer.shard_path(output_prefix, i, num_shards)
    stats = tfrecord_writer.read_shard_stats(shard)
    if stats is None:
      missing_stats.append(shard)
      continue
    for key in ("videos", "keyframes", "boxes", "proposals", "frames", "bytes", "examples"):
      total[key] += stats[key]
    total["videos_failed"].update(stats["videos_failed"])
    total["skipped_keyframes"].extend(stats["skipped_keyframes"])
    total["labels_per_class"].update({int(k): v for k, v in stats["labels_per_class"].items()})
  total["labels_per_class"] = dict(sorted(total["labels_per_class"].items()))
  total.update(
    num_shards=num_shards,
    shards_without_stats=missing_stats,
    seconds=seconds,
    keyframes_this_run=keyframes_this_run,
    keyframes_per_second=keyframes_this_run / max(seconds, 1e-9),
    skipped_rows=[(s.path, s.line, s.reason) for r in reports for s in r.skipped],
    file_pattern=tfrecord_writer.shard_file_pattern(output_prefix),
  )
  return total


def format_summary(summary: dict) -> str:
  """Human-readable multi-line summary."""
  lines = [
    "shards: %d (%s)" % (summary["num_shards"], summary["file_pattern"]),
    "videos converted: %d, failed: %d" % (summary["videos"], len(summary["videos_failed"])),
    "keyframes: %d (%d this run, %.1f keyframes/s), boxes: %d, proposals: %d"
    % (
      summary["keyframes"],
      summary["keyframes_this_run"],
      summary["keyframes_per_second"],
      summary["boxes"],
      summary["proposals"],
    ),
    "frames stored: %d (%.1f per keyframe), bytes: %d (%.0f kB per keyframe)"
    % (
      summary["frames"],
      summary["frames"] / max(summary["keyframes"], 1),
      summary["bytes"],
      summary["bytes"] / 1e3 / max(summary["keyframes"], 1),
    ),
    "labels per class: %s" % summary["labels_per_class"],
  ]
  for video_id, reason in sorted(summary["videos_failed"].items()):
    lines.append("FAILED video %s: %s" % (video_id, reason))
  reasons = collections.Counter(
    r.split(":")[0].split(" (")[0] for _, _, r in summary["skipped_keyframes"]
  )
  if reasons:
    lines.append("skipped keyframes: %d %s" % (len(summary["skipped_keyframes"]), dict(reasons)))
  for path, line, reason in summary["skipped_rows"]:
    lines.append("skipped row %s:%d: %s" % (path, line, reason))
  return "\n".join(lines)
