"""Runs several command-line cases in one Python process (importing TensorFlow costs seconds).

  python -m tests.reliability.cli_runner CASES.json RESULTS.json

CASES.json: [{"module": "ava_tx.model_main_tf2", "argv": [...]}, ...]. Each module's flags are
defined once, by its `define_flags()`; each case's absl flags are reset, parsed
from argv and the module's guarded main run, exactly as `python -m module` would (`app.run`
adds only flag parsing and logging set-up). RESULTS.json gets, per case,
{"code": exit code, "stderr": ..., "stdout": ...}. Modules run together must not define the
same flag names.
"""

import contextlib
import importlib
import io
import json
import sys
import traceback

from absl import flags

from ava_tx.core import command_line

PROGRAMS = {
  "ava_tx.model_main_tf2": "model_main_tf2",
  "data_tools.create_ava_tf_record": "create_ava_tf_record",
  "data_tools.synth_ava": "synth_ava",
  "data_tools.convert_i3d_checkpoint": "convert_i3d_checkpoint",
  "ava_tx.exporter_main_v2": "exporter_main_v2",
  "ava_tx.predict": "predict",
  "ava_tx.visualize_attention": "visualize_attention",
  "data_tools.classify_kinetics": "classify_kinetics",
  "data_tools.fetch_kinetics_i3d": "fetch_kinetics_i3d",
}


def run_case(module_name, argv):
  """(exit code, stdout, stderr) of `python -m module_name *argv`, in this process."""
  module = importlib.import_module(module_name)
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    flags.FLAGS.unparse_flags()
    try:
      remaining = flags.FLAGS([module_name] + list(argv))
      code = command_line.run_guarded(PROGRAMS[module_name], module.main, remaining)
    except flags.Error as error:
      print(f"FATAL Flags parsing error: {error}", file=sys.stderr)
      code = 1
    except Exception:  # pylint: disable=broad-except
      traceback.print_exc()  # A bug: python -m would print this traceback too, and exit 1.
      code = 1
    except SystemExit as stop:  # sys.exit("message") as convert_i3d_checkpoint's main does.
      if isinstance(stop.code, str):
        print(stop.code, file=sys.stderr)
      code = stop.code if isinstance(stop.code, int) else 1
  return code, out.getvalue(), err.getvalue()


def main():
  with open(sys.argv[1], encoding="utf-8") as f:
    cases = json.load(f)
  for name in dict.fromkeys(case["module"] for case in cases):  # Define every flag first
    importlib.import_module(name).define_flags()  # (as `python -m` does; never on import).
  results = []
  for case in cases:
    code, out, err = run_case(case["module"], case["argv"])
    results.append({"code": code, "stdout": out, "stderr": err})
  with open(sys.argv[2], "w", encoding="utf-8") as f:
    json.dump(results, f)


if __name__ == "__main__":
  main()
