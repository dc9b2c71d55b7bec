"""Readers of AVA annotation CSVs (ground truth, detections, person boxes, excluded
keyframes). Pure Python (no TensorFlow). Label maps: `label_map_util`; writing detection CSVs:
`detection_writer`.

Every reader accepts a path or an open text file (e.g. a `tf.io.gfile.GFile`, so callers can
read gs:// paths) and reports every row it did not use: bad rows raise `AnnotationError`
(a ValueError naming file and line) or, with `skip_bad_rows=True`, are listed in the returned
`ReadReport` with their reasons. Nothing silently vanishes.

Boxes in AVA CSVs are (x1, y1, x2, y2) normalized; the readers return
`(ymin, xmin, ymax, xmax)` tuples.
"""

import collections
import csv
import dataclasses
import io
import math
import os
from typing import Iterable, NamedTuple, Optional, Union

from ava_tx.core import errors

PathOrFile = Union[str, os.PathLike, io.TextIOBase]
Key = tuple  # (video_id: str, timestamp: int)

_BOX_EPS = 1e-6  # Tolerance for coordinates written as e.g. 1.0000001.


class AnnotationError(errors.InputError):
  """A bad row or entry in an annotation file. `str()` names file and line."""

  def __init__(self, path, line, reason):
    self.path = path
    self.line = line
    self.reason = reason
    super().__init__("%s:%s: %s" % (path, line, reason))


@dataclasses.dataclass(frozen=True)
class BoxAnnotation:
  """One box of one keyframe with all its labels.

  Attributes:
    box: (ymin, xmin, ymax, xmax), normalized to [0, 1].
    action_ids: AVA label ids (1-based), in file order. Ground truth: unique. Detections: may
      repeat, since each (box, class, score) row is an independent detection.
    scores: per-label scores parallel to `action_ids` (detection files), else None.
    person_id: the person id column (ground truth), else None.
  """

  box: tuple
  action_ids: tuple
  scores: Optional[tuple] = None
  person_id: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class PersonBox:
  """One person-detector box: box (ymin, xmin, ymax, xmax) normalized, and its score."""

  box: tuple
  score: float


@dataclasses.dataclass(frozen=True)
class SkippedRow:
  """A row that was not used, with the reason."""

  path: str
  line: int
  reason: str
  text: str


@dataclasses.dataclass
class ReadReport:
  """What a reader did with a file.

  Attributes:
    path: file name used in messages.
    num_rows: data rows read (blank lines excluded).
    num_used_rows: rows that contributed to the result.
    num_blank_lines: empty lines ignored.
    skipped: bad rows skipped (only with skip_bad_rows=True), with reasons.
    num_duplicate_rows: ground-truth rows repeating a (box, person, action) already seen;
      merged into one label.
    filtered_label_counts: label id -> rows dropped because the id is not in
      `keep_label_ids` (e.g. the 20 classes outside the 60-class evaluation map).
  """

  path: str
  num_rows: int = 0
  num_used_rows: int = 0
  num_blank_lines: int = 0
  skipped: list = dataclasses.field(default_factory=list)
  num_duplicate_rows: int = 0
  filtered_label_counts: dict = dataclasses.field(default_factory=dict)

  def skipped_reason_counts(self):
    """Returns {reason prefix: count} of skipped rows (reason text up to the first ':')."""
    return dict(collections.Counter(s.reason.split(":")[0] for s in self.skipped))

  def summary(self):
    """One-line human summary."""
    parts = ["%s: %d rows, %d used" % (self.path, self.num_rows, self.num_used_rows)]
    if self.skipped:
      parts.append("%d skipped %s" % (len(self.skipped), self.skipped_reason_counts()))
    if self.num_duplicate_rows:
      parts.append("%d duplicate rows merged" % self.num_duplicate_rows)
    if self.filtered_label_counts:
      parts.append(
        "%d rows with labels outside the kept set" % sum(self.filtered_label_counts.values())
      )
    return ", ".join(parts)


class ReadResult(NamedTuple):
  """`annotations`: {(video_id, timestamp): [BoxAnnotation or PersonBox, ...]} in sorted key
  order; `report`: the ReadReport."""

  annotations: dict
  report: ReadReport


# ---- Opening files ---------------------------------------------------------------------------


def source_name(path_or_file) -> str:
  """The name a path or open file is called by in messages."""
  if isinstance(path_or_file, (str, os.PathLike)):
    return os.fspath(path_or_file)
  return str(getattr(path_or_file, "name", "<stream>"))


def read_text(path_or_file: PathOrFile) -> str:
  """The file's text; AnnotationError (naming the file and line) if it is not UTF-8."""
  try:
    if isinstance(path_or_file, (str, os.PathLike)):
      with open(path_or_file, "rb") as f:
        return f.read().decode("utf-8")
    text = path_or_file.read()
    return text.decode("utf-8") if isinstance(text, bytes) else text
  except UnicodeDecodeError as e:
    data = e.object if isinstance(e.object, bytes) else b""
    line = data[: e.start].count(b"\n") + 1 if data else "?"
    raise AnnotationError(
      source_name(path_or_file),
      line,
      "not UTF-8 text (byte 0x%02x at offset %d): is this the right file?"
      % (data[e.start] if data else 0, e.start),
    ) from None


def csv_rows(path_or_file: PathOrFile) -> Iterable[tuple]:
  """Yields (line_number, fields, raw_text) for every line, blank ones with fields == []."""
  text = read_text(path_or_file)
  for line_number, raw in enumerate(text.splitlines(), start=1):
    if not raw.strip():
      yield line_number, [], raw
      continue
    fields = next(csv.reader([raw]))
    yield line_number, [f.strip() for f in fields], raw


# ---- Field parsing ---------------------------------------------------------------------------


class _BadRow(Exception):
  pass


def _parse_int(text, field):
  try:
    return int(text)
  except ValueError:
    raise _BadRow("non-numeric %s: %r is not an integer" % (field, text)) from None


def _parse_float(text, field):
  try:
    value = float(text)
  except ValueError:
    raise _BadRow("non-numeric %s: %r is not a number" % (field, text)) from None
  if not math.isfinite(value):
    raise _BadRow("non-numeric %s: %r is not finite" % (field, text))
  return value


def _parse_key(fields):
  video_id = fields[0]
  if not video_id:
    raise _BadRow("empty video_id")
  timestamp = _parse_int(fields[1], "timestamp")
  if timestamp < 0:
    raise _BadRow("bad timestamp: %d is negative" % timestamp)
  return video_id, timestamp


def _parse_box(fields):
  """fields = x1, y1, x2, y2 text -> (ymin, xmin, ymax, xmax)."""
  x1, y1, x2, y2 = (_parse_float(t, n) for t, n in zip(fields, ("x1", "y1", "x2", "y2")))
  for value, name in ((x1, "x1"), (y1, "y1"), (x2, "x2"), (y2, "y2")):
    if value < -_BOX_EPS or value > 1.0 + _BOX_EPS:
      raise _BadRow("box outside [0,1]: %s=%r" % (name, value))
  if x2 < x1 or y2 < y1:
    raise _BadRow("box inverted: x1,y1,x2,y2 = %r,%r,%r,%r" % (x1, y1, x2, y2))
  clip = lambda v: min(max(v, 0.0), 1.0)
  return (clip(y1), clip(x1), clip(y2), clip(x2))


# ---- Annotation CSVs -------------------------------------------------------------------------


def read_annotations(
  path_or_file: PathOrFile,
  *,
  label_map_ids: Optional[Iterable[int]] = None,
  skip_bad_rows: bool = False,
  with_scores: Optional[bool] = None,
  keep_label_ids: Optional[Iterable[int]] = None,
) -> ReadResult:
  """Reads an AVA ground-truth or detection CSV into boxes keyed by keyframe.

  Layouts by column count (see ava_constants):
    7: video_id,timestamp,x1,y1,x2,y2,action_id
    8: video_id,timestamp,x1,y1,x2,y2,action_id,person_id   (ground truth, default)
       video_id,timestamp,x1,y1,x2,y2,action_id,score       (with_scores=True: detections)
    9: video_id,timestamp,x1,y1,x2,y2,action_id,person_id,score
  All rows of a file must have the same layout as its first data row.

  Rows with the same (video_id, timestamp, box, person_id) merge into one BoxAnnotation with
  several labels. Ground truth repeating a label for a box counts in
  `report.num_duplicate_rows`; detections keep every row (independent detections).

  Args:
    path_or_file: path or open text file.
    label_map_ids: if given, a label id outside it is a bad row ("unknown label id").
    skip_bad_rows: if True, bad rows are listed in `report.skipped` instead of raising.
    with_scores: None: scores only in the 9-column layout; True: the last column is a score
      (8 or 9 columns); False: no scores (7 or 8 columns).
    keep_label_ids: if given, rows with other (valid) label ids are dropped and counted per id
      in `report.filtered_label_counts` (e.g. evaluation on 60 of 80 classes).

  Returns:
    ReadResult(annotations={(video_id, timestamp int): [BoxAnnotation]}, report).

  Raises:
    AnnotationError: on the first bad row unless skip_bad_rows.
  """
  label_map_ids = None if label_map_ids is None else frozenset(label_map_ids)
  keep_label_ids = None if keep_label_ids is None else frozenset(keep_label_ids)
  report = ReadReport(path=source_name(path_or_file))
  # key -> {(box, person_id): ([action_id, ...], [score, ...])}; dicts keep file order.
  labels_per_box = collections.defaultdict(dict)
  parse_row = _annotation_row_parser(with_scores, label_map_ids)
  for row in _parsed_rows(path_or_file, parse_row, report, skip_bad_rows):
    if keep_label_ids is not None and row.action_id not in keep_label_ids:
      report.filtered_label_counts[row.action_id] = (
        report.filtered_label_counts.get(row.action_id, 0) + 1
      )
      continue
    _add_label(labels_per_box[row.key], row, report)
  return ReadResult(_box_annotations(labels_per_box), report)


def _parsed_rows(path_or_file, parse_row, report, skip_bad_rows):
  """Yields `parse_row(fields)` of every data row, counting rows and blank lines in `report`.

  A row `parse_row` rejects (_BadRow) raises AnnotationError, or with `skip_bad_rows` is listed
  in `report.skipped`.
  """
  for line, fields, raw in csv_rows(path_or_file):
    if not fields:
      report.num_blank_lines += 1
      continue
    report.num_rows += 1
    try:
      row = parse_row(fields)
    except _BadRow as e:
      _reject_row(report, line, raw, str(e), skip_bad_rows)
      continue
    yield row


def _annotation_row_parser(with_scores, label_map_ids):
  """fields -> _AnnotationRow, with the layout fixed by the first row that has a valid column
  count; the reasons of bad rows carry a hint when the layout looks like a detection file."""
  layout = None

  def parse_row(fields):
    nonlocal layout
    try:
      if layout is None:
        layout = _annotation_layout(len(fields), with_scores)
      return _parse_annotation_row(fields, layout, label_map_ids)
    except _BadRow as e:
      raise _BadRow(_with_layout_hint(str(e), layout, fields)) from None

  return parse_row


class _Layout(NamedTuple):
  """The columns of an annotation CSV, fixed by its first data row."""

  num_columns: int
  has_person_id: bool
  has_score: bool


class _AnnotationRow(NamedTuple):
  """One parsed row: (video_id, timestamp) key, (ymin, xmin, ymax, xmax) box, one label."""

  key: tuple
  box: tuple
  action_id: int
  person_id: Optional[int]
  score: Optional[float]


def _annotation_layout(num_columns, with_scores):
  if with_scores is None:
    table = {7: (False, False), 8: (True, False), 9: (True, True)}
  elif with_scores:
    table = {8: (False, True), 9: (True, True)}
  else:
    table = {7: (False, False), 8: (True, False)}
  if num_columns not in table:
    raise _BadRow(
      "wrong column count: %d columns, expected one of %s" % (num_columns, sorted(table))
    )
  return _Layout(num_columns, *table[num_columns])


def _parse_annotation_row(fields, layout, label_map_ids):
  """Fields of one row -> _AnnotationRow; _BadRow says what is wrong."""
  if len(fields) != layout.num_columns:
    raise _BadRow(
      "wrong column count: %d columns, expected %d like the first row"
      % (len(fields), layout.num_columns)
    )
  key = _parse_key(fields)
  box = _parse_box(fields[2:6])
  action_id = _parse_int(fields[6], "action_id")
  if action_id < 1 or (label_map_ids is not None and action_id not in label_map_ids):
    raise _BadRow("unknown label id: %d" % action_id)
  person_id = _parse_int(fields[7], "person_id") if layout.has_person_id else None
  score = _parse_float(fields[-1], "score") if layout.has_score else None
  return _AnnotationRow(key, box, action_id, person_id, score)


def _with_layout_hint(reason, layout, fields):
  """A score read as a person_id most likely means a detection file read as ground truth."""
  if (
    layout is not None
    and not layout.has_score
    and len(fields) == 8
    and reason.startswith("non-numeric person_id")
  ):
    return reason + " (a detection file? read it with with_scores=True)"
  return reason


def _reject_row(report, line, raw, reason, skip_bad_rows):
  """Raises AnnotationError for a bad row, or lists it in `report.skipped`."""
  if not skip_bad_rows:
    raise AnnotationError(report.path, line, reason) from None
  report.skipped.append(SkippedRow(report.path, line, reason, raw))


def _add_label(labels_of_keyframe, row, report):
  """Adds the row's label to its box, {(box, person_id): ([action_id], [score])}. Ground truth
  repeating a label of the box is counted as a duplicate; detections keep every row."""
  action_ids, scores = labels_of_keyframe.setdefault((row.box, row.person_id), ([], []))
  report.num_used_rows += 1
  if row.score is None and row.action_id in action_ids:
    report.num_duplicate_rows += 1
    return
  action_ids.append(row.action_id)
  scores.append(row.score)


def _box_annotations(labels_per_box):
  """{key: {(box, person_id): (action_ids, scores)}} -> {key: [BoxAnnotation]}, keys sorted."""
  annotations = {}
  for key in sorted(labels_per_box):
    annotations[key] = [
      BoxAnnotation(
        box=box,
        action_ids=tuple(ids),
        scores=tuple(scores) if scores and scores[0] is not None else None,
        person_id=person_id,
      )
      for (box, person_id), (ids, scores) in labels_per_box[key].items()
    ]
  return annotations


def read_detections(path_or_file: PathOrFile, **kwargs) -> ReadResult:
  """`read_annotations(..., with_scores=True)`: the official 8-column detection layout
  `video_id,timestamp,x1,y1,x2,y2,action_id,score` (or 9 columns with a person_id)."""
  return read_annotations(path_or_file, with_scores=True, **kwargs)


def read_person_boxes(
  path_or_file: PathOrFile, *, skip_bad_rows: bool = False, min_score: float = 0.0
) -> ReadResult:
  """Reads person-detector boxes `video_id,timestamp,x1,y1,x2,y2,,score` (SlowFast/LFB).

  Boxes with score < min_score are dropped and counted in `report.filtered_label_counts[0]`.

  Returns:
    ReadResult(annotations={(video_id, timestamp): [PersonBox]}, report).
  """
  report = ReadReport(path=source_name(path_or_file))
  boxes = collections.defaultdict(list)
  for key, person_box in _parsed_rows(path_or_file, _parse_person_box_row, report, skip_bad_rows):
    if person_box.score < min_score:
      report.filtered_label_counts[0] = report.filtered_label_counts.get(0, 0) + 1
      continue
    boxes[key].append(person_box)
    report.num_used_rows += 1
  return ReadResult({k: boxes[k] for k in sorted(boxes)}, report)


def _parse_person_box_row(fields):
  """Fields of `video_id,timestamp,x1,y1,x2,y2,,score` -> (key, PersonBox)."""
  if len(fields) != 8:
    raise _BadRow(
      "wrong column count: %d columns, expected 8 "
      "(video_id,timestamp,x1,y1,x2,y2,,score)" % len(fields)
    )
  if fields[6]:
    raise _BadRow("bad action column: expected empty, got %r" % fields[6])
  key = _parse_key(fields)
  box = _parse_box(fields[2:6])
  return key, PersonBox(box=box, score=_parse_float(fields[7], "score"))


def read_excluded_timestamps(path_or_file: PathOrFile) -> set:
  """Reads `video_id,timestamp` rows into a set of (video_id, timestamp int) keys.

  Raises:
    AnnotationError: on a row that is not two fields with an integer timestamp.
  """
  report = ReadReport(path=source_name(path_or_file))
  return set(_parsed_rows(path_or_file, _parse_excluded_row, report, skip_bad_rows=False))


def _parse_excluded_row(fields):
  if len(fields) != 2:
    raise _BadRow("wrong column count: %d columns, expected 2 (video_id,timestamp)" % len(fields))
  return _parse_key(fields)
