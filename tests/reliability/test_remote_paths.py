"""Every writer against TensorFlow's in-memory `ram://` file system, which stands in for gs://
(same tf.io.gfile code path), plus the atomicity of `ava_tx.core.file_io` itself."""

import json
import uuid

import pytest

from ava_tx.builders import config_util
from ava_tx.core import file_io
from ava_tx.core.tf_setup import tf
from ava_tx.data import ava_annotations
from ava_tx.data import ava_clips
from ava_tx.data import ava_conversion
from ava_tx.data import tfrecord_writer
from ava_tx.data.synthetic import writer as synth_writer
from ava_tx.eval import ava_eval
from ava_tx.eval.evaluator import AvaEvaluator
from tests.eval.test_evaluator import LABEL_MAP
from tests.eval.test_evaluator import make_batch

gfile = tf.io.gfile


@pytest.fixture
def ram_dir():
  path = "ram://reliability-%s" % uuid.uuid4().hex[:8]
  yield path
  if gfile.exists(path):
    gfile.rmtree(path)


def _listing(directory):
  return sorted(gfile.listdir(directory))


@pytest.mark.parametrize("remote", [False, True])
def test_atomic_writes_round_trip_and_leave_no_temporary(remote, ram_dir, tmp_path):
  root = file_io.join(ram_dir if remote else str(tmp_path), "a", "b")
  file_io.makedirs(root)
  file_io.makedirs(root)  # Existing directory: no error.
  text_path, bytes_path, json_path = (file_io.join(root, n) for n in ("t.txt", "b.bin", "j.json"))
  file_io.write_text(text_path, "héllo\r\nworld\n")
  file_io.write_bytes(bytes_path, b"\x00\xff\x10")
  file_io.write_json(json_path, {"b": [1, 2.5], "a": None})
  assert file_io.read_text(text_path) == "héllo\r\nworld\n"  # Newlines kept as written.
  with gfile.GFile(bytes_path, "rb") as f:
    assert f.read() == b"\x00\xff\x10"
  assert json.loads(file_io.read_text(json_path)) == {"a": None, "b": [1, 2.5]}
  assert file_io.read_text(json_path).startswith('{\n  "a": null')
  assert _listing(root) == ["b.bin", "j.json", "t.txt"]
  assert file_io.size(bytes_path) == 3


@pytest.mark.parametrize("remote", [False, True])
def test_failed_write_keeps_the_old_file_and_removes_the_temporary(remote, ram_dir, tmp_path):
  root = ram_dir if remote else str(tmp_path)
  file_io.makedirs(root)
  path = file_io.join(root, "metrics.json")
  file_io.write_text(path, "old\n")
  with pytest.raises(RuntimeError, match="disk full"):
    with file_io.atomic_write(path) as f:
      f.write("half of the new")
      raise RuntimeError("disk full")
  assert file_io.read_text(path) == "old\n"
  assert _listing(root) == ["metrics.json"]


def test_temporary_names_are_unique_and_in_the_same_directory():
  names = {file_io.temporary_path("gs://b/dir/x.csv") for _ in range(50)}
  assert len(names) == 50
  assert all(n.startswith("gs://b/dir/x.csv" + file_io.TMP_MARK) for n in names)


def test_pipeline_config_copy_to_remote_model_dir(ram_dir):
  config = config_util.parse_pipeline_config(
    "model { action_transformer { num_classes: 3 } }\ntrain_config { batch_size: 2 }\n"
  )
  path = config_util.save_pipeline_config(config, file_io.join(ram_dir, "models", "run1"))
  assert path == ram_dir + "/models/run1/pipeline.config"
  assert config_util.load_pipeline_config(path) == config
  assert _listing(ram_dir + "/models/run1") == ["pipeline.config"]


def test_evaluator_outputs_to_remote_dir(ram_dir):
  output_dir = file_io.join(ram_dir, "model", "eval")
  evaluator = AvaEvaluator(label_map=LABEL_MAP, output_dir=output_dir)
  inputs, outputs = make_batch(0, batch_size=2)
  evaluator.process(inputs, outputs)
  metrics = evaluator.evaluate(global_step=7)
  assert _listing(output_dir) == ["detections_step_7.csv", "metrics_step_7.json"]
  report = json.loads(file_io.read_text(output_dir + "/metrics_step_7.json"))
  assert report["global_step"] == 7
  assert report["scalars"]["AVA/mAP@0.5IOU"] == pytest.approx(metrics["AVA/mAP@0.5IOU"])
  with gfile.GFile(output_dir + "/detections_step_7.csv") as f:
    detections = ava_annotations.read_detections(f)
  num_boxes = int(outputs["num_detections"].sum())
  assert sum(len(b) for b in detections.annotations.values()) == num_boxes
  ava_eval.write_json(output_dir + "/copy.json", {"x": float("nan")})
  assert json.loads(file_io.read_text(output_dir + "/copy.json")) == {"x": None}


def test_synthetic_data_and_converter_shards_on_remote_paths(ram_dir):
  data = file_io.join(ram_dir, "data")
  config = synth_writer.SynthConfig(
    num_videos=2, seconds=5, seed=7, width=96, height=72, val_fraction=0.5
  )
  summary = synth_writer.generate_dataset(config, data)
  assert sorted(gfile.listdir(data + "/videos")) == ["synth_0000.mp4", "synth_0001.mp4"]
  assert summary["splits"]["train"]["video_bytes"] == file_io.size(data + "/videos/synth_0000.mp4")
  paths = synth_writer.output_paths(data)
  assert all(gfile.exists(p) for p in paths.values())
  assert not [n for n in gfile.listdir(data) if file_io.TMP_MARK in n]
  with gfile.GFile(paths["train_groundtruth"]) as f:
    rows = ava_annotations.read_annotations(f).annotations
  prefix = file_io.join(ram_dir, "tfrecords", "train")
  result = ava_conversion.convert(
    annotations_csv=paths["train_groundtruth"],
    video_dir=data + "/videos",
    output_prefix=prefix,
    num_shards=2,
    settings=ava_clips.ClipSettings(clip_frames=4),
    label_map=paths["label_map"],
    log=lambda *a, **k: None,
  )
  shards = sorted(gfile.glob(tfrecord_writer.shard_file_pattern(prefix)))
  assert len(shards) == 2
  num_records = sum(1 for _ in tf.data.TFRecordDataset(shards))
  assert num_records == len(rows) == result["keyframes"]
  stats = [tfrecord_writer.read_shard_stats(s) for s in shards]
  assert sum(s["keyframes"] for s in stats) == num_records
  assert gfile.exists(tfrecord_writer.settings_path(prefix))
  assert not [n for n in gfile.listdir(ram_dir + "/tfrecords") if file_io.TMP_MARK in n]
