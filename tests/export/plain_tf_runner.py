"""Runs exported SavedModels with plain TensorFlow, in a process where `import ava_tx` fails.

  python tests/export/plain_tf_runner.py JOB.json

JOB.json: {"runs": [{"saved_model": DIR, "inputs": IN.npz, "outputs": OUT.npz,
                     "expect_error": bool, "function": "detect"?}, ...], "report": REPORT.json}
Each run calls the `serving_default` signature (or the restored `detect` tf.function) with the
arrays of IN.npz as keyword arguments
(string inputs are stored as object arrays of bytes) and writes the outputs to OUT.npz, or,
with expect_error, records the error message. REPORT.json gets {"ava_tx_import_error": ...,
"errors": [message or null per run]}.
"""

import importlib.abc
import json
import sys


class _BlockAvaTx(importlib.abc.MetaPathFinder):
  """Makes `import ava_tx` (and `tests`) fail whatever sys.path holds."""

  def find_spec(self, fullname, path=None, target=None):
    if fullname.split(".")[0] in ("ava_tx", "tests"):
      raise ImportError(f"{fullname} is blocked: the SavedModel must run on plain TensorFlow")
    return None


def _run(job):
  import numpy as np  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  errors = []
  loaded = {}
  for run in job["runs"]:
    if run["saved_model"] not in loaded:
      loaded[run["saved_model"]] = tf.saved_model.load(run["saved_model"])
    model = loaded[run["saved_model"]]
    serve = model.detect if run.get("function") == "detect" else model.signatures["serving_default"]
    with np.load(run["inputs"], allow_pickle=True) as data:
      inputs = {
        name: tf.constant(data[name].tolist() if data[name].dtype == object else data[name])
        for name in data.files
      }
    try:
      outputs = serve(**inputs)
    except (tf.errors.InvalidArgumentError, ValueError, TypeError) as error:
      if not run["expect_error"]:
        raise
      errors.append(f"{type(error).__name__}: {error}")
      continue
    if run["expect_error"]:
      errors.append(None)
      continue
    errors.append(None)
    np.savez(run["outputs"], **{name: value.numpy() for name, value in outputs.items()})
  return errors


def main(job_path):
  sys.meta_path.insert(0, _BlockAvaTx())
  try:
    import ava_tx  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import

    import_error = None
  except ImportError as error:
    import_error = str(error)
  with open(job_path, encoding="utf-8") as f:
    job = json.load(f)
  errors = _run(job)
  with open(job["report"], "w", encoding="utf-8") as f:
    json.dump(
      {
        "ava_tx_import_error": import_error,
        "errors": errors,
        "modules": sorted(m for m in sys.modules if m.split(".")[0] == "ava_tx"),
      },
      f,
    )


if __name__ == "__main__":
  main(sys.argv[1])
