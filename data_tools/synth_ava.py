r"""Writes the synthetic AVA-format dataset (videos, CSVs, label map) and prints class counts.

  python -m data_tools.synth_ava --output_dir /tmp/synth_ava --num_videos 8 --seconds 10 \
      --seed 0 [--width 160 --height 120 --fps 30 --segment_start 900]

Convert it with the same --segment_start. Rules and statistics: docs/SYNTHETIC_DATA.md.
"""

import sys
import time

from absl import app
from absl import flags

from ava_tx.core import command_line
from ava_tx.data.synthetic import classes
from ava_tx.data.synthetic import writer

_DEFAULTS = writer.SynthConfig()
FLAGS = flags.FLAGS


@command_line.flag_definitions
def define_flags():
  flags.DEFINE_string("output_dir", None, "Directory to write the dataset into.")
  flags.DEFINE_integer("num_videos", _DEFAULTS.num_videos, "Number of videos.")
  flags.DEFINE_integer("seconds", _DEFAULTS.seconds, "Length of each video, seconds.")
  flags.DEFINE_integer("seed", _DEFAULTS.seed, "Random seed; same seed, same dataset.")
  flags.DEFINE_integer("width", _DEFAULTS.width, "Frame width, pixels (even).")
  flags.DEFINE_integer("height", _DEFAULTS.height, "Frame height, pixels (even).")
  flags.DEFINE_integer("fps", _DEFAULTS.fps, "Frames per second.")
  flags.DEFINE_integer(
    "segment_start",
    _DEFAULTS.segment_start,
    "Movie second of the first video frame; keyframe t is frame (t - segment_start) * fps.",
  )
  flags.DEFINE_float(
    "val_fraction",
    _DEFAULTS.val_fraction,
    "Fraction of the videos (the last ones) in the val split.",
  )
  flags.DEFINE_float(
    "excluded_fraction",
    _DEFAULTS.excluded_fraction,
    "Probability that a keyframe is listed as excluded (its ground truth is left out).",
  )
  flags.DEFINE_integer("crf", _DEFAULTS.crf, "libx264 constant rate factor (quality).")
  flags.DEFINE_integer("num_workers", 1, "Processes rendering videos in parallel.")


def _format_summary(summary, seconds_taken, num_frames):
  lines = []
  splits = summary["splits"]
  for split, s in splits.items():
    lines.append(
      "%s: %d videos, %d keyframes (+%d excluded), %d boxes, %d detector boxes, "
      "%.1f KB of video"
      % (
        split,
        s["videos"],
        s["keyframes"],
        s["excluded_keyframes"],
        s["boxes"],
        s["person_detector_boxes"],
        s["video_bytes"] / 1024,
      )
    )
  lines.append("%4s  %-42s %8s %8s %9s" % ("id", "class", "train", "val", "% boxes"))
  total_boxes = sum(s["boxes"] for s in splits.values())
  for c in classes.SYNTHETIC_CLASSES:
    n = [splits[split]["class_counts"][str(c.id)] for split in writer.SPLITS]
    lines.append(
      "%4d  %-42s %8d %8d %8.1f%%"
      % (c.id, c.name, n[0], n[1], 100.0 * sum(n) / max(total_boxes, 1))
    )
  lines.append("single-frame cues (P(cue | class) vs P(cue | others in the population)):")
  for row in summary["single_frame_cues"]:
    lines.append(
      "  %-8s %-44s %5.2f vs %5.2f  (%d vs %d; %s)"
      % (
        row["cue"],
        row["description"],
        row["p_cue_given_positive"],
        row["p_cue_given_negative"],
        row["positives"],
        row["negatives"],
        row["population"],
      )
    )
  lines.append(
    "generated %d frames in %.1f s: %.0f frames/s (render + encode + label)"
    % (num_frames, seconds_taken, num_frames / seconds_taken)
  )
  return "\n".join(lines)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError("Unexpected arguments: %s" % " ".join(argv[1:]))
  config = writer.SynthConfig(
    num_videos=FLAGS.num_videos,
    seconds=FLAGS.seconds,
    seed=FLAGS.seed,
    width=FLAGS.width,
    height=FLAGS.height,
    fps=FLAGS.fps,
    segment_start=FLAGS.segment_start,
    val_fraction=FLAGS.val_fraction,
    excluded_fraction=FLAGS.excluded_fraction,
    crf=FLAGS.crf,
  )
  try:
    config.validate()
  except ValueError as e:
    print("synth_ava: bad flag: %s" % e, file=sys.stderr)
    return 2
  start = time.perf_counter()

  def progress(done, total):
    elapsed = time.perf_counter() - start
    print(
      "\rvideos %d/%d, %.0f frames/s" % (done, total, done * config.num_frames / elapsed),
      end="",
      file=sys.stderr,
      flush=True,
    )

  summary = writer.generate_dataset(
    config, FLAGS.output_dir, num_workers=FLAGS.num_workers, progress=progress
  )
  print(file=sys.stderr)
  print(
    _format_summary(summary, time.perf_counter() - start, config.num_videos * config.num_frames)
  )
  print("wrote %s" % FLAGS.output_dir)
  return 0


if __name__ == "__main__":
  command_line.run_program(
    "synth_ava", main, define_flags=define_flags, required_flags=["output_dir"]
  )
