"""Readers and writers for AVA annotation files. Pure Python (no TensorFlow).

Every reader accepts a path or an open text file (e.g. a `tf.io.gfile.GFile`, so callers can
read gs:// paths) and reports every row it did not use: bad rows raise `AnnotationError`
(a ValueError naming file and line) or, with `skip_bad_rows=True`, are listed in the returned
`ReadReport` with their reasons. Nothing silently vanishes.

Boxes in AVA CSVs are (x1, y1, x2, y2) normalized; the readers return
`(ymin, xmin, ymax, xmax)` tuples, the writer converts back.
"""

import collections
import csv
import dataclasses
import io
import math
import os
import re
from typing import Iterable, Mapping, NamedTuple, Optional, Sequence, Union

from ava_tx.core import ava_constants
from ava_tx.core import errors
from ava_tx.core import file_io

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
class LabelMapEntry:
  """One class of a label map. `id` is the 1-based AVA label id."""
  id: int
  name: str
  label_type: Optional[str] = None


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
      parts.append("%d rows with labels outside the kept set" %
                   sum(self.filtered_label_counts.values()))
    return ", ".join(parts)


class ReadResult(NamedTuple):
  """`annotations`: {(video_id, timestamp): [BoxAnnotation or PersonBox, ...]} in sorted key
  order; `report`: the ReadReport."""
  annotations: dict
  report: ReadReport


# ---- Opening files ---------------------------------------------------------------------------

def _name_of(path_or_file):
  if isinstance(path_or_file, (str, os.PathLike)):
    return os.fspath(path_or_file)
  return str(getattr(path_or_file, "name", "<stream>"))


def _read_text(path_or_file):
  """The file's text; AnnotationError (naming the file and line) if it is not UTF-8."""
  try:
    if isinstance(path_or_file, (str, os.PathLike)):
      with open(path_or_file, "rb") as f:
        return f.read().decode("utf-8")
    text = path_or_file.read()
    return text.decode("utf-8") if isinstance(text, bytes) else text
  except UnicodeDecodeError as e:
    data = e.object if isinstance(e.object, bytes) else b""
    line = data[:e.start].count(b"\n") + 1 if data else "?"
    raise AnnotationError(_name_of(path_or_file), line,
                          "not UTF-8 text (byte 0x%02x at offset %d): is this the right file?"
                          % (data[e.start] if data else 0, e.start)) from None


def _csv_rows(path_or_file):
  """Yields (line_number, fields, raw_text) for every line, blank ones with fields == []."""
  text = _read_text(path_or_file)
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

def read_annotations(path_or_file: PathOrFile, *, label_map_ids: Optional[Iterable[int]] = None,
                     skip_bad_rows: bool = False, with_scores: Optional[bool] = None,
                     keep_label_ids: Optional[Iterable[int]] = None) -> ReadResult:
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
  path = _name_of(path_or_file)
  label_map_ids = None if label_map_ids is None else frozenset(label_map_ids)
  keep_label_ids = None if keep_label_ids is None else frozenset(keep_label_ids)
  report = ReadReport(path=path)
  # key -> {(box, person_id): [action_ids list, scores list]}; dicts keep file order.
  merged = collections.defaultdict(dict)
  layout = None  # (num_columns, has_person_id, has_score)
  for line, fields, raw in _csv_rows(path_or_file):
    if not fields:
      report.num_blank_lines += 1
      continue
    report.num_rows += 1
    try:
      if layout is None:
        layout = _annotation_layout(len(fields), with_scores)
      num_columns, has_person, has_score = layout
      if len(fields) != num_columns:
        raise _BadRow("wrong column count: %d columns, expected %d like the first row" %
                      (len(fields), num_columns))
      key = _parse_key(fields)
      box = _parse_box(fields[2:6])
      action_id = _parse_int(fields[6], "action_id")
      if action_id < 1 or (label_map_ids is not None and action_id not in label_map_ids):
        raise _BadRow("unknown label id: %d" % action_id)
      person_id = _parse_int(fields[7], "person_id") if has_person else None
      score = _parse_float(fields[-1], "score") if has_score else None
    except _BadRow as e:
      reason = str(e)
      if layout and not layout[2] and len(fields) == 8 and reason.startswith("non-numeric person_id"):
        reason += " (a detection file? read it with with_scores=True)"
      if not skip_bad_rows:
        raise AnnotationError(path, line, reason) from None
      report.skipped.append(SkippedRow(path, line, reason, raw))
      continue
    if keep_label_ids is not None and action_id not in keep_label_ids:
      report.filtered_label_counts[action_id] = report.filtered_label_counts.get(action_id, 0) + 1
      continue
    entry = merged[key].setdefault((box, person_id), ([], []))
    if score is None and action_id in entry[0]:
      report.num_duplicate_rows += 1
      report.num_used_rows += 1
      continue
    entry[0].append(action_id)
    entry[1].append(score)
    report.num_used_rows += 1
  annotations = {}
  for key in sorted(merged):
    annotations[key] = [
        BoxAnnotation(box=box, action_ids=tuple(ids),
                      scores=tuple(scores) if scores and scores[0] is not None else None,
                      person_id=person_id)
        for (box, person_id), (ids, scores) in merged[key].items()]
  return ReadResult(annotations, report)


def _annotation_layout(num_columns, with_scores):
  if with_scores is None:
    table = {7: (False, False), 8: (True, False), 9: (True, True)}
  elif with_scores:
    table = {8: (False, True), 9: (True, True)}
  else:
    table = {7: (False, False), 8: (True, False)}
  if num_columns not in table:
    raise _BadRow("wrong column count: %d columns, expected one of %s" %
                  (num_columns, sorted(table)))
  return (num_columns,) + table[num_columns]


def read_detections(path_or_file: PathOrFile, **kwargs) -> ReadResult:
  """`read_annotations(..., with_scores=True)`: the official 8-column detection layout
  `video_id,timestamp,x1,y1,x2,y2,action_id,score` (or 9 columns with a person_id)."""
  return read_annotations(path_or_file, with_scores=True, **kwargs)


def read_person_boxes(path_or_file: PathOrFile, *, skip_bad_rows: bool = False,
                      min_score: float = 0.0) -> ReadResult:
  """Reads person-detector boxes `video_id,timestamp,x1,y1,x2,y2,,score` (SlowFast/LFB).

  Boxes with score < min_score are dropped and counted in `report.filtered_label_counts[0]`.

  Returns:
    ReadResult(annotations={(video_id, timestamp): [PersonBox]}, report).
  """
  path = _name_of(path_or_file)
  report = ReadReport(path=path)
  boxes = collections.defaultdict(list)
  for line, fields, raw in _csv_rows(path_or_file):
    if not fields:
      report.num_blank_lines += 1
      continue
    report.num_rows += 1
    try:
      if len(fields) != 8:
        raise _BadRow("wrong column count: %d columns, expected 8 "
                      "(video_id,timestamp,x1,y1,x2,y2,,score)" % len(fields))
      if fields[6]:
        raise _BadRow("bad action column: expected empty, got %r" % fields[6])
      key = _parse_key(fields)
      box = _parse_box(fields[2:6])
      score = _parse_float(fields[7], "score")
    except _BadRow as e:
      if not skip_bad_rows:
        raise AnnotationError(path, line, str(e)) from None
      report.skipped.append(SkippedRow(path, line, str(e), raw))
      continue
    if score < min_score:
      report.filtered_label_counts[0] = report.filtered_label_counts.get(0, 0) + 1
      continue
    boxes[key].append(PersonBox(box=box, score=score))
    report.num_used_rows += 1
  return ReadResult({k: boxes[k] for k in sorted(boxes)}, report)


def read_excluded_timestamps(path_or_file: PathOrFile) -> set:
  """Reads `video_id,timestamp` rows into a set of (video_id, timestamp int) keys.

  Raises:
    AnnotationError: on a row that is not two fields with an integer timestamp.
  """
  path = _name_of(path_or_file)
  keys = set()
  for line, fields, _ in _csv_rows(path_or_file):
    if not fields:
      continue
    try:
      if len(fields) != 2:
        raise _BadRow("wrong column count: %d columns, expected 2 (video_id,timestamp)" %
                      len(fields))
      keys.add(_parse_key(fields))
    except _BadRow as e:
      raise AnnotationError(path, line, str(e)) from None
  return keys


# ---- Writing detections ----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class DetectionRow:
  """One official detection row: box (ymin, xmin, ymax, xmax) normalized, AVA label id, score."""
  video_id: str
  timestamp: int
  box: tuple
  action_id: int
  score: float


def format_detection_row(row: DetectionRow, *,
                         score_format: str = ava_constants.SCORE_FORMAT) -> str:
  """Returns `video_id,%04d,x1,y1,x2,y2,action_id,score` (no newline), coordinates as %.6f,
  the score as `score_format`."""
  ymin, xmin, ymax, xmax = row.box
  f = ava_constants.SCORE_FORMAT
  return ",".join([row.video_id, ava_constants.format_timestamp(row.timestamp),
                   f % xmin, f % ymin, f % xmax, f % ymax, "%d" % row.action_id,
                   score_format % row.score])


def detection_rows_from_annotations(annotations: Mapping) -> list:
  """Flattens {(video_id, timestamp): [BoxAnnotation with scores]} into DetectionRows, one per
  (box, label), keys in sorted order."""
  rows = []
  for (video_id, timestamp) in sorted(annotations):
    for ann in annotations[(video_id, timestamp)]:
      if ann.scores is None:
        raise ValueError("BoxAnnotation of %s has no scores; detections need scores." %
                         ava_constants.make_key(video_id, timestamp))
      for action_id, score in zip(ann.action_ids, ann.scores):
        rows.append(DetectionRow(video_id, timestamp, ann.box, action_id, score))
  return rows


def write_detections(path_or_file: PathOrFile,
                     detections: Union[Mapping, Iterable[DetectionRow]], *,
                     score_format: str = ava_constants.SCORE_FORMAT) -> int:
  """Writes an official AVA detection CSV: one row per (box, class), `%04d` timestamps,
  x1,y1,x2,y2 order, `%.6f` floats, no header.

  Args:
    path_or_file: destination path, local or remote (written atomically via a temporary name) or open text file.
    detections: DetectionRows, or a mapping as returned by `read_detections`.
    score_format: format of the score column (e.g. "%.9g": float32 scores written exactly).

  Returns:
    Number of rows written.
  """
  rows = (detection_rows_from_annotations(detections) if isinstance(detections, Mapping)
          else list(detections))
  text = "".join(format_detection_row(r, score_format=score_format) + "\n" for r in rows)
  if isinstance(path_or_file, (str, os.PathLike)):
    file_io.write_text(os.fspath(path_or_file), text)
  else:
    path_or_file.write(text)
  return len(rows)


# ---- Label maps ------------------------------------------------------------------------------

_PBTXT_TOKEN = re.compile(r'\s*(?:(#[^\n]*)|("(?:[^"\\]|\\.)*")|([{}:])|([^\s{}:"#]+))')


def _pbtxt_tokens(text, path):
  pos = 0
  while pos < len(text):
    match = _PBTXT_TOKEN.match(text, pos)
    if not match or match.end() == pos:
      if text[pos:].strip():
        raise AnnotationError(path, text.count("\n", 0, pos) + 1, "unparsable text %r" %
                              text[pos:pos + 20])
      return
    token = match.group(0)
    line = text.count("\n", 0, match.start() + len(token) - len(token.lstrip())) + 1
    pos = match.end()
    comment, quoted, punct, word = match.groups()
    if comment:
      continue
    if quoted is not None:
      yield line, "str", bytes(quoted[1:-1], "utf-8").decode("unicode_escape")
    elif punct:
      yield line, punct, punct
    elif word:
      yield line, "word", word


def _read_label_map_pbtxt(text, path):
  entries = []
  tokens = list(_pbtxt_tokens(text, path))
  i = 0
  while i < len(tokens):
    line, kind, value = tokens[i]
    if kind != "word" or value not in ("item", "label") or i + 1 >= len(tokens) or \
        tokens[i + 1][1] != "{":
      raise AnnotationError(path, line, "expected 'item {' or 'label {', got %r" % value)
    block_line = line
    i += 2
    fields = {}
    while i < len(tokens) and tokens[i][1] != "}":
      line, kind, name = tokens[i]
      if kind != "word" or i + 2 >= len(tokens) or tokens[i + 1][1] != ":":
        raise AnnotationError(path, line, "expected 'field: value', got %r" % name)
      fields[name] = (tokens[i + 2][2], line)
      i += 3
    if i >= len(tokens):
      raise AnnotationError(path, block_line, "unterminated block")
    i += 1
    id_field = "label_id" if "label_id" in fields else "id"
    if id_field not in fields or "name" not in fields:
      raise AnnotationError(path, block_line, "entry lacks a name or an id/label_id field")
    try:
      label_id = int(fields[id_field][0])
    except ValueError:
      raise AnnotationError(path, fields[id_field][1], "non-numeric %s: %r" %
                            (id_field, fields[id_field][0])) from None
    label_type = fields.get("label_type", (None,))[0]
    entries.append((block_line, LabelMapEntry(label_id, fields["name"][0], label_type)))
  return entries


def _read_label_map_csv(text, path):
  entries = []
  for line, fields, _ in _csv_rows(io.StringIO(text)):
    if not fields:
      continue
    if line == 1 and fields[0] == ava_constants.LABEL_MAP_CSV_COLUMNS[0]:
      continue  # Header.
    if len(fields) not in (2, 3):
      raise AnnotationError(path, line, "wrong column count: %d columns, expected 3 "
                            "(label_id,label_name,label_type)" % len(fields))
    try:
      label_id = int(fields[0])
    except ValueError:
      raise AnnotationError(path, line, "non-numeric label_id: %r" % fields[0]) from None
    entries.append((line, LabelMapEntry(label_id, fields[1],
                                        fields[2] if len(fields) == 3 else None)))
  return entries


def read_label_map(path_or_file: PathOrFile) -> list:
  """Reads a label map: pbtxt `item { name id }`, pbtxt `label { name label_id label_type }`,
  or the CSV `label_id,label_name,label_type` (header optional, quoted names).

  Returns:
    list of LabelMapEntry sorted by id. The contiguous class index used by the model is the
    position in this list (see `class_indices`).

  Raises:
    AnnotationError: on unparsable text, a non-positive or duplicate id, or an empty map.
  """
  path = _name_of(path_or_file)
  text = _read_text(path_or_file)
  stripped = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#")).lstrip()
  if stripped.startswith("item") or stripped.startswith("label {") or \
      re.match(r"label\s*\{", stripped):
    entries = _read_label_map_pbtxt(text, path)
  else:
    entries = _read_label_map_csv(text, path)
  if not entries:
    raise AnnotationError(path, 1, "label map has no entries")
  seen = {}
  for line, entry in entries:
    if entry.id < 1:
      raise AnnotationError(path, line, "label id %d is not positive (AVA ids are 1-based)" %
                            entry.id)
    if entry.id in seen:
      raise AnnotationError(path, line, "duplicate label id %d (first on line %d)" %
                            (entry.id, seen[entry.id]))
    seen[entry.id] = line
  return sorted((e for _, e in entries), key=lambda e: e.id)


def class_indices(label_map: Sequence[LabelMapEntry]) -> dict:
  """{AVA label id: contiguous class index 0..num_classes-1} in label-map (id) order."""
  return {entry.id: index for index, entry in enumerate(sorted(label_map, key=lambda e: e.id))}
