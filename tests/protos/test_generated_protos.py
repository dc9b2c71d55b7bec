"""The installed _pb2 modules must match the .proto sources (a stale build fails here)."""

import importlib
import os
from pathlib import Path
import re

import pytest

from ava_tx.protos import compiler

REPO = Path(__file__).resolve().parents[2]
PROTO_DIR = REPO / "protos"
_SERIALIZED = re.compile(r"AddSerializedFile\((b'.*?')\)", re.S)


def _serialized_descriptor(path):
  """The FileDescriptorProto bytes protoc embedded in a generated _pb2 module."""
  match = _SERIALIZED.search(Path(path).read_text())
  assert match, f"{path}: no serialized descriptor found"
  return match.group(1)


def test_every_proto_has_an_up_to_date_generated_module(tmp_path):
  fresh = compiler.compile_protos(str(PROTO_DIR), str(tmp_path))
  assert sorted(os.path.basename(p) for p in fresh) == sorted(
    p.stem + "_pb2.py" for p in PROTO_DIR.glob("*.proto")
  )
  for path in fresh:
    module_name = "ava_tx.protos." + os.path.basename(path)[: -len(".py")]
    module = importlib.import_module(module_name)
    assert _serialized_descriptor(module.__file__) == _serialized_descriptor(path), (
      f"{module_name} is stale: its .proto changed since it was generated; "
      "re-run `pip install -e .` (or `python setup.py build_protos`)"
    )


def test_staleness_is_detected(tmp_path):
  """A changed default gives a different descriptor, so the check above can fail."""
  changed = tmp_path / "protos"
  changed.mkdir()
  for source in PROTO_DIR.glob("*.proto"):
    text = source.read_text()
    if source.name == "trunk.proto":
      assert 'default = "Mixed_4f"' in text
      text = text.replace('default = "Mixed_4f"', 'default = "Mixed_4e"')
    (changed / source.name).write_text(text)
  out = tmp_path / "out"
  generated = {os.path.basename(p): p for p in compiler.compile_protos(str(changed), str(out))}
  from ava_tx.protos import pipeline_pb2
  from ava_tx.protos import trunk_pb2

  assert _serialized_descriptor(generated["trunk_pb2.py"]) != _serialized_descriptor(
    trunk_pb2.__file__
  )
  assert _serialized_descriptor(generated["pipeline_pb2.py"]) == _serialized_descriptor(
    pipeline_pb2.__file__
  )


def test_compiler_rejects_a_folder_without_protos(tmp_path):
  with pytest.raises(FileNotFoundError, match=str(tmp_path)):
    compiler.compile_protos(str(tmp_path), str(tmp_path / "out"))


def test_every_proto_field_has_a_comment_and_scalars_an_explicit_default():
  """House rule: every field is commented; every optional scalar states its default."""
  for proto in PROTO_DIR.glob("*.proto"):
    lines = proto.read_text().splitlines()
    for i, line in enumerate(lines):
      stripped = line.strip()
      if not stripped.startswith(("optional ", "repeated ")):
        continue
      is_message = stripped.split()[1][0].isupper() and "[default =" not in stripped
      if stripped.startswith("optional ") and not is_message:
        assert "[default =" in stripped, f"{proto.name}:{i + 1}: no explicit default: {stripped}"
      # A comment just above (consecutive fields may share one comment), or the first field of a block.
      j = i - 1
      while j >= 0 and lines[j].strip().startswith(("optional ", "repeated ")):
        j -= 1
      assert lines[j].strip().startswith("//") or lines[j].strip().endswith("{"), (
        f"{proto.name}:{i + 1}: field without a comment: {stripped}"
      )
