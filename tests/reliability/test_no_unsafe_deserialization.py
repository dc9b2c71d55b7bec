"""No pickle (or other code-executing deserializer) and no eval/exec anywhere in the shipped code.

Scans the Python tokens (not strings or comments) of ava_tx/, data_tools/ and benchmarks/.
The one allowed exception is the numpy-only unpickler for the pinned Kinetics I3D weights file:
a single file under ava_tx/trunks/ that carries ALLOWED_MARK, checks the file's sha256 before
unpickling, and restricts `find_class` (so only numpy arrays can be built).
"""

import io
from pathlib import Path
import re
import tokenize

REPO = Path(__file__).resolve().parents[2]
SCANNED = ("ava_tx", "data_tools", "benchmarks")
BANNED_NAMES = {
  "pickle",
  "cPickle",
  "_pickle",
  "cloudpickle",
  "dill",
  "joblib",
  "marshal",
  "shelve",
  "eval",
  "exec",
  "compile",
}
ALLOWED_MARK = "reliability-allowed: numpy-only unpickler of the sha256-pinned Kinetics weights"
ALLOWED_DIR = "ava_tx/trunks/"


def violations(source: str):
  """[(line, token)] of banned names (not attribute names such as `x.compile`) and of
  `allow_pickle=True` / unsafe `yaml.load` uses in Python source text."""
  found = []
  tokens = [
    t
    for t in tokenize.generate_tokens(io.StringIO(source).readline)
    if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE)
  ]
  for i, token in enumerate(tokens):
    previous = tokens[i - 1].string if i else ""
    if token.type != tokenize.NAME or previous == ".":
      if (
        token.type == tokenize.NAME
        and token.string == "load"
        and i >= 2
        and tokens[i - 2].string == "yaml"
      ):
        found.append((token.start[0], "yaml.load"))
      continue
    following = [t.string for t in tokens[i + 1 : i + 3]]
    if token.string in BANNED_NAMES and previous not in ("def", "class"):
      found.append((token.start[0], token.string))
    elif token.string == "allow_pickle" and following == ["=", "True"]:
      found.append((token.start[0], "allow_pickle=True"))
  return found


def _python_files():
  for directory in SCANNED:
    for path in sorted((REPO / directory).rglob("*.py")):
      if not path.name.endswith("_pb2.py"):
        yield path


def test_the_scanner_finds_what_it_bans():
  source = (
    "import pickle\nfrom dill import loads\nx = eval('1')\nexec('y = 1')\n"
    "np.load(f, allow_pickle=True)\nyaml.load(s)\nmodel.compile()\n"
    "# pickle in a comment\ns = 'eval in a string'\n"
  )
  assert violations(source) == [
    (1, "pickle"),
    (2, "dill"),
    (3, "eval"),
    (4, "exec"),
    (5, "allow_pickle=True"),
    (6, "yaml.load"),
  ]


def test_no_pickle_or_eval_in_the_package():
  found, allowed_files = [], []
  for path in _python_files():
    text = path.read_text(encoding="utf-8")
    relative = path.relative_to(REPO).as_posix()
    problems = violations(text)
    if problems and ALLOWED_MARK in text and relative.startswith(ALLOWED_DIR):
      allowed_files.append(relative)
      assert re.search(r"def find_class\(", text), f"{relative}: must restrict find_class"
      assert "sha256" in text, f"{relative}: must check the weights file's sha256 first"
      assert {name for _, name in problems} <= {"pickle"}, (relative, problems)
      continue
    found += [f"{relative}:{line}: {name}" for line, name in problems]
  assert found == []
  assert len(allowed_files) <= 1, allowed_files
