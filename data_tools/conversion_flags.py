"""The flags create_ava_tf_record and create_ava_tf_record_beam share (inputs and settings).

Both commands write the same records for the same values of these flags.
"""

from absl import flags

from ava_tx.core import ava_constants
from ava_tx.core import command_line
from ava_tx.data import ava_clips

FLAGS = flags.FLAGS
SHARED_FLAGS = (
  "annotations_csv",
  "video_dir",
  "output_prefix",
  "num_shards",
  "label_map_path",
  "person_boxes_csv",
  "min_person_score",
  "fps",
  "clip_frames",
  "segment_start",
  "short_side",
  "image_format",
  "jpeg_quality",
  "skip_bad_rows",
  "overwrite",
)


@command_line.flag_definitions
def define_flags():
  """Defines the shared flags on absl's global FLAGS (once: both commands may run in one
  process, e.g. in tests)."""
  flags.DEFINE_string("annotations_csv", None, "AVA ground-truth CSV (local or gs://).")
  flags.DEFINE_string(
    "video_dir",
    None,
    "Directory of <video_id>.<mp4|mkv|webm|avi|gif|...> "
    "videos and/or <video_id>/ folders of extracted frames (at --fps).",
  )
  flags.DEFINE_string("output_prefix", None, "Shards are <output_prefix>-%05d-of-%05d.")
  flags.DEFINE_integer("num_shards", 16, "Number of output shards.")
  flags.DEFINE_string(
    "label_map_path", None, "Optional label map (pbtxt or CSV); unknown ids are bad rows."
  )
  command_line.define_renamed_flag("label_map", "label_map_path")
  flags.DEFINE_string(
    "person_boxes_csv",
    None,
    "Optional person-detector boxes (video_id,timestamp,x1,y1,x2,y2,,score) stored as proposals.",
  )
  flags.DEFINE_float("min_person_score", 0.0, "Person boxes below this score are not stored.")
  flags.DEFINE_float("fps", ava_constants.FPS, "Frame rate of the stored frames.")
  flags.DEFINE_integer("clip_frames", 64, "Frames stored per keyframe, centred on it.")
  flags.DEFINE_float(
    "segment_start",
    ava_constants.SEGMENT_START_SEC,
    "Movie second of each video's first frame: 900 for the AVA 15-minute cuts, 0 for full movies.",
  )
  flags.DEFINE_integer(
    "short_side", 0, "Resize so the shorter side has this many pixels (0 keeps the decoded size)."
  )
  flags.DEFINE_enum("image_format", "JPEG", ["JPEG", "PNG"], "Stored image format.")
  flags.DEFINE_integer("jpeg_quality", 90, "JPEG quality, 1-100.")
  flags.DEFINE_bool("skip_bad_rows", False, "Skip and count bad CSV rows instead of failing.")
  flags.DEFINE_bool("overwrite", False, "Delete existing shards of this prefix first.")


def conversion_args() -> dict:
  """The keyword arguments of ava_conversion.plan_conversion from the flags (builds the
  ClipSettings, which checks them)."""
  settings = ava_clips.ClipSettings(
    fps=FLAGS.fps,
    clip_frames=FLAGS.clip_frames,
    segment_start=FLAGS.segment_start,
    short_side=FLAGS.short_side,
    image_format=FLAGS.image_format,
    jpeg_quality=FLAGS.jpeg_quality,
  )
  return dict(
    annotations_csv=FLAGS.annotations_csv,
    video_dir=FLAGS.video_dir,
    output_prefix=FLAGS.output_prefix,
    num_shards=FLAGS.num_shards,
    settings=settings,
    label_map=FLAGS.label_map_path,
    person_boxes_csv=FLAGS.person_boxes_csv,
    min_person_score=FLAGS.min_person_score,
    skip_bad_rows=FLAGS.skip_bad_rows,
    overwrite=FLAGS.overwrite,
  )
