"""Input-reader checks that name the config field at fault."""

import os

from google.protobuf import text_format
import pytest

from ava_tx.builders import input_reader_builder
from ava_tx.core import errors
from ava_tx.protos import input_reader_pb2


def _reader(text):
  return text_format.Parse(text, input_reader_pb2.InputReader())


def test_missing_label_map_and_unmatched_input_path_name_the_field(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  (tmp_path / "label_map.pbtxt").write_text('item { name: "stand" id: 12 }\n')
  (tmp_path / "train-00000-of-00001").write_bytes(b"")
  good = 'label_map_path: "label_map.pbtxt" input_path: "train-?????-of-?????"'
  input_reader_builder.check_input_paths(_reader(good), "train_input_reader")  # No error.
  with pytest.raises(errors.InputError) as error:
    input_reader_builder.check_input_paths(
      _reader('label_map_path: "maps/labels.pbtxt" input_path: "train-*"'), "train_input_reader"
    )
  assert str(error.value) == (
    "train_input_reader.label_map_path: maps/labels.pbtxt does not exist (relative paths start "
    f"from the current directory, {os.getcwd()})"
  )
  with pytest.raises(
    errors.InputError,
    match=r"^eval_input_reader\.input_path: val-\* matches no "
    r"file \(relative paths",
  ):
    input_reader_builder.check_input_paths(
      _reader('label_map_path: "label_map.pbtxt" input_path: "train-*" input_path: "val-*"'),
      "eval_input_reader",
    )
  absolute = str(tmp_path / "nothing-*")
  with pytest.raises(errors.InputError) as error:
    input_reader_builder.check_input_paths(
      _reader(f'label_map_path: "label_map.pbtxt" input_path: "{absolute}"'), "x"
    )
  assert str(error.value) == f"x.input_path: {absolute} matches no file"
  with pytest.raises(
    errors.InputError, match=r"^x\.input_path: required \(TFRecord shards or glob patterns\)$"
  ):
    input_reader_builder.check_input_paths(_reader('label_map_path: "label_map.pbtxt"'), "x")
