r"""AVA annotations + videos -> the same TFRecord shards as create_ava_tf_record, on Apache Beam.

Flags of create_ava_tf_record (inputs and settings; --num_workers excepted) plus
--keyframes_per_task; every other flag is Beam's own and is passed to Beam unchanged
(--runner, --direct_num_workers, --direct_running_mode, and those of Dataflow, Flink, Spark).
Without --runner: the DirectRunner in multi_processing mode on all cores. Example:

  python -m data_tools.create_ava_tf_record_beam \
    --annotations_csv=ava_train_v2.2.csv --label_map_path=ava_action_list_v2.2.pbtxt \
    --video_dir=videos_15min --output_prefix=/data/ava/train --num_shards=256 \
    --direct_num_workers=2

Needs the optional dependency: pip install -e ".[beam]". Dataflow, Flink and Spark:
docs/BEAM.md. Failed videos are listed in <output_prefix>.failed_videos.csv and reported by
name at the end (exit status 2); the Beam counters are printed.
"""

import importlib.util
import logging
import sys

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
  flags.DEFINE_integer(
    "keyframes_per_task",
    60,
    "Keyframes per pipeline element (a range of "
    "one video's keyframes, so a long movie is spread over several workers).",
  )


def parse_flags(argv):
  """Parses this command's flags; returns [argv[0]] + the other arguments (Beam's options,
  unchanged and in order) for main."""
  FLAGS(argv, known_only=True)
  own = set(conversion_flags.SHARED_FLAGS) | {"keyframes_per_task", "verbose"}
  rest, skip_value = [argv[0]], False
  for arg in argv[1:]:
    if skip_value:
      skip_value = False
      continue
    name = arg[2:].split("=")[0] if arg.startswith("--") else None
    if name in own or (name and name[2:] in own and FLAGS[name[2:]].boolean):
      skip_value = "=" not in arg and not FLAGS[name if name in own else name[2:]].boolean
      continue
    rest.append(arg)
  return rest


def _convert(argv):
  from ava_tx.data import beam_conversion  # pylint: disable=g-import-not-at-top

  summary = beam_conversion.convert(
    beam_args=argv[1:],
    keyframes_per_task=FLAGS.keyframes_per_task,
    **conversion_flags.conversion_args(),
  )
  print(ava_conversion.format_summary(summary))
  print("failed videos: %s" % summary["failed_videos_csv"])
  print("beam counters: %s" % ", ".join("%s=%d" % kv for kv in sorted(summary["counters"].items())))
  return 2 if summary["videos_failed"] else 0


def main(argv):
  """Exit 0; 1 with one line on an error in the input (--verbose: traceback); 2 if videos failed."""
  logging.getLogger("apache_beam").setLevel(logging.WARNING)  # Workers' INFO lines.
  if importlib.util.find_spec("apache_beam") is None:
    print(
      "create_ava_tf_record_beam: error: apache_beam is not installed: pip install -e \".[beam]\"",
      file=sys.stderr,
    )
    return 1
  return command_line.run_guarded("create_ava_tf_record_beam", _convert, argv)


if __name__ == "__main__":
  define_flags()
  flags.mark_flags_as_required(["annotations_csv", "video_dir", "output_prefix"])
  app.run(main, flags_parser=parse_flags)
