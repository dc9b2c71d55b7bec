"""Tests of ava_tx.data.ava_annotations on the real AVA samples and on bad rows."""

import pytest

from ava_tx.data import ava_annotations as ann
from ava_tx.data import label_map_util
from tests.data import ava_samples

AVA_DIR = ava_samples.AVA_DIR
needs_samples = ava_samples.needs_samples


def _write(tmp_path, text, name="a.csv"):
  return ava_samples.write_file(tmp_path, text, name)


@needs_samples
def test_groundtruth_sample_merges_rows_per_box():
  result = ann.read_annotations(AVA_DIR / "ava_train_sample.csv")
  assert list(result.annotations) == [
    ("0f39OWEqJ24", 902),
    ("0f39OWEqJ24", 903),
    ("_-Z6wFjXtGQ", 902),
  ]
  (box,) = result.annotations[("0f39OWEqJ24", 902)]
  # CSV x1,y1,x2,y2 = 0.031,0.162,0.670,0.995 -> [ymin, xmin, ymax, xmax].
  assert box == ann.BoxAnnotation(
    box=(0.162, 0.031, 0.995, 0.670), action_ids=(12, 17, 79), scores=None, person_id=0
  )
  assert result.annotations[("_-Z6wFjXtGQ", 902)][0].action_ids == (12, 74, 80)
  assert result.report.num_rows == 8 and result.report.num_used_rows == 8
  assert not result.report.skipped


@needs_samples
def test_groundtruth_sample_with_60_class_filter():
  entries = label_map_util.read_label_map(
    AVA_DIR / "ava_action_list_v2.1_for_activitynet_2018.pbtxt"
  )
  result = ann.read_annotations(
    AVA_DIR / "ava_train_sample.csv",
    label_map_ids=range(1, 81),
    keep_label_ids=[e.id for e in entries],
  )
  # All sample ids (12, 17, 74, 79, 80) are among the 60 evaluated classes.
  assert result.report.filtered_label_counts == {}
  result = ann.read_annotations(AVA_DIR / "ava_train_sample.csv", keep_label_ids=[12])
  assert result.report.filtered_label_counts == {17: 2, 79: 1, 74: 1, 80: 1}
  assert [b.action_ids for v in result.annotations.values() for b in v] == [(12,), (12,), (12,)]


@needs_samples
def test_excluded_timestamps_sample():
  assert ann.read_excluded_timestamps(AVA_DIR / "ava_excluded_timestamps_sample.csv") == {
    ("0f39OWEqJ24", 903),
    ("_-Z6wFjXtGQ", 902),
  }


@needs_samples
def test_person_boxes_sample():
  result = ann.read_person_boxes(AVA_DIR / "ava_val_predicted_boxes_sample.csv")
  assert sum(len(v) for v in result.annotations.values()) == 20
  assert len(result.annotations) == 13
  first = result.annotations[("1j20qq1JyX4", 902)]
  assert first[0] == ann.PersonBox(box=(0.098, 0.036, 0.979, 0.550), score=0.995518)
  filtered = ann.read_person_boxes(AVA_DIR / "ava_val_predicted_boxes_sample.csv", min_score=0.5)
  assert sum(len(v) for v in filtered.annotations.values()) == 18
  assert filtered.report.filtered_label_counts == {0: 2}  # 0.050167 and 0.164304


def test_unpadded_timestamps_and_detections(tmp_path):
  path = _write(
    tmp_path,
    "v1,902,0.1,0.2,0.3,0.4,5,0.9\n"
    "v1,0902,0.1,0.2,0.3,0.4,5,0.8\n"  # Same box and class: independent row.
    "v1,902,0.1,0.2,0.3,0.4,7,0.7\n"
    "v1,902,0.5,0.5,0.6,0.6,5,0.6\n\n",
  )
  result = ann.read_detections(path)
  boxes = result.annotations[("v1", 902)]
  assert boxes == [
    ann.BoxAnnotation((0.2, 0.1, 0.4, 0.3), (5, 5, 7), (0.9, 0.8, 0.7), None),
    ann.BoxAnnotation((0.5, 0.5, 0.6, 0.6), (5,), (0.6,), None),
  ]
  assert result.report.num_blank_lines == 1 and result.report.num_used_rows == 4


def test_nine_column_layout(tmp_path):
  path = _write(tmp_path, "v,0903,0,0,1,1,3,4,0.25\nv,0903,0,0,1,1,9,4,0.5\n")
  (box,) = ann.read_annotations(path).annotations[("v", 903)]
  assert box == ann.BoxAnnotation((0.0, 0.0, 1.0, 1.0), (3, 9), (0.25, 0.5), 4)


def test_groundtruth_duplicates_are_counted(tmp_path):
  path = _write(tmp_path, "v,0902,0,0,1,1,3,0\nv,0902,0,0,1,1,3,0\nv,0902,0,0,1,1,3,1\n")
  result = ann.read_annotations(path)
  assert result.report.num_duplicate_rows == 1
  # Same box but another person id stays a separate box.
  assert [(b.person_id, b.action_ids) for b in result.annotations[("v", 902)]] == [
    (0, (3,)),
    (1, (3,)),
  ]


BAD_ROWS = [
  ("v,0902,0.1,0.1,0.5,0.5,3\n", "wrong column count"),  # differs from the first row
  ("v,0902,0.1,0.1,0.5,1.2,3,0\n", r"box outside \[0,1\]: y2=1.2"),
  ("v,0902,0.6,0.1,0.5,0.5,3,0\n", "box inverted"),
  ("v,0902,0.1,0.1,0.5,0.5,99,0\n", "unknown label id: 99"),
  ("v,0902,0.1,0.1,0.5,0.5,0,0\n", "unknown label id: 0"),
  ("v,09x2,0.1,0.1,0.5,0.5,3,0\n", "non-numeric timestamp"),
  ("v,0902,abc,0.1,0.5,0.5,3,0\n", "non-numeric x1"),
  ("v,0902,nan,0.1,0.5,0.5,3,0\n", "non-numeric x1"),
  ("v,0902,0.1,0.1,0.5,0.5,3,0.9\n", "non-numeric person_id.*with_scores=True"),
]


@pytest.mark.parametrize("bad, reason", BAD_ROWS)
def test_bad_row_raises_with_file_and_line(tmp_path, bad, reason):
  path = _write(tmp_path, "v,0902,0.1,0.1,0.5,0.5,3,0\n" + bad)
  with pytest.raises(ann.AnnotationError, match=r"a\.csv:2: " + reason) as info:
    ann.read_annotations(path, label_map_ids=range(1, 81))
  assert isinstance(info.value, ValueError) and info.value.line == 2


def test_bad_rows_skipped_and_counted(tmp_path):
  text = "v,0902,0.1,0.1,0.5,0.5,3,0\n" + "".join(bad for bad, _ in BAD_ROWS)
  result = ann.read_annotations(
    _write(tmp_path, text), label_map_ids=range(1, 81), skip_bad_rows=True
  )
  report = result.report
  assert report.num_rows == 1 + len(BAD_ROWS) and report.num_used_rows == 1
  assert [s.line for s in report.skipped] == list(range(2, 2 + len(BAD_ROWS)))
  assert report.skipped_reason_counts() == {
    "wrong column count": 1,
    "box outside [0,1]": 1,
    "box inverted": 1,
    "unknown label id": 2,
    "non-numeric timestamp": 1,
    "non-numeric x1": 2,
    "non-numeric person_id": 1,
  }
  assert report.skipped[0].text == BAD_ROWS[0][0].strip()
  assert "9 skipped" in report.summary()


def test_first_row_with_unsupported_column_count(tmp_path):
  with pytest.raises(ann.AnnotationError, match=r":1: wrong column count: 5 columns"):
    ann.read_annotations(_write(tmp_path, "v,0902,0.1,0.1,0.5\n"))


def test_person_box_and_excluded_errors(tmp_path):
  with pytest.raises(ann.AnnotationError, match=r":1: bad action column"):
    ann.read_person_boxes(_write(tmp_path, "v,0902,0.1,0.1,0.5,0.5,3,0.9\n"))
  result = ann.read_person_boxes(
    _write(tmp_path, "v,0902,0.1,0.1,0.5,0.5,,0.9\nv,0902\n"), skip_bad_rows=True
  )
  assert [(s.line, s.reason.split(":")[0]) for s in result.report.skipped] == [
    (2, "wrong column count")
  ]
  with pytest.raises(ann.AnnotationError, match=r":2: non-numeric timestamp"):
    ann.read_excluded_timestamps(_write(tmp_path, "v,0902\nv,x\n"))
