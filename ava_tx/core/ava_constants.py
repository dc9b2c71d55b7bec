"""AVA facts, each stated once. Pure Python (no TensorFlow).

Sources: the AVA v2.x annotation files, the ActivityNet evaluation code
(`get_ava_performance.py`) and the frame layout used by SlowFast and MMAction2.

Time layout. AVA annotates the 15-minute segment [900 s, 1800 s) of each movie at 1 Hz
keyframes with timestamps 902..1798 (whole seconds of the movie). When the segment is cut
from 900 s and decoded at 30 fps, the keyframe of timestamp `t` is frame `(t - 900) * 30`
counted from 0 (see `keyframe_frame_index`). For full movies the segment start is 0.

CSV layouts (no header, one row per (box, action)):
  ground truth: video_id,timestamp,x1,y1,x2,y2,action_id,person_id
  detections:   video_id,timestamp,x1,y1,x2,y2,action_id,score
  (some releases use video_id,timestamp,x1,y1,x2,y2,action_id,person_id,score)
  person boxes: video_id,timestamp,x1,y1,x2,y2,,score
  excluded:     video_id,timestamp
Boxes in the CSVs are (x1, y1, x2, y2) normalized to [0, 1]; inside ava_tx boxes are
[ymin, xmin, ymax, xmax]. Timestamps are written `%04d` ("0902"); some third-party copies
drop the zero padding ("902"), which readers accept.
"""

# ---- Time layout -------------------------------------------------------------------------
FPS = 30
"""Frame rate (frames per second) of the AVA frame layout (SlowFast / MMAction2)."""

SEGMENT_START_SEC = 900
"""Start (movie seconds) of the annotated 15-minute segment."""

SEGMENT_END_SEC = 1800
"""End (movie seconds, exclusive) of the annotated segment."""

FIRST_TIMESTAMP = 902
"""First annotated keyframe timestamp (movie seconds, inclusive)."""

LAST_TIMESTAMP = 1798
"""Last annotated keyframe timestamp (movie seconds, inclusive)."""

VALID_TIMESTAMPS = range(FIRST_TIMESTAMP, LAST_TIMESTAMP + 1)
"""All annotated keyframe timestamps of one movie: 897 keyframes at 1 Hz."""

KEYFRAME_RATE_HZ = 1
"""AVA annotates one keyframe per second."""

TIMESTAMP_FORMAT = "%04d"
"""How timestamps are written in AVA CSVs and keys."""

# ---- Labels ------------------------------------------------------------------------------
NUM_CLASSES = 80
"""Number of AVA action classes (v2.x label list, ids 1..80)."""

NUM_EVAL_CLASSES = 60
"""Number of classes in the official evaluation label map (ActivityNet 2018+)."""

LABEL_ID_OFFSET = 1
"""AVA label ids are 1-based: contiguous index = label_id - LABEL_ID_OFFSET for the full list."""

MIN_LABEL_ID = 1
MAX_LABEL_ID = 80

LABEL_TYPES = ("PERSON_MOVEMENT", "OBJECT_MANIPULATION", "PERSON_INTERACTION")
"""The three AVA action groups, as written in the label-list files."""

# ---- CSV column orders ---------------------------------------------------------------------
GROUNDTRUTH_COLUMNS = ("video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id", "person_id")
DETECTION_COLUMNS = ("video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id", "score")
DETECTION_WITH_PERSON_COLUMNS = (
  "video_id",
  "timestamp",
  "x1",
  "y1",
  "x2",
  "y2",
  "action_id",
  "person_id",
  "score",
)
PERSON_BOX_COLUMNS = ("video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id", "score")
"""Person-detector boxes: the action_id column is empty."""
EXCLUDED_TIMESTAMP_COLUMNS = ("video_id", "timestamp")
LABEL_MAP_CSV_COLUMNS = ("label_id", "label_name", "label_type")

# ---- Evaluation ----------------------------------------------------------------------------
IOU_THRESHOLD = 0.5
"""Frame-level AP counts a detection as correct at IoU >= 0.5."""

MAX_DETECTIONS_PER_KEYFRAME = 50
"""Since March 2019 the official evaluation keeps only the 50 highest-scoring detection rows
(one row = one (box, class, score)) per keyframe. The paper (CVPR 2019) predates this cap, so
results must say whether it was applied."""

SCORE_FORMAT = "%.6f"
"""Float format of box coordinates and scores when writing CSVs."""


def format_timestamp(timestamp):
  """Returns the `%04d` text of an integer timestamp, e.g. 902 -> "0902"."""
  return TIMESTAMP_FORMAT % int(timestamp)


def make_key(video_id, timestamp):
  """Returns the keyframe key string "video_id,%04d" (the AVA evaluation key)."""
  return "%s,%s" % (video_id, format_timestamp(timestamp))


def parse_key(key):
  """Inverse of `make_key`: "vid,0902" -> ("vid", 902). Raises ValueError on bad text."""
  video_id, sep, timestamp = key.rpartition(",")
  if not sep or not video_id:
    raise ValueError("Keyframe key %r is not of the form 'video_id,timestamp'." % key)
  try:
    return video_id, int(timestamp)
  except ValueError:
    raise ValueError("Keyframe key %r has a non-integer timestamp." % key) from None


def keyframe_frame_index(timestamp, *, segment_start=SEGMENT_START_SEC, fps=FPS):
  """Index (from 0) of the keyframe's frame in the video decoded from `segment_start` at `fps`.

  Args:
    timestamp: keyframe timestamp in whole movie seconds (e.g. 902).
    segment_start: movie second at which the decoded video starts (900 for the 15-minute
      cuts, 0 for full movies).
    fps: frames per second of the decoded video.

  Returns:
    int, `round((timestamp - segment_start) * fps)`; e.g. 902 -> 60 with the defaults.

  Raises:
    ValueError: if the keyframe lies before the segment start.
  """
  offset = timestamp - segment_start
  if offset < 0:
    raise ValueError("Timestamp %s lies before the segment start %s." % (timestamp, segment_start))
  return int(round(offset * fps))


def keyframe_time_sec(timestamp, *, segment_start=SEGMENT_START_SEC):
  """Seconds from the start of the decoded video to the keyframe: `timestamp - segment_start`."""
  return timestamp - segment_start


def is_valid_timestamp(timestamp):
  """True if `timestamp` is one of the annotated AVA keyframe timestamps 902..1798."""
  return FIRST_TIMESTAMP <= timestamp <= LAST_TIMESTAMP
