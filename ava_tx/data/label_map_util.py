"""Label maps: which AVA classes a model predicts and their names. Pure Python (no TensorFlow).

Three layouts are read, as `read_label_map` says: the text-format `StringIntLabelMap`
(protos/string_int_label_map.proto, parsed with `google.protobuf.text_format` as the Object
Detection API's label_map_util does) in its `item { name id }` and AVA's
`label { name label_id label_type }` block layouts, and AVA's CSV label list. Errors are
`ava_annotations.AnnotationError` naming the file and line.
"""

import dataclasses
import io
import re
from typing import Optional, Sequence

from google.protobuf import text_format

from ava_tx.core import ava_constants
from ava_tx.data import ava_annotations
from ava_tx.protos import string_int_label_map_pb2

_LabelMapItem = string_int_label_map_pb2.StringIntLabelMapItem

# text_format's messages start with "line:column : "; the file name and line are put first.
_PARSE_ERROR_LOCATION = re.compile(r"^\d+(?::\d+)? : ")
_NOT_AN_INTEGER = re.compile(r"Couldn't parse integer: (.*)$")
_FIELD_BEFORE_VALUE = re.compile(r"(\w+)\s*:\s*$")
_OPENS_A_BLOCK = re.compile(r"[A-Za-z_]\w*\s*:?\s*[{<\[]")


@dataclasses.dataclass(frozen=True)
class LabelMapEntry:
  """One class of a label map. `id` is the 1-based AVA label id."""

  id: int
  name: str
  label_type: Optional[str] = None


def read_label_map(path_or_file: ava_annotations.PathOrFile) -> list:
  """Reads a label map: pbtxt `item { name id }`, pbtxt `label { name label_id label_type }`
  (the two may be mixed), or the CSV `label_id,label_name,label_type` (header optional,
  quoted names).

  Returns:
    list of LabelMapEntry sorted by id. The contiguous class index used by the model is the
    position in this list (see `class_indices`).

  Raises:
    AnnotationError: on unparsable text, an entry without a name or id, a non-positive or
      duplicate id, or an empty map.
  """
  path = ava_annotations.source_name(path_or_file)
  text = ava_annotations.read_text(path_or_file)
  if _looks_like_pbtxt(text):
    entries = _read_label_map_pbtxt(text, path)
  else:
    entries = _read_label_map_csv(text, path)
  if not entries:
    raise ava_annotations.AnnotationError(path, 1, "label map has no entries")
  _check_ids(entries, path)
  return sorted((entry for _, entry in entries), key=lambda entry: entry.id)


def class_indices(label_map: Sequence[LabelMapEntry]) -> dict:
  """{AVA label id: contiguous class index 0..num_classes-1} in label-map (id) order."""
  return {entry.id: index for index, entry in enumerate(sorted(label_map, key=lambda e: e.id))}


def _looks_like_pbtxt(text):
  """True if the first text that is not a comment opens a block (`item {`, `label {`, or a
  misspelt name, which text_format then names), or if there is no such text."""
  content = "\n".join(
    line for line in text.splitlines() if not line.lstrip().startswith("#")
  ).lstrip()
  return not content or content.startswith("item") or _OPENS_A_BLOCK.match(content) is not None


def _check_ids(entries, path):
  """entries: [(line, LabelMapEntry)] in file order; ids must be positive and distinct."""
  first_line = {}
  for line, entry in entries:
    if entry.id < 1:
      raise ava_annotations.AnnotationError(
        path, line, "label id %d is not positive (AVA ids are 1-based)" % entry.id
      )
    if entry.id in first_line:
      raise ava_annotations.AnnotationError(
        path, line, "duplicate label id %d (first on line %d)" % (entry.id, first_line[entry.id])
      )
    first_line[entry.id] = line


# ---- Text-format (pbtxt) label maps ----------------------------------------------------------


def _read_label_map_pbtxt(text, path):
  """[(line of the entry's opening brace, LabelMapEntry)] in file order."""
  label_map = string_int_label_map_pb2.StringIntLabelMap()
  try:
    text_format.Parse(text, label_map)
  except text_format.ParseError as e:
    raise ava_annotations.AnnotationError(
      path, e.GetLine() or "?", _describe_parse_error(e, text)
    ) from None
  opening_lines = _entry_opening_lines(text)
  entries = []
  for field_name in ("item", "label"):
    for item, line in zip(getattr(label_map, field_name), opening_lines[field_name]):
      entries.append((line, _entry_of_item(item, line, path)))
  return sorted(entries, key=lambda line_and_entry: line_and_entry[0])


def _entry_of_item(item, line, path):
  if not item.HasField("name") or not (item.HasField("id") or item.HasField("label_id")):
    raise ava_annotations.AnnotationError(path, line, "entry lacks a name or an id/label_id field")
  label_id = item.label_id if item.HasField("label_id") else item.id
  label_type = (
    _LabelMapItem.LabelType.Name(item.label_type)
    if item.label_type != _LabelMapItem.LABEL_TYPE_UNSPECIFIED
    else None
  )
  return LabelMapEntry(label_id, item.name, label_type)


def _entry_opening_lines(text):
  """{'item': [line, ...], 'label': [line, ...]}: the 1-based line of every top-level entry's
  opening brace, in file order (also for the list form `item: [{...}, {...}]`).

  Called on text that text_format has parsed, so its tokenizer reads it without error.
  """
  tokenizer = text_format.Tokenizer(text.split("\n"))
  lines = {"item": [], "label": []}
  depth, field_name = 0, None
  while not tokenizer.AtEnd():
    token = tokenizer.token
    if depth == 0 and token in lines:
      field_name = token
    elif token in ("{", "<"):
      if depth == 0:
        # The tokenizer states its position only through the errors it builds.
        lines[field_name].append(tokenizer.ParseError("").GetLine())
      depth += 1
    elif token in ("}", ">"):
      depth -= 1
    tokenizer.NextToken()
  return lines


def _describe_parse_error(error, text):
  """text_format's message without its location; a bad integer says which field, as the CSV
  readers do (`non-numeric id: 'x' is not an integer`)."""
  reason = _PARSE_ERROR_LOCATION.sub("", str(error))
  not_an_integer = _NOT_AN_INTEGER.search(reason)
  if not_an_integer and error.GetLine() and error.GetColumn():
    line_text = text.split("\n")[error.GetLine() - 1]
    field = _FIELD_BEFORE_VALUE.search(line_text[: error.GetColumn() - 1])
    if field:
      return "non-numeric %s: %r is not an integer" % (field.group(1), not_an_integer.group(1))
  return reason


# ---- CSV label lists -------------------------------------------------------------------------


def _read_label_map_csv(text, path):
  """[(line, LabelMapEntry)] of `label_id,label_name[,label_type]` rows (header optional)."""
  entries = []
  for line, fields, _ in ava_annotations.csv_rows(io.StringIO(text)):
    if not fields:
      continue
    if line == 1 and fields[0] == ava_constants.LABEL_MAP_CSV_COLUMNS[0]:
      continue  # Header.
    if len(fields) not in (2, 3):
      raise ava_annotations.AnnotationError(
        path,
        line,
        "wrong column count: %d columns, expected 3 (label_id,label_name,label_type)" % len(fields),
      )
    try:
      label_id = int(fields[0])
    except ValueError:
      raise ava_annotations.AnnotationError(
        path, line, "non-numeric label_id: %r" % fields[0]
      ) from None
    entries.append(
      (line, LabelMapEntry(label_id, fields[1], fields[2] if len(fields) == 3 else None))
    )
  return entries
