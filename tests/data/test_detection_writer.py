"""Tests of ava_tx.data.detection_writer: the official detection CSV layout and its round trip
through ava_annotations.read_detections."""

import io

import pytest

from ava_tx.data import ava_annotations
from ava_tx.data import detection_writer


def test_write_detections_round_trip(tmp_path):
  rows = [
    detection_writer.DetectionRow("v1", 902, (0.2, 0.1, 0.4, 0.3), 5, 0.9),
    detection_writer.DetectionRow("v1", 902, (0.2, 0.1, 0.4, 0.3), 7, 0.125),
    detection_writer.DetectionRow("v2", 1798, (0.0, 0.0, 1.0, 1.0), 80, 0.5),
  ]
  path = tmp_path / "det.csv"
  assert detection_writer.write_detections(path, rows) == 3
  lines = path.read_text().splitlines()
  assert lines[0] == "v1,0902,0.100000,0.200000,0.300000,0.400000,5,0.900000"
  assert len(lines) == 3
  result = ava_annotations.read_detections(path)
  assert result.annotations[("v1", 902)] == [
    ava_annotations.BoxAnnotation((0.2, 0.1, 0.4, 0.3), (5, 7), (0.9, 0.125), None)
  ]
  # Writing the mapping back gives the same text.
  buffer = io.StringIO()
  detection_writer.write_detections(buffer, result.annotations)
  assert buffer.getvalue() == path.read_text()
  assert not list(tmp_path.glob("*.tmp-*"))


def test_format_detection_row_converts_the_box_order():
  row = detection_writer.DetectionRow("v", 1798, (0.25, 0.125, 0.75, 0.5), 12, 0.123456789)
  assert detection_writer.format_detection_row(row) == (
    "v,1798,0.125000,0.250000,0.500000,0.750000,12,0.123457"
  )
  assert detection_writer.format_detection_row(row, score_format="%.9g").endswith(",0.123456789")


def test_rows_from_annotations_need_scores():
  ground_truth = {("v", 902): [ava_annotations.BoxAnnotation((0.1, 0.1, 0.2, 0.2), (5,))]}
  with pytest.raises(ValueError, match="v,0902 has no scores"):
    detection_writer.detection_rows_from_annotations(ground_truth)
