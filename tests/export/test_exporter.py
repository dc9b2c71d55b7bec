"""Export of the tiny model, reloaded in a process without ava_tx (plain TensorFlow only)."""

import json
import os
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest

from ava_tx.builders import export_builder
from ava_tx.core import standard_fields
from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf
from ava_tx.data import decoder as decoder_lib
from ava_tx.data import parser as parser_lib
from ava_tx.export import exporter_lib
from ava_tx.export import inference_module
from ava_tx.training import train_loop
from tests.export import export_fixtures as fx

pytestmark = pytest.mark.slow  # Three exports and two subprocesses (~1 min on 2 free cores).
REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / "configs" / "tiny_synthetic_cpu.config")
S = standard_fields.ServingFields
I = standard_fields.InputFields
INPUT_TYPES = ("video_tensor", "encoded_frames", "tf_example")
# name -> (export, inputs changed from the good ones, message). A wrong rank is reported by the
# graph's shape check (EnsureShape names the input and the rank expected).
BAD_INPUTS = {
  # A dtype is checked by the signature itself: TensorFlow's message names the position and
  # the dtype expected (input_tensor is input #0); the restored `detect` function names it.
  "float_video": (
    "video_tensor",
    {S.input_tensor: np.zeros([2, 8, 40, 56, 3], np.float32)},
    "input #0(zero-based) was expected to be a uint8 tensor",
  ),
  "float_video_detect": (
    "video_tensor",
    {S.input_tensor: np.zeros([2, 8, 40, 56, 3], np.float32)},
    "dtype=tf.uint8, name='input_tensor')",
  ),
  "rank_4_video": (
    "video_tensor",
    {S.input_tensor: np.zeros([8, 40, 56, 3], np.uint8)},
    "input_tensor [8,40,56,3] is not compatible with expected shape [?,?,?,?,?]",
  ),
  "4_channels": (
    "video_tensor",
    {S.input_tensor: np.zeros([2, 8, 40, 56, 4], np.uint8)},
    "input_tensor: expected 3 (RGB) channels",
  ),
  "6_frames": (
    "video_tensor",
    {S.input_tensor: np.zeros([2, 6, 40, 56, 3], np.uint8)},
    "input_tensor: expected 8 frames per clip",
  ),
  "5_coordinates": (
    "video_tensor",
    {S.person_boxes: np.zeros([2, 3, 5], np.float32)},
    "person_boxes: expected 4 coordinates",
  ),
  "pixel_boxes": (
    "video_tensor",
    {S.person_boxes: fx.BOXES * 100},
    "person_boxes: expected normalized",
  ),
  "too_many_boxes": (
    "video_tensor",
    {S.num_person_boxes: np.array([4, 1], np.int32)},
    "num_person_boxes: larger than the number of rows",
  ),
  "rank_1_frames": (
    "encoded_frames",
    {S.input_tensor: np.array([b"x"], dtype=object)},
    "input_tensor [1] is not compatible with expected shape [?,?]",
  ),
  "rank_2_examples": (
    "tf_example",
    {S.input_tensor: np.array([[b"x"]], dtype=object)},
    "input_tensor [1,1] is not compatible with expected shape [?]",
  ),
}


def _reference(module, frames, boxes, num_boxes):
  """The in-memory model on normalized frames, through the evaluation path."""
  batch = {
    I.frames: frames,
    I.groundtruth_boxes: tf.zeros([len(frames), 0, 4]),
    I.groundtruth_classes: tf.zeros([len(frames), 0, module.model.num_classes]),
    I.num_groundtruth_boxes: tf.zeros([len(frames)], tf.int32),
    I.proposal_boxes: boxes,
    I.num_proposal_boxes: num_boxes,
  }
  detections = train_loop.compute_detections(module.model, batch)
  module.model.clear_groundtruth()
  return {
    k: v.numpy() for k, v in inference_module.serving_outputs(detections, module.class_ids).items()
  }


def _inputs_and_references(module, config):
  clip = fx.video()
  frames = tf.stack([parser_lib.resize_frames(c, (64, 64)) for c in clip])
  video_reference = _reference(module, frames, fx.BOXES, fx.NUM_BOXES)
  boxes = {S.person_boxes: fx.BOXES, S.num_person_boxes: fx.NUM_BOXES}
  stored = fx.video(num_frames=20, height=48, width=64, seed=1)
  examples = [fx.sequence_example(stored[b], 10, fx.BOXES[b, : fx.NUM_BOXES[b]]) for b in range(2)]
  parser = export_builder.build_example_parser(config, fx.CLASS_IDS)
  parsed = [
    parser.parse(decoder_lib.AvaSequenceDecoder().decode(e), is_training=False) for e in examples
  ]
  stack = lambda key: tf.stack([p[key] for p in parsed])  # noqa: E731
  example_reference = _reference(
    module, stack(I.frames), stack(I.proposal_boxes), stack(I.num_proposal_boxes)
  )
  inputs = {
    "video_tensor": {S.input_tensor: clip, **boxes},
    "encoded_frames": {S.input_tensor: fx.encode_png(clip), **boxes},
    "tf_example": {S.input_tensor: np.array(examples, dtype=object)},
  }
  references = {
    "video_tensor": video_reference,
    "encoded_frames": video_reference,
    "tf_example": example_reference,
  }
  return inputs, references


def _run_plain_tf(root, runs):
  job = {"runs": runs, "report": str(root / "report.json")}
  (root / "job.json").write_text(json.dumps(job))
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  subprocess.run(
    [sys.executable, str(Path(__file__).parent / "plain_tf_runner.py"), str(root / "job.json")],
    check=True,
    env=env,
    cwd=str(root),
    timeout=1800,
  )
  return json.loads((root / "report.json").read_text())


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
  root = tmp_path_factory.mktemp("export")
  label_map = fx.write_label_map(root / "label_map.pbtxt")
  override = fx.TINY_OVERRIDE % (root / "label_map.pbtxt")
  config = exporter_lib.load_config(CONFIG, override)
  keras.utils.set_random_seed(0)
  module = export_builder.build_inference_module(
    config, input_type="video_tensor", attention_outputs=True
  )
  exporter_lib.build_variables(module)
  tf.train.CheckpointManager(
    tf.train.Checkpoint(model=module.model), str(root / "train"), max_to_keep=1
  ).save(checkpoint_number=7)
  infos = {}
  for input_type in ("encoded_frames", "tf_example"):
    infos[input_type] = exporter_lib.export_inference_graph(
      input_type=input_type,
      pipeline_config_path=CONFIG,
      trained_checkpoint_dir=str(root / "train"),
      output_directory=str(root / input_type),
      config_override=override,
      export_attention=True,
    )
  # The command line exports video_tensor (and reports a missing checkpoint in one line).
  command = [
    sys.executable,
    "-m",
    "ava_tx.exporter_main_v2",
    "--input_type=video_tensor",
    f"--pipeline_config_path={CONFIG}",
    f"--config_override={override}",
    "--export_attention",
  ]
  cli = subprocess.run(
    command
    + [f"--trained_checkpoint_dir={root / 'train'}", f"--output_directory={root / 'video_tensor'}"],
    capture_output=True,
    text=True,
    cwd=str(REPO),
    timeout=1800,
  )
  assert cli.returncode == 0, cli.stderr[-2000:]
  inputs, references = _inputs_and_references(module, config)
  runs = []
  for input_type in INPUT_TYPES:
    np.savez(root / f"{input_type}_in.npz", **inputs[input_type])
    runs.append(
      dict(
        saved_model=str(root / input_type / "saved_model"),
        inputs=str(root / f"{input_type}_in.npz"),
        outputs=str(root / f"{input_type}_out.npz"),
        expect_error=False,
      )
    )
  for name, (input_type, change, _) in BAD_INPUTS.items():
    np.savez(root / f"bad_{name}.npz", **{**inputs[input_type], **change})
    runs.append(
      dict(
        saved_model=str(root / input_type / "saved_model"),
        inputs=str(root / f"bad_{name}.npz"),
        outputs="",
        expect_error=True,
        function="detect" if name.endswith("_detect") else "serving_default",
      )
    )
  report = _run_plain_tf(root, runs)
  outputs = {t: dict(np.load(root / f"{t}_out.npz")) for t in INPUT_TYPES}
  errors = dict(zip(BAD_INPUTS, report["errors"][len(INPUT_TYPES) :]))
  return dict(
    root=root,
    report=report,
    outputs=outputs,
    references=references,
    errors=errors,
    label_map=label_map,
    infos=infos,
    command=command,
  )


def test_saved_model_runs_without_ava_tx(exported):
  report = exported["report"]
  assert "blocked" in report["ava_tx_import_error"]
  assert report["modules"] == []


@pytest.mark.parametrize("input_type", INPUT_TYPES)
def test_saved_model_outputs_equal_the_in_memory_model(exported, input_type):
  outputs, expected = exported["outputs"][input_type], exported["references"][input_type]
  assert (
    set(outputs)
    == set(expected)
    == {
      S.detection_boxes,
      S.detection_scores,
      S.detection_multiclass_scores,
      S.detection_classes,
      S.num_detections,
      S.detection_attention_weights,
      S.attention_key_embeddings,
    }
  )
  for name, value in expected.items():
    assert outputs[name].shape == value.shape and outputs[name].dtype == value.dtype, name
    np.testing.assert_allclose(outputs[name], value, atol=1e-5, err_msg=name)
  # Person-detector proposals: exactly the given boxes are detected (no NMS merge here).
  np.testing.assert_array_equal(outputs[S.num_detections], fx.NUM_BOXES)
  assert outputs[S.detection_boxes].shape == (2, 16, 4)
  assert outputs[S.detection_multiclass_scores].shape == (2, 16, 11)
  top = np.argmax(outputs[S.detection_multiclass_scores][0, :2], axis=-1)
  np.testing.assert_array_equal(outputs[S.detection_classes][0, :2], np.take(fx.CLASS_IDS, top))


def test_attention_outputs_have_the_contract_shapes_and_sum_to_one(exported):
  outputs = exported["outputs"]["video_tensor"]
  weights = outputs[S.detection_attention_weights]
  # [batch, max_detections, layers, heads, T', H', W']: Mixed_4f of 8x64x64 is 2x4x4.
  assert weights.shape == (2, 16, 3, 2, 2, 4, 4) and weights.dtype == np.float32
  for b, num in enumerate(fx.NUM_BOXES):
    np.testing.assert_allclose(weights[b, :num].sum(axis=(-3, -2, -1)), 1.0, atol=1e-5)
    assert np.all(weights[b, num:] == 0.0)
  keys = outputs[S.attention_key_embeddings]
  assert keys.shape == (2, 3, 2, 2, 4, 4, 32) and keys.dtype == np.float32


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_inputs_fail_with_a_message_naming_the_input(exported, name):
  message = exported["errors"][name]
  assert message is not None and BAD_INPUTS[name][2] in message, message


def test_export_writes_the_layout_and_export_info(exported):
  root = exported["root"]
  for input_type in INPUT_TYPES:
    directory = root / input_type
    assert (directory / "pipeline.config").is_file()
    assert (directory / "checkpoint" / "ckpt-7.index").is_file()
    info = json.loads((directory / "saved_model" / "assets.extra" / "export_info.json").read_text())
    assert info == {
      "input_type": input_type,
      "num_frames": 8,
      "frame_stride": 4,
      "image_height": 64,
      "image_width": 64,
      "proposals": "PERSON_DETECTOR",
      "uses_person_boxes": True,
      "has_rpn": False,
      "num_classes": 11,
      "label_map": exported["label_map"],
      "label_map_path": str(root / "label_map.pbtxt"),
      "max_detections": 16,
      "export_attention": True,
      "num_layers": 3,
      "num_heads": 2,
      "attention_key_size": 32,
      "checkpoint_step": 7,
    }
    if input_type != "video_tensor":
      assert exported["infos"][input_type] == info


def test_missing_checkpoint_is_a_one_line_error(exported):
  root = exported["root"]
  result = subprocess.run(
    exported["command"]
    + [f"--trained_checkpoint_dir={root / 'none'}", f"--output_directory={root / 'x'}"],
    capture_output=True,
    text=True,
    cwd=str(REPO),
    timeout=1800,
  )
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
    f"exporter_main_v2: error: --trained_checkpoint_dir: no checkpoint in {root / 'none'}"
  )
