r"""Converts AVA annotations and videos into sharded TFRecords of SequenceExamples.

One example per annotated keyframe, holding `--clip_frames` frames at `--fps` around it
(layout, keys and storage cost: docs/DATA.md). Example:

  python -m data_tools.create_ava_tf_record \
    --annotations_csv=ava_train_v2.2.csv --label_map_path=ava_action_list_v2.2.pbtxt \
    --video_dir=videos_15min --segment_start=900 --output_prefix=/data/ava/train \
    --num_shards=256 --num_workers=2

Rerunning the same command after an interruption resumes: complete shards are kept,
unfinished ones are redone. Missing or unreadable videos are reported by name at the end.
The same conversion as an Apache Beam pipeline (clusters): create_ava_tf_record_beam.
"""

from absl import app
from absl import flags

from ava_tx.core import command_line
from ava_tx.data import ava_conversion
from data_tools import conversion_flags

FLAGS = flags.FLAGS


@command_line.flag_definitions
def define_flags():
  conversion_flags.define_flags()
  flags.adopt_module_key_flags(conversion_flags)
  flags.DEFINE_integer("num_workers", 1, "Worker processes (parallel across shards).")


def _convert(argv):
  del argv
  summary = ava_conversion.convert(
    num_workers=FLAGS.num_workers, **conversion_flags.conversion_args()
  )
  print(ava_conversion.format_summary(summary))
  return 2 if summary["videos_failed"] else 0


def main(argv):
  """Exit 0; 1 with one line on an error in the input (--verbose: traceback); 2 if videos failed."""
  return command_line.run_guarded("create_ava_tf_record", _convert, argv)


if __name__ == "__main__":
  define_flags()
  flags.mark_flags_as_required(["annotations_csv", "video_dir", "output_prefix"])
  app.run(main)
