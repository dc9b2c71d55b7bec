"""The flags ava_tx.predict and ava_tx.visualize_attention share: how a video's frames and times
are read, and where person boxes come from (for models without an RPN).

Each command's `define_flags()` calls `define_flags()` here and adopts these flags as its own
(`flags.adopt_module_key_flags(video_flags)`), so its `--help` lists them.
"""

from absl import flags

from ava_tx.core import command_line
from ava_tx.inference import person_boxes

FLAGS = flags.FLAGS


@command_line.flag_definitions
def define_flags():
  flags.DEFINE_float(
    "segment_start",
    0.0,
    "Movie second of the video's first frame (900 for "
    "AVA's 15-minute cuts): CSV timestamps are segment_start + keyframe time.",
  )
  flags.DEFINE_float("folder_fps", 30.0, "Frame rate of frame folders.")
  flags.DEFINE_string(
    "person_boxes_csv",
    None,
    "Person-detector boxes, for models without an "
    "RPN; AVA/SlowFast layout video_id,timestamp,x1,y1,x2,y2,,score (video_id = "
    "the video's file stem).",
  )
  flags.DEFINE_float(
    "person_box_min_score", 0.0, "Boxes of --person_boxes_csv below this score are not used."
  )


def box_source(info):
  """`person_boxes.make_box_source` for --person_boxes_csv and --person_box_min_score and the
  model described by `info` (detector.ModelInfo: uses_person_boxes, has_rpn)."""
  return person_boxes.make_box_source(
    csv_path=FLAGS.person_boxes_csv,
    min_score=FLAGS.person_box_min_score,
    uses_person_boxes=info.uses_person_boxes,
    has_rpn=info.has_rpn,
  )
