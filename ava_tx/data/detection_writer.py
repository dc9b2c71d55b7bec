"""Writes AVA detection CSVs in the official layout. Pure Python (no TensorFlow).

One row per (box, class): `video_id,%04d,x1,y1,x2,y2,action_id,score`, no header, the box
converted from this package's (ymin, xmin, ymax, xmax) to AVA's x1,y1,x2,y2 order. The files
read back with `ava_annotations.read_detections`.
"""

import dataclasses
import os
from typing import Iterable, Mapping, Union

from ava_tx.core import ava_constants
from ava_tx.core import file_io
from ava_tx.data import ava_annotations


@dataclasses.dataclass(frozen=True)
class DetectionRow:
  """One official detection row: box (ymin, xmin, ymax, xmax) normalized, AVA label id, score."""

  video_id: str
  timestamp: int
  box: tuple
  action_id: int
  score: float


def format_detection_row(
  row: DetectionRow, *, score_format: str = ava_constants.SCORE_FORMAT
) -> str:
  """Returns `video_id,%04d,x1,y1,x2,y2,action_id,score` (no newline), coordinates as %.6f,
  the score as `score_format`."""
  ymin, xmin, ymax, xmax = row.box
  f = ava_constants.SCORE_FORMAT
  return ",".join(
    [
      row.video_id,
      ava_constants.format_timestamp(row.timestamp),
      f % xmin,
      f % ymin,
      f % xmax,
      f % ymax,
      "%d" % row.action_id,
      score_format % row.score,
    ]
  )


def detection_rows_from_annotations(annotations: Mapping) -> list:
  """Flattens {(video_id, timestamp): [BoxAnnotation with scores]} into DetectionRows, one per
  (box, label), keys in sorted order."""
  rows = []
  for video_id, timestamp in sorted(annotations):
    for ann in annotations[(video_id, timestamp)]:
      if ann.scores is None:
        raise ValueError(
          "BoxAnnotation of %s has no scores; detections need scores."
          % ava_constants.make_key(video_id, timestamp)
        )
      for action_id, score in zip(ann.action_ids, ann.scores):
        rows.append(DetectionRow(video_id, timestamp, ann.box, action_id, score))
  return rows


def write_detections(
  path_or_file: ava_annotations.PathOrFile,
  detections: Union[Mapping, Iterable[DetectionRow]],
  *,
  score_format: str = ava_constants.SCORE_FORMAT,
) -> int:
  """Writes an official AVA detection CSV: one row per (box, class), `%04d` timestamps,
  x1,y1,x2,y2 order, `%.6f` floats, no header.

  Args:
    path_or_file: destination path, local or remote (written atomically via a temporary
      name), or an open text file.
    detections: DetectionRows, or a mapping as returned by `ava_annotations.read_detections`.
    score_format: format of the score column (e.g. "%.9g": float32 scores written exactly).

  Returns:
    Number of rows written.
  """
  rows = (
    detection_rows_from_annotations(detections)
    if isinstance(detections, Mapping)
    else list(detections)
  )
  text = "".join(format_detection_row(r, score_format=score_format) + "\n" for r in rows)
  if isinstance(path_or_file, (str, os.PathLike)):
    file_io.write_text(os.fspath(path_or_file), text)
  else:
    path_or_file.write(text)
  return len(rows)
