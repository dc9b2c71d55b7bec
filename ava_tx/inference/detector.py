"""The model as predict sees it: a callable on uint8 clips, and what it needs to know about it.

A detector is any callable

    outputs = detector(frames, person_boxes=None, num_person_boxes=None)

with frames uint8 [batch_size, num_frames, height, width, 3] (any height and width: the model
resizes inside), person_boxes float32 [batch_size, max_num_boxes, 4] normalized and
num_person_boxes int32 [batch_size] (models that take person-detector boxes), returning numpy
arrays under the exported signature's names (`standard_fields.ServingFields`), and an attribute
`info`
(`ModelInfo`). `SavedModelDetector` wraps an export of `ava_tx.exporter_main_v2`.
"""

import dataclasses
import json
import os
from typing import Optional, Tuple

import numpy as np

from ava_tx.core import ava_constants
from ava_tx.core import errors

EXPORT_INFO_PATH = os.path.join("assets.extra", "export_info.json")
SIGNATURE = "serving_default"


@dataclasses.dataclass(frozen=True)
class ModelInfo:
  """What predict needs to know about a model.

  label_map: ((AVA id, name), ...) in class-index order. model_fps: frame rate of the stored
  frames the model was trained on (frame_stride counts those frames). has_rpn: the model
  proposes boxes itself (an export from before the `has_rpn` field counts as not).
  """

  num_frames: int
  frame_stride: int
  image_height: int
  image_width: int
  uses_person_boxes: bool
  num_classes: int
  label_map: Tuple[Tuple[int, str], ...]
  export_attention: bool = False
  num_layers: int = 0
  num_heads: int = 0
  checkpoint_step: Optional[int] = None
  model_fps: float = ava_constants.FPS
  has_rpn: bool = False

  @property
  def class_names(self) -> dict:
    """{AVA id: name}."""
    return dict(self.label_map)


def model_info_from_export_info(info: dict, *, frame_stride: int, source: str) -> ModelInfo:
  """ModelInfo from the export's export_info.json dict; `source` names it in errors."""
  try:
    label_map = tuple((int(i), str(n)) for i, n in info["label_map"])
    return ModelInfo(
      num_frames=int(info["num_frames"]),
      frame_stride=int(info.get("frame_stride", frame_stride)),
      image_height=int(info["image_height"]),
      image_width=int(info["image_width"]),
      uses_person_boxes=bool(info["uses_person_boxes"]),
      num_classes=int(info["num_classes"]),
      label_map=label_map,
      export_attention=bool(info.get("export_attention", False)),
      num_layers=int(info.get("num_layers", 0)),
      num_heads=int(info.get("num_heads", 0)),
      checkpoint_step=info.get("checkpoint_step"),
      model_fps=float(info.get("frame_rate", ava_constants.FPS)),
      has_rpn=bool(info.get("has_rpn", False)),
    )
  except (KeyError, TypeError, ValueError) as e:
    raise errors.InputError("%s: missing or bad field %s" % (source, e)) from None


def read_export_info(saved_model_dir: str) -> ModelInfo:
  """Reads saved_model_dir/assets.extra/export_info.json and the frame stride of the export's
  pipeline.config (next to saved_model/)."""
  path = os.path.join(saved_model_dir, EXPORT_INFO_PATH)
  if not os.path.exists(path):
    raise errors.InputError(
      "--saved_model_dir: %s not found (is %s an export of "
      "ava_tx.exporter_main_v2?)" % (path, saved_model_dir)
    )
  with open(path, encoding="utf-8") as f:
    info = json.load(f)
  frame_stride = info.get("frame_stride")
  if frame_stride is None:
    config_path = os.path.join(
      os.path.dirname(os.path.normpath(saved_model_dir)), "pipeline.config"
    )
    from ava_tx.builders import inference_builder  # Protos are read only in builders.

    frame_stride = inference_builder.clip_sampling(config_path).frame_stride
  return model_info_from_export_info(info, frame_stride=frame_stride, source=path)


class SavedModelDetector:
  """The `serving_default` signature of an exported SavedModel as a detector."""

  def __init__(self, saved_model_dir: str):
    self.info = read_export_info(saved_model_dir)  # Before importing TensorFlow (slow).
    from ava_tx.core.tf_setup import tf

    self._tf = tf
    self._model = tf.saved_model.load(saved_model_dir)
    self._signature = self._model.signatures[SIGNATURE]

  def __call__(self, frames, person_boxes=None, num_person_boxes=None) -> dict:
    tf = self._tf
    inputs = {"input_tensor": tf.constant(frames, tf.uint8)}
    if self.info.uses_person_boxes:
      inputs["person_boxes"] = tf.constant(person_boxes, tf.float32)
      inputs["num_person_boxes"] = tf.constant(num_person_boxes, tf.int32)
    outputs = self._signature(**inputs)
    return {name: np.asarray(value) for name, value in outputs.items()}


def with_label_map(info: ModelInfo, path: str) -> ModelInfo:
  """`info` with the class names of the label map at `path`, whose ids must be the model's."""
  from ava_tx.data import label_map_util

  entries = label_map_util.read_label_map(path)
  ids = [entry.id for entry in entries]
  if ids != [i for i, _ in info.label_map]:
    raise errors.InputError(
      "--label_map_path %s: ids %s are not the model's %s"
      % (path, ids, [i for i, _ in info.label_map])
    )
  return dataclasses.replace(info, label_map=tuple((e.id, e.name) for e in entries))


class CheckpointDetector:
  """A model built from a pipeline config and restored from a training checkpoint, in process,
  with the same call contract as the export (the export's own inference module)."""

  def __init__(
    self, pipeline_config_path: str, checkpoint_dir: str, *, attention_outputs: bool = False
  ):
    from ava_tx.builders import export_builder
    from ava_tx.core.tf_setup import tf
    from ava_tx.export import exporter_lib

    config = exporter_lib.load_config(pipeline_config_path)
    checkpoint_path, step = exporter_lib.resolve_checkpoint(checkpoint_dir)
    module = export_builder.build_inference_module(
      config, input_type="video_tensor", attention_outputs=attention_outputs
    )
    exporter_lib.restore_model(module, checkpoint_path)
    info = export_builder.export_info(
      config, input_type="video_tensor", attention_outputs=attention_outputs, checkpoint_step=step
    )
    self.info = model_info_from_export_info(
      info, frame_stride=info.get("frame_stride", 1), source=pipeline_config_path
    )
    self._tf = tf
    self._function = module.serving_function()

  def __call__(self, frames, person_boxes=None, num_person_boxes=None) -> dict:
    tf = self._tf
    args = [tf.constant(frames, tf.uint8)]
    if self.info.uses_person_boxes:
      args += [tf.constant(person_boxes, tf.float32), tf.constant(num_person_boxes, tf.int32)]
    return {name: np.asarray(value) for name, value in self._function(*args).items()}
