"""Tests of the AVA facts in ava_tx.core.ava_constants."""

import pytest

from ava_tx.core import ava_constants as c


def test_time_layout():
  assert c.FPS == 30
  assert (c.SEGMENT_START_SEC, c.SEGMENT_END_SEC) == (900, 1800)
  assert (c.FIRST_TIMESTAMP, c.LAST_TIMESTAMP) == (902, 1798)
  assert len(c.VALID_TIMESTAMPS) == 897
  assert c.is_valid_timestamp(902) and c.is_valid_timestamp(1798)
  assert not c.is_valid_timestamp(901) and not c.is_valid_timestamp(1799)


def test_keyframe_frame_index():
  # Frame (t - 900) * 30 counted from 0 in the 15-minute cut.
  assert c.keyframe_frame_index(902) == 60
  assert c.keyframe_frame_index(900) == 0
  assert c.keyframe_frame_index(1798) == 898 * 30
  # Full movies start at 0.
  assert c.keyframe_frame_index(902, segment_start=0) == 902 * 30
  assert c.keyframe_frame_index(3, segment_start=0, fps=25) == 75
  assert c.keyframe_time_sec(905) == 5
  with pytest.raises(ValueError, match="before the segment start"):
    c.keyframe_frame_index(899)


def test_labels_and_counts():
  assert c.NUM_CLASSES == 80 and c.NUM_EVAL_CLASSES == 60
  assert c.LABEL_ID_OFFSET == 1 and (c.MIN_LABEL_ID, c.MAX_LABEL_ID) == (1, 80)
  assert c.MAX_DETECTIONS_PER_KEYFRAME == 50
  assert c.IOU_THRESHOLD == 0.5
  assert len(c.LABEL_TYPES) == 3


def test_column_orders():
  assert c.GROUNDTRUTH_COLUMNS == (
    "video_id",
    "timestamp",
    "x1",
    "y1",
    "x2",
    "y2",
    "action_id",
    "person_id",
  )
  assert c.DETECTION_COLUMNS[-1] == "score" and len(c.DETECTION_COLUMNS) == 8
  assert c.DETECTION_WITH_PERSON_COLUMNS[-2:] == ("person_id", "score")
  assert len(c.PERSON_BOX_COLUMNS) == 8
  assert c.EXCLUDED_TIMESTAMP_COLUMNS == ("video_id", "timestamp")


def test_keys():
  assert c.format_timestamp(902) == "0902"
  assert c.format_timestamp(1798) == "1798"
  assert c.format_timestamp(5) == "0005"
  assert c.make_key("0f39OWEqJ24", 902) == "0f39OWEqJ24,0902"
  assert c.parse_key("0f39OWEqJ24,0902") == ("0f39OWEqJ24", 902)
  assert c.parse_key("a,b,902") == ("a,b", 902)
  with pytest.raises(ValueError, match="not of the form"):
    c.parse_key("0902")
  with pytest.raises(ValueError, match="non-integer"):
    c.parse_key("vid,abc")


def test_no_tensorflow_import():
  import subprocess
  import sys

  code = (
    "import sys; import ava_tx.core.ava_constants, ava_tx.data.ava_annotations, "
    "ava_tx.data.label_map_util, ava_tx.data.detection_writer; "
    "sys.exit(1 if 'tensorflow' in sys.modules else 0)"
  )
  root = __import__("pathlib").Path(__file__).resolve().parents[2]
  assert subprocess.run([sys.executable, "-c", code], cwd=root).returncode == 0
