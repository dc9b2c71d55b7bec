"""Imports every command module into this one process, then, command by command, prints its
`--help` as `python -m MODULE --help` does and renders the flags its `define_flags()` defines.

  python -m tests.core.command_help_runner RESULTS.json MODULE [MODULE ...]

RESULTS.json: {"defined_on_import": {flag the imports defined: the module defining it},
               "commands": {MODULE: {"help": stdout of --help, "exit_code": ...,
                                     "defined": absl's help text of the module's key flags,
                                     "all_flags": the flags its define_flags() defines}},
               "unavailable": {MODULE: why it cannot be imported (no apache_beam)}}.
Between commands the flags are deleted and the `define_flags()` caches cleared, as if each
command ran in a process of its own.
"""

import contextlib
import importlib
import io
import json
import runpy
import sys

from absl import app
from absl import flags

from ava_tx.core import command_line  # noqa: F401 (defines --verbose for every command)
from ava_tx.inference import video_flags
from data_tools import conversion_flags

FLAGS = flags.FLAGS
_SHARED_DEFINITIONS = (conversion_flags, video_flags)


def _reset(names_to_keep):
  for name in set(FLAGS) - names_to_keep:
    delattr(FLAGS, name)
  for module in _SHARED_DEFINITIONS:
    module.define_flags.cache_clear()
  FLAGS.unparse_flags()


def _help_as_a_program(name):
  """(exit code, stdout) of `python -m name --help`, run here with runpy."""
  argv, out = sys.argv, io.StringIO()
  sys.argv = [name, "--help"]
  try:
    with contextlib.redirect_stdout(out):
      runpy.run_module(name, run_name="__main__", alter_sys=True)  # Its __doc__ is the usage.
    code = 0
  except SystemExit as stop:
    code = stop.code
  finally:
    sys.argv = argv
  return code, out.getvalue()


def main():
  output, names = sys.argv[1], sys.argv[2:]
  app.define_help_flags()  # What app.run defines (once a process): kept across commands.
  before = set(FLAGS)
  modules, unavailable = {}, {}
  for name in names:
    try:
      modules[name] = importlib.import_module(name)
    except ModuleNotFoundError as error:  # Beam is optional (setup.py's extra "beam").
      if error.name != "apache_beam":
        raise
      unavailable[name] = str(error)
  results = {
    "defined_on_import": {
      name: FLAGS.find_module_defining_flag(name) for name in set(FLAGS) - before
    },
    "commands": {},
    "unavailable": unavailable,
  }
  for name, module in modules.items():
    _reset(before)
    code, help_text = _help_as_a_program(name)
    _reset(before)
    module.define_flags()
    results["commands"][name] = {
      "help": help_text,
      "exit_code": code,
      "defined": FLAGS.module_help(module),
      "all_flags": sorted(set(FLAGS) - before),
    }
  with open(output, "w", encoding="utf-8") as f:
    json.dump(results, f)


if __name__ == "__main__":
  main()
