"""Tests of what predict reads from an export (ava_tx.inference.detector)."""

import json
from pathlib import Path
import shutil

import pytest

from ava_tx.core import errors
from ava_tx.inference import detector as detector_lib

REPO = Path(__file__).resolve().parents[2]
INFO = {
  "input_type": "video_tensor",
  "num_frames": 16,
  "image_height": 112,
  "image_width": 112,
  "uses_person_boxes": True,
  "num_classes": 2,
  "label_map": [[11, "sit"], [12, "stand"]],
  "export_attention": True,
  "num_layers": 3,
  "num_heads": 2,
  "checkpoint_step": 3000,
}


def _export(tmp_path, info):
  saved_model = tmp_path / "export" / "saved_model"
  (saved_model / "assets.extra").mkdir(parents=True)
  (saved_model / "assets.extra" / "export_info.json").write_text(json.dumps(info))
  shutil.copy(
    REPO / "configs" / "tiny_synthetic_cpu.config", tmp_path / "export" / "pipeline.config"
  )
  return str(saved_model)


def test_export_info_and_the_frame_stride_of_the_exported_pipeline_config(tmp_path):
  info = detector_lib.read_export_info(_export(tmp_path, INFO))
  assert info == detector_lib.ModelInfo(
    num_frames=16,
    frame_stride=4,
    image_height=112,
    image_width=112,
    uses_person_boxes=True,
    num_classes=2,
    label_map=((11, "sit"), (12, "stand")),
    export_attention=True,
    num_layers=3,
    num_heads=2,
    checkpoint_step=3000,
    model_fps=30,
  )
  assert info.class_names == {11: "sit", 12: "stand"}
  # export_info.json's own frame_stride wins over the config's.
  assert (
    detector_lib.read_export_info(_export(tmp_path / "b", dict(INFO, frame_stride=2))).frame_stride
    == 2
  )


def test_bad_exports_are_named(tmp_path):
  with pytest.raises(errors.InputError, match="export_info.json not found"):
    detector_lib.read_export_info(str(tmp_path))
  broken = dict(INFO)
  del broken["num_frames"]
  with pytest.raises(
    errors.InputError, match="export_info.json: missing or bad field 'num_frames'"
  ):
    detector_lib.read_export_info(_export(tmp_path, broken))


def test_label_map_override_must_have_the_model_ids(tmp_path):
  info = detector_lib.model_info_from_export_info(INFO, frame_stride=4, source="x")
  (tmp_path / "names.pbtxt").write_text(
    'item { name: "sitting" id: 11 }\nitem { name: "standing" id: 12 }\n'
  )
  renamed = detector_lib.with_label_map(info, str(tmp_path / "names.pbtxt"))
  assert renamed.label_map == ((11, "sitting"), (12, "standing"))
  (tmp_path / "other.pbtxt").write_text('item { name: "sit" id: 11 }\n')
  with pytest.raises(errors.InputError, match=r"ids \[11\] are not the model's \[11, 12\]"):
    detector_lib.with_label_map(info, str(tmp_path / "other.pbtxt"))


@pytest.mark.parametrize("has_rpn", [True, False, None])  # None: an export from before the field.
def test_has_rpn_is_read_from_the_export_info(has_rpn):
  info = dict(INFO) if has_rpn is None else dict(INFO, has_rpn=has_rpn)
  read = detector_lib.model_info_from_export_info(info, frame_stride=4, source="x")
  assert read.has_rpn is bool(has_rpn)
