"""The flags ava_tx.predict and ava_tx.visualize_attention share: how a video's frames and times
are read, and where person boxes come from (for models without an RPN).

Each command's `define_flags()` calls `define_flags()` here and adopts these flags as its own
(`flags.adopt_module_key_flags(video_flags)`), so its `--help` lists them.
"""

from absl import flags

from ava_tx.core import command_line
from ava_tx.inference import person_boxes
from ava_tx.inference import person_detector

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
  flags.DEFINE_string(
    "person_detector",
    None,
    "Without --person_boxes_csv, a model that takes person boxes gets them from this person "
    "detector (what data_tools.fetch_person_detector wrote), run on each keyframe; default "
    "%s for a model without an RPN (scripts/setup_env.sh fetches it)."
    % person_detector.DEFAULT_DIR,
  )
  flags.DEFINE_string(
    "person_detector_model",
    None,
    "Which model of --person_detector (default: the one its source.json names).",
  )
  flags.DEFINE_float(
    "person_detector_min_score",
    None,
    "Detector boxes scoring below this are not used (default: the model's own, %s)."
    % ", ".join("%s %g" % (k, v.min_score) for k, v in sorted(person_detector.DECODERS.items())),
  )


def box_source(info):
  """`person_boxes.make_box_source` for --person_boxes_csv, --person_box_min_score,
  --person_detector* and the model described by `info` (detector.ModelInfo: uses_person_boxes,
  has_rpn)."""
  return person_boxes.make_box_source(
    csv_path=FLAGS.person_boxes_csv,
    min_score=FLAGS.person_box_min_score,
    uses_person_boxes=info.uses_person_boxes,
    has_rpn=info.has_rpn,
    detector_dir=FLAGS.person_detector,
    detector_options={
      "model": FLAGS.person_detector_model,
      "min_score": FLAGS.person_detector_min_score,
    },
  )
