r"""Converts AVA annotations and videos into sharded TFRecords of SequenceExamples.

One example per annotated keyframe, holding `--clip_frames` frames at `--fps` around it
(layout, keys and storage cost: docs/DATA.md). Example:

  python -m data_tools.create_ava_tf_record \
    --annotations_csv=ava_train_v2.2.csv --label_map=ava_action_list_v2.2.pbtxt \
    --video_dir=videos_15min --segment_start=900 --output_prefix=/data/ava/train \
    --num_shards=256 --num_workers=2

Rerunning the same command after an interruption resumes: complete shards are kept,
unfinished ones are redone. Missing or unreadable videos are reported by name at the end.
"""

from absl import app
from absl import flags

from ava_tx.core import ava_constants
from ava_tx.core import command_line
from ava_tx.data import ava_annotations
from ava_tx.data import ava_clips
from ava_tx.data import ava_conversion

FLAGS = flags.FLAGS
flags.DEFINE_string("annotations_csv", None, "AVA ground-truth CSV (local or gs://).")
flags.DEFINE_string("video_dir", None, "Directory of <video_id>.<mp4|mkv|webm|avi|gif|...> "
                    "videos and/or <video_id>/ folders of extracted frames (at --fps).")
flags.DEFINE_string("output_prefix", None, "Shards are <output_prefix>-%05d-of-%05d.")
flags.DEFINE_integer("num_shards", 16, "Number of output shards.")
flags.DEFINE_integer("num_workers", 1, "Worker processes (parallel across shards).")
flags.DEFINE_string("label_map", None, "Optional label map (pbtxt or CSV); unknown ids are "
                    "bad rows.")
flags.DEFINE_string("person_boxes_csv", None, "Optional person-detector boxes "
                    "(video_id,timestamp,x1,y1,x2,y2,,score) stored as proposals.")
flags.DEFINE_float("min_person_score", 0.0, "Person boxes below this score are not stored.")
flags.DEFINE_float("fps", ava_constants.FPS, "Frame rate of the stored frames.")
flags.DEFINE_integer("clip_frames", 64, "Frames stored per keyframe, centred on it.")
flags.DEFINE_float("segment_start", ava_constants.SEGMENT_START_SEC,
                   "Movie second of each video's first frame: 900 for the AVA 15-minute "
                   "cuts, 0 for full movies.")
flags.DEFINE_integer("short_side", 0, "Resize so the shorter side has this many pixels "
                     "(0 keeps the decoded size).")
flags.DEFINE_enum("image_format", "JPEG", ["JPEG", "PNG"], "Stored image format.")
flags.DEFINE_integer("jpeg_quality", 90, "JPEG quality, 1-100.")
flags.DEFINE_bool("skip_bad_rows", False, "Skip and count bad CSV rows instead of failing.")
flags.DEFINE_bool("overwrite", False, "Delete existing shards of this prefix first.")


def _convert(argv):
  del argv
  settings = ava_clips.ClipSettings(
      fps=FLAGS.fps, clip_frames=FLAGS.clip_frames, segment_start=FLAGS.segment_start,
      short_side=FLAGS.short_side, image_format=FLAGS.image_format,
      jpeg_quality=FLAGS.jpeg_quality)
  summary = ava_conversion.convert(
      annotations_csv=FLAGS.annotations_csv, video_dir=FLAGS.video_dir,
      output_prefix=FLAGS.output_prefix, num_shards=FLAGS.num_shards, settings=settings,
      num_workers=FLAGS.num_workers, label_map=FLAGS.label_map,
      person_boxes_csv=FLAGS.person_boxes_csv, min_person_score=FLAGS.min_person_score,
      skip_bad_rows=FLAGS.skip_bad_rows, overwrite=FLAGS.overwrite)
  print(ava_conversion.format_summary(summary))
  return 2 if summary["videos_failed"] else 0


def main(argv):
  """Exit 0; 1 with one line on an error in the input (--verbose: traceback); 2 if videos failed."""
  return command_line.run_guarded("create_ava_tf_record", _convert, argv)


if __name__ == "__main__":
  flags.mark_flags_as_required(["annotations_csv", "video_dir", "output_prefix"])
  app.run(main)
