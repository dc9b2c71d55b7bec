"""Property-based tests (hypothesis): the CSV and label-map parsers and the SequenceExample
decoder given random and mutated inputs raise only their documented error (AnnotationError for
the readers, tf.errors.InvalidArgumentError for the decoder) or return well-formed results."""

import io
import math

import pytest

hypothesis = pytest.importorskip(
  "hypothesis", reason="hypothesis is in the test extra of setup.py (pip install -e '.[test]')"
)
from hypothesis import given  # pylint: disable=wrong-import-position
from hypothesis import settings  # pylint: disable=wrong-import-position
from hypothesis import strategies as st  # pylint: disable=wrong-import-position

from ava_tx.core.tf_setup import tf  # pylint: disable=wrong-import-position
from ava_tx.data import ava_annotations  # pylint: disable=wrong-import-position
from ava_tx.data import ava_clips  # pylint: disable=wrong-import-position
from ava_tx.data import decoder as decoder_lib  # pylint: disable=wrong-import-position
from ava_tx.data import label_map_util  # pylint: disable=wrong-import-position

FAST = settings(max_examples=150, deadline=None, derandomize=True)
SLOW = settings(max_examples=40, deadline=None, derandomize=True)

VALID_GROUNDTRUTH = (
  "-5KQ66BBWC4,0902,0.077,0.151,0.283,0.811,80,1\n"
  "-5KQ66BBWC4,0902,0.332,0.194,0.481,0.891,12,0\n"
  "-5KQ66BBWC4,0903,0.1,0.2,0.3,0.4,17,1\n"
)
VALID_LABEL_MAP = (
  'item {\n  name: "bend/bow (at the waist)"\n  id: 1\n}\nitem {\n  name: "x"\n  id: 3\n}\n'
)

_FIELD = st.one_of(
  st.text(max_size=8),
  st.floats(allow_nan=True, allow_infinity=True).map(str),
  st.integers(-(10**6), 10**6).map(str),
  st.just(""),
  st.just('"'),
)


@st.composite
def mutated_csv(draw, base=VALID_GROUNDTRUTH):
  """A valid CSV with fields replaced, rows dropped or duplicated, characters inserted."""
  rows = [r.split(",") for r in base.splitlines()]
  for _ in range(draw(st.integers(0, 4))):
    row = draw(st.integers(0, len(rows) - 1))
    action = draw(st.sampled_from(["field", "drop_field", "add_field", "duplicate"]))
    if action == "field":
      rows[row][draw(st.integers(0, len(rows[row]) - 1))] = draw(_FIELD)
    elif action == "drop_field" and rows[row]:
      rows[row].pop(draw(st.integers(0, len(rows[row]) - 1)))
    elif action == "add_field":
      rows[row].append(draw(_FIELD))
    else:
      rows.append(list(rows[row]))
  return "".join(",".join(r) + "\n" for r in rows)


def _check_read(reader, text, **kwargs):
  """The reader returns a ReadResult of well-formed boxes or raises AnnotationError only."""
  try:
    result = reader(io.StringIO(text) if isinstance(text, str) else io.BytesIO(text), **kwargs)
  except ava_annotations.AnnotationError as error:
    assert error.path and error.line and error.reason
    return None
  for (video_id, timestamp), boxes in result.annotations.items():
    assert isinstance(video_id, str) and isinstance(timestamp, int)
    for box in boxes:
      assert all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in box.box), box
      assert box.box[0] <= box.box[2] and box.box[1] <= box.box[3]
  return result


@FAST
@given(text=st.one_of(st.text(max_size=300), mutated_csv()))
def test_groundtruth_reader_raises_only_annotation_error(text):
  _check_read(ava_annotations.read_annotations, text)
  skipped = _check_read(ava_annotations.read_annotations, text, skip_bad_rows=True)
  assert skipped is not None  # Skipping never raises on a bad row...
  assert len(skipped.report.skipped) <= len(text.splitlines())  # ...and reports each one.


@FAST
@given(data=st.binary(max_size=200))
def test_readers_on_random_bytes_raise_only_annotation_error(data):
  for reader in (
    ava_annotations.read_annotations,
    ava_annotations.read_detections,
    ava_annotations.read_person_boxes,
  ):
    _check_read(reader, data)
  try:
    label_map_util.read_label_map(io.BytesIO(data))
  except ava_annotations.AnnotationError:
    pass


@FAST
@given(
  text=mutated_csv(
    base="".join(r + ",0.5\n" for r in (l.rsplit(",", 1)[0] for l in VALID_GROUNDTRUTH.split()))
  )
)
def test_detections_reader_raises_only_annotation_error(text):
  _check_read(ava_annotations.read_detections, text)
  try:
    ava_annotations.read_excluded_timestamps(io.StringIO(text))
  except ava_annotations.AnnotationError:
    pass


@st.composite
def mutated_label_map(draw):
  text = draw(st.sampled_from([VALID_LABEL_MAP, "1,stand,PERSON_MOVEMENT\n3,sit,POSE\n"]))
  for _ in range(draw(st.integers(0, 4))):
    position = draw(st.integers(0, len(text)))
    if draw(st.booleans()):
      text = (
        text[:position]
        + draw(st.sampled_from(list('{}:"#\n ,0123456789-') + ["id", "name", "item"]))
        + text[position:]
      )
    else:
      text = text[:position] + text[position + draw(st.integers(1, 5)) :]
  return text


@FAST
@given(text=st.one_of(st.text(max_size=200), mutated_label_map()))
def test_label_map_reader_raises_only_annotation_error(text):
  try:
    entries = label_map_util.read_label_map(io.StringIO(text))
  except ava_annotations.AnnotationError as error:
    assert error.path and error.line
    return
  ids = [e.id for e in entries]
  assert ids == sorted(set(ids)) and all(i >= 1 for i in ids) and entries


def _valid_example() -> bytes:
  clip = ava_clips.KeyframeClip(
    video_id="v",
    request=ava_clips.KeyframeRequest(902),
    frames=[b"\xff\xd8frame0", b"\xff\xd8frame1"],
    first_frame_index=0,
    keyframe_index=1,
    height=48,
    width=64,
  )
  return ava_clips.clip_to_sequence_example(
    clip, ava_clips.ClipSettings(clip_frames=2)
  ).SerializeToString()


_DECODE = tf.function(
  decoder_lib.AvaSequenceDecoder().decode, input_signature=[tf.TensorSpec([], tf.string)]
)


@st.composite
def mutated_example(draw):
  data = bytearray(_valid_example())
  for _ in range(draw(st.integers(1, 6))):
    kind = draw(st.sampled_from(["flip", "truncate", "insert"]))
    position = draw(st.integers(0, max(len(data) - 1, 0)))
    if kind == "flip" and data:
      data[position] ^= draw(st.integers(1, 255))
    elif kind == "truncate":
      del data[position:]
    else:
      data[position:position] = draw(st.binary(min_size=1, max_size=4))
  return bytes(data)


@SLOW
@given(data=st.one_of(st.binary(max_size=120), mutated_example()))
def test_decoder_raises_only_invalid_argument(data):
  try:
    decoded = _DECODE(tf.constant(data))
  except tf.errors.InvalidArgumentError:
    return
  fields = decoder_lib.FIELDS
  assert decoded[fields.groundtruth_boxes].shape[-1] == 4
  assert decoded[fields.proposal_boxes].shape[-1] == 4
  assert decoded[fields.encoded_frames].dtype == tf.string
  assert decoded[fields.original_image_spatial_shape].shape == (2,)


def test_the_unmutated_example_decodes():
  decoded = _DECODE(tf.constant(_valid_example()))
  assert decoded[decoder_lib.FIELDS.encoded_frames].numpy().tolist() == [
    b"\xff\xd8frame0",
    b"\xff\xd8frame1",
  ]
  assert int(decoded[decoder_lib.FIELDS.keyframe_index]) == 1
