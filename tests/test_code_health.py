"""The tree stays as issue 16 left it: `ruff check` is clean, `ruff format` changes nothing,
and no function in ava_tx/, data_tools/ or benchmarks/ is over 60 lines, no file over 500
(generated protos excepted). The configuration is [tool.ruff] in pyproject.toml."""

import ast
from pathlib import Path
import subprocess
import sys

REPO = Path(__file__).resolve().parents[1]
_PACKAGES = ("ava_tx", "data_tools", "benchmarks")
_MAX_FUNCTION_LINES = 60
_MAX_FILE_LINES = 500


def _sources():
  for package in _PACKAGES:
    for path in sorted((REPO / package).rglob("*.py")):
      if not path.name.endswith("_pb2.py"):
        yield path


def long_definitions(source: str, max_function_lines: int = _MAX_FUNCTION_LINES):
  """[(name, lines)] of the functions in `source` longer than `max_function_lines` (from `def`
  to the last line of the body; decorators not counted)."""
  found = []
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
      lines = node.end_lineno - node.lineno + 1
      if lines > max_function_lines:
        found.append((node.name, lines))
  return found


def test_long_definitions_counts_from_def_to_the_last_line():
  body = "\n".join(f"  x{i} = {i}" for i in range(60))
  assert long_definitions(f"@decorator\ndef f():\n{body}\n") == [("f", 61)]
  assert long_definitions(f"def g():\n{body}\n", max_function_lines=61) == []


def test_no_function_over_60_lines_and_no_file_over_500():
  too_long = []
  for path in _sources():
    source = path.read_text()
    name = path.relative_to(REPO)
    if source.count("\n") > _MAX_FILE_LINES:
      too_long.append(f"{name}: {source.count(chr(10))} lines")
    too_long += [
      f"{name}: {function}() {lines} lines" for function, lines in long_definitions(source)
    ]
  assert not too_long, "\n".join(too_long)


def test_ruff_check_is_clean():
  result = subprocess.run(
    [sys.executable, "-m", "ruff", "check", "."],
    cwd=REPO,
    capture_output=True,
    text=True,
    check=False,
  )
  assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_ruff_format_changes_nothing():
  result = subprocess.run(
    [sys.executable, "-m", "ruff", "format", "--check", "."],
    cwd=REPO,
    capture_output=True,
    text=True,
    check=False,
  )
  assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
