"""Every command line given a missing file, an empty file, a directory where a file is expected,
a file of the wrong format, an unwritable output and a non-UTF-8 path (bad_input_cases.py):
a one-line message naming what and where, exit 1, no traceback (unless --verbose), and nothing
already written is damaged. The TensorFlow commands run in one subprocess per flag group."""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from ava_tx.core.tf_setup import tf
from ava_tx.eval import ava_eval
from tests.reliability import bad_input_cases as table
from tests.reliability.conftest import REPO


def _snapshot(*roots):
  found = {}
  for root in roots:
    for directory, _, names in os.walk(root):
      for name in names:
        path = os.path.join(directory, name)
        with open(path, "rb") as f:
          found[path] = hashlib.sha256(f.read()).hexdigest()
  return found


def _tiny_tf1_checkpoint(prefix):
  """DeepMind-named variables of the first I3D unit only (enough for --final_endpoint)."""
  unit = "RGB/inception_i3d/Conv3d_1a_7x7/"
  values = {unit + "conv_3d/w": np.zeros([7, 7, 7, 3, 64], np.float32)}
  for name in ("beta", "moving_mean", "moving_variance"):
    values[unit + "batch_norm/" + name] = np.ones([64], np.float32)
  names = sorted(values)
  tf.raw_ops.SaveV2(
    prefix=prefix,
    tensor_names=names,
    shape_and_slices=[""] * len(names),
    tensors=[tf.constant(values[n]) for n in names],
  )
  return prefix


@pytest.fixture(scope="module")
def workspace(tiny_workspace, bad_inputs, corrupt_workspace):
  ws = dict(tiny_workspace)
  root = ws["root"]
  rows = (ws["data"] / "val.csv").read_text().splitlines()
  (root / "detections.csv").write_text("".join(",".join(r.split(",")[:7]) + ",0.5\n" for r in rows))
  shutil.copy(ws["data"] / "val.csv", os.path.join(bad_inputs["non_utf8_dir"], "val.csv"))
  bad_ckpt = root / "bad_checkpoints"
  bad_ckpt.mkdir()
  (bad_ckpt / "checkpoint").write_text('model_checkpoint_path: "ckpt-7"\n')
  (bad_ckpt / "ckpt-7.index").write_bytes(b"not a checkpoint index" * 10)
  (bad_ckpt / "ckpt-7.data-00000-of-00001").write_bytes(b"\x00" * 64)
  ws["bad_checkpoint_dir"] = str(bad_ckpt)
  (root / "empty_ckpt.index").write_bytes(b"")
  (root / "empty_ckpt.data-00000-of-00001").write_bytes(b"")
  ws["empty_checkpoint"] = str(root / "empty_ckpt")
  ws["tiny_tf1_checkpoint"] = _tiny_tf1_checkpoint(str(root / "tf1" / "model.ckpt"))
  (root / "kinetics_labels.txt").write_text("".join(f"class {i}\n" for i in range(400)))
  ws["kinetics_labels"] = str(root / "kinetics_labels.txt")
  ws["corrupt_shard"] = corrupt_workspace["shard"]
  ws["corrupt_config"] = corrupt_workspace["config"]
  (root / "existing_metrics.json").write_text('{"kept": true}\n')
  return ws


CORRUPT_CASE = table.Case(
  table.TRAIN,
  "corrupt_shard",
  lambda b, ws: table._train(ws["corrupt_config"], ws["root"] / "mc"),
  names=lambda b, ws: f"CorruptShardError: {ws['corrupt_shard']} is corrupt or truncated",
)
TF_CASES = table.TF_CASES + [CORRUPT_CASE]


def _message_of(case, bad, ws):
  if case.names is not None:
    return case.names(bad, ws)
  argv = case.argv(bad, ws)
  for path in ("unwritable", "missing", "empty", "directory", "binary"):
    if any(bad[path] in a for a in argv):
      # The output below a regular file: the message names that file or the output path.
      return os.path.dirname(bad[path]) if path == "unwritable" else bad[path]
  raise AssertionError(f"{case.id}: say what the message must name")


@pytest.fixture(scope="module")
def tf_results(workspace, bad_inputs, tmp_path_factory):
  before = _snapshot(workspace["root"], bad_inputs["root"])
  results = {}
  for group in sorted({c.group for c in TF_CASES}):
    cases = [c for c in TF_CASES if c.group == group]
    scratch = tmp_path_factory.mktemp("cli_" + group)
    (scratch / "cases.json").write_text(
      json.dumps(
        [
          {"module": c.command, "argv": [str(a) for a in c.argv(bad_inputs, workspace)]}
          for c in cases
        ]
      )
    )
    done = subprocess.run(
      [
        sys.executable,
        "-m",
        "tests.reliability.cli_runner",
        str(scratch / "cases.json"),
        str(scratch / "results.json"),
      ],
      cwd=REPO,
      capture_output=True,
      text=True,
      timeout=900,
      check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for case, result in zip(cases, json.loads((scratch / "results.json").read_text())):
      results[id(case)] = result
  return results, before, _snapshot(workspace["root"], bad_inputs["root"])


def _check(case, code, stderr, bad, ws):
  lines = [l for l in stderr.splitlines() if l.strip() and not _is_log_noise(l)]
  if case.expect == "ok":
    assert code == 0, stderr[-2000:]
    return
  assert code == 1, (code, stderr[-2000:])
  assert "Traceback" not in stderr, stderr[-3000:]
  assert len(lines) == 1 and lines[0].startswith(f"{case.program}: error: "), lines
  assert _message_of(case, bad, ws) in lines[0], lines[0]


def _is_log_noise(line):
  """TensorFlow's and absl's own start-up and info logging (not the command's output)."""
  return (
    " I tensorflow/" in line
    or " E external/" in line
    or " W tensorflow/" in line
    or line.startswith(("I1", "I0", "W1", "W0", "INFO", "WARNING"))
    or "cpu_feature_guard" in line
    or line.startswith("To enable the following instructions")
  )


@pytest.mark.slow
@pytest.mark.parametrize("case", TF_CASES, ids=lambda c: c.id)
def test_tensorflow_commands(case, tf_results, bad_inputs, workspace):
  results, _, _ = tf_results
  result = results[id(case)]
  _check(case, result["code"], result["stderr"], bad_inputs, workspace)


@pytest.mark.slow
def test_nothing_already_written_is_damaged(tf_results):
  _, before, after = tf_results
  changed = sorted(p for p, digest in before.items() if after.get(p) != digest)
  assert changed == []


@pytest.mark.parametrize("case", table.EVAL_CASES, ids=lambda c: c.id)
def test_ava_eval(case, bad_inputs, workspace, capsys):
  before = _snapshot(workspace["root"])
  code = ava_eval.main(case.argv(bad_inputs, workspace))
  _check(case, code, capsys.readouterr().err, bad_inputs, workspace)
  assert _snapshot(workspace["root"]) == before


def test_verbose_adds_the_traceback(bad_inputs, workspace, capsys):
  code = ava_eval.main(table._eval_args(workspace, **{"-l": bad_inputs["missing"]}) + ["--verbose"])
  err = capsys.readouterr().err
  assert code == 1
  assert err.startswith("Traceback (most recent call last):")
  assert err.splitlines()[-1].startswith("ava_eval: error: ")
