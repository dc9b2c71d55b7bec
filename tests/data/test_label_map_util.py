"""Tests of ava_tx.data.label_map_util: the real AVA label lists, every accepted layout, and
errors naming file and line."""

import io

import pytest

from ava_tx.core import ava_constants
from ava_tx.data import ava_annotations
from ava_tx.data import label_map_util
from tests.data import ava_samples

Entry = label_map_util.LabelMapEntry


def _write(tmp_path, text, name="m.pbtxt"):
  return ava_samples.write_file(tmp_path, text, name)


@ava_samples.needs_samples
def test_label_map_pbtxt_60_classes():
  entries = label_map_util.read_label_map(
    ava_samples.AVA_DIR / "ava_action_list_v2.1_for_activitynet_2018.pbtxt"
  )
  assert len(entries) == ava_constants.NUM_EVAL_CLASSES
  assert entries[0] == Entry(1, "bend/bow (at the waist)", None)
  assert entries[1].id == 3  # 2 (crawl) is not evaluated.
  assert entries[-1] == Entry(80, "watch (a person)", None)
  assert [e.id for e in entries] == sorted(e.id for e in entries)
  indices = label_map_util.class_indices(entries)
  assert indices[1] == 0 and indices[3] == 1 and indices[80] == 59


@ava_samples.needs_samples
def test_label_map_csv_80_classes():
  entries = label_map_util.read_label_map(ava_samples.AVA_DIR / "ava_action_list_v2.0.csv")
  assert len(entries) == ava_constants.NUM_CLASSES
  assert [e.id for e in entries] == list(range(1, 81))
  assert entries[19] == Entry(20, "climb (e.g., a mountain)", "OBJECT_MANIPULATION")
  assert entries[78].name == "talk to (e.g., self, a person, a group)"
  assert {e.label_type for e in entries} == set(ava_constants.LABEL_TYPES)


def test_label_map_label_layout(tmp_path):
  path = _write(
    tmp_path,
    '# comment\nlabel {\n  name: "stand"\n  label_id: 12\n'
    '  label_type: PERSON_MOVEMENT\n}\nlabel {\n  name: "bend/bow (at the waist)"\n'
    '  label_id: 1\n  label_type: PERSON_MOVEMENT\n}\n',
  )
  assert label_map_util.read_label_map(path) == [
    Entry(1, "bend/bow (at the waist)", "PERSON_MOVEMENT"),
    Entry(12, "stand", "PERSON_MOVEMENT"),
  ]


@pytest.mark.parametrize(
  "text, message",
  [
    (
      'item {\n  name: "a"\n  id: 1\n}\nitem {\n  name: "b"\n  id: 1\n}\n',
      r":5: duplicate label id 1",
    ),
    ('item {\n  name: "a"\n  id: x\n}\n', r":3: non-numeric id"),
    ('item {\n  name: "a"\n}\n', r":1: entry lacks"),
    ('item {\n  name: "a"\n  id: 0\n}\n', r":1: label id 0 is not positive"),
    ("1,a,PERSON_MOVEMENT\nx,b,PERSON_MOVEMENT\n", r":2: non-numeric label_id"),
  ],
)
def test_label_map_errors(tmp_path, text, message):
  with pytest.raises(ava_annotations.AnnotationError, match=message):
    label_map_util.read_label_map(_write(tmp_path, text, "m.txt"))


def test_mixed_layouts_keep_file_order_for_errors(tmp_path):
  """`item` and `label` blocks may be mixed; a duplicate is reported where it comes second
  in the file, whichever block kind it is."""
  text = (
    'label {\n  name: "stand"\n  label_id: 12\n  label_type: PERSON_MOVEMENT\n}\n'
    'item {\n  name: "bend/bow (at the waist)"\n  id: 1\n}\n'
  )
  assert label_map_util.read_label_map(io.StringIO(text)) == [
    Entry(1, "bend/bow (at the waist)", None),
    Entry(12, "stand", "PERSON_MOVEMENT"),
  ]
  duplicate = 'item { name: "a" id: 12 }\n' + text
  with pytest.raises(
    ava_annotations.AnnotationError, match=r"<stream>:2: duplicate label id 12 \(first on line 1\)"
  ):
    label_map_util.read_label_map(io.StringIO(duplicate))


def test_object_detection_api_forms(tmp_path):
  """What the OD API's label maps contain: display_name, one-line and list forms, `<>`."""
  text = (
    'item { name: "/m/01g317" id: 1 display_name: "person" }\n'
    'item: [{ name: "b" id: 3 }, { name: "c" id: 2 }]\n'
    'item < name: "d" id: 4 >\n'
  )
  assert label_map_util.read_label_map(_write(tmp_path, text)) == [
    Entry(1, "/m/01g317"),
    Entry(2, "c"),
    Entry(3, "b"),
    Entry(4, "d"),
  ]
  with pytest.raises(ava_annotations.AnnotationError, match=r"m.pbtxt:2: duplicate label id 1"):
    label_map_util.read_label_map(
      _write(tmp_path, 'item: [{ name: "a" id: 1 },\n{ name: "b" id: 1 }]\n')
    )


def test_label_id_takes_precedence_and_ids_may_be_hexadecimal():
  entries = label_map_util.read_label_map(
    io.StringIO('item { name: "a" id: 7 label_id: 5 }\nitem { name: "b" id: 0x10 }\n')
  )
  assert entries == [Entry(5, "a"), Entry(16, "b")]


@pytest.mark.parametrize(
  "text, message",
  [
    ('item {\n  name: "a"\n  idd: 1\n}\n', r"m.pbtxt:3: .*has no field named \"idd\""),
    ('itme {\n  name: "a"\n}\n', r"m.pbtxt:1: .*has no field named \"itme\""),
    ('item {\n  name: "a"\n  id: 1\n', r"m.pbtxt:3: .*Expected \"}\""),
    ('item {\n  name: stand\n  id: 1\n}\n', r"m.pbtxt:2: .*Expected string"),
    (
      'label {\n  name: "a"\n  label_id: 1\n  label_type: POSE\n}\n',
      r"m.pbtxt:4: .*has no value named POSE",
    ),
    ('item {\n  name: "a"\n  id: 99999999999\n}\n', r"m.pbtxt:3: .*out of range"),
    ('item {\n  name: "a"\n  id: 1.5\n}\n', r"m.pbtxt:3: non-numeric id: '1.5' is not an integer"),
    ('item {\n  name: "a" id: 1 id: 2\n}\n', r"m.pbtxt:2: .*multiple \"id\" fields"),
  ],
)
def test_text_format_errors_name_file_and_line(tmp_path, text, message):
  with pytest.raises(ava_annotations.AnnotationError, match=message) as raised:
    label_map_util.read_label_map(_write(tmp_path, text))
  assert raised.value.path.endswith("m.pbtxt")
  assert not str(raised.value).count(" : ")  # text_format's own "line:column : " is removed.


def test_empty_and_comment_only_maps_are_errors(tmp_path):
  for text in ("", "# only a comment\n"):
    with pytest.raises(ava_annotations.AnnotationError, match=r":1: label map has no entries"):
      label_map_util.read_label_map(io.StringIO(text))


def test_csv_label_map_from_a_stream_with_header_and_quotes():
  text = (
    'label_id,label_name,label_type\n'
    '12,stand,PERSON_MOVEMENT\n'
    '79,"talk to (e.g., self, a person, a group)",PERSON_INTERACTION\n'
    '5,fall down\n'
  )
  assert label_map_util.read_label_map(io.StringIO(text)) == [
    Entry(5, "fall down", None),
    Entry(12, "stand", "PERSON_MOVEMENT"),
    Entry(79, "talk to (e.g., self, a person, a group)", "PERSON_INTERACTION"),
  ]


def test_class_indices_follow_id_order_whatever_the_input_order():
  entries = [Entry(80, "watch"), Entry(3, "crouch"), Entry(12, "stand")]
  assert label_map_util.class_indices(entries) == {3: 0, 12: 1, 80: 2}
