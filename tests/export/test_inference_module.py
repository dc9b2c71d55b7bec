"""The serving module in process: signatures per model kind, preprocessing, input checks."""

from pathlib import Path

import numpy as np
import pytest

from ava_tx.builders import export_builder
from ava_tx.core import errors
from ava_tx.core import standard_fields
from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf
from ava_tx.export import exporter_lib
from tests.export import export_fixtures as fx

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / "configs" / "tiny_synthetic_cpu.config")
S = standard_fields.ServingFields
RPN_OVERRIDE = fx.TINY_OVERRIDE.replace("num_frames: 8", "num_frames: 8 proposals: RPN")


def _config(tmp_path, override):
  fx.write_label_map(tmp_path / "label_map.pbtxt")
  return exporter_lib.load_config(CONFIG, override % (tmp_path / "label_map.pbtxt"))


def test_rpn_model_takes_only_the_video_and_outputs_no_attention_unless_asked(tmp_path):
  keras.utils.set_random_seed(1)
  module = export_builder.build_inference_module(
    _config(tmp_path, RPN_OVERRIDE), input_type="video_tensor"
  )
  assert not module.takes_person_boxes
  assert [spec.name for spec in module.input_signature()] == [S.input_tensor]
  serve = module.serving_function().get_concrete_function()
  outputs = serve(input_tensor=tf.constant(fx.video(height=30, width=90)))
  assert set(outputs) == {
    S.detection_boxes,
    S.detection_scores,
    S.detection_multiclass_scores,
    S.detection_classes,
    S.num_detections,
  }
  assert outputs[S.detection_multiclass_scores].shape == (2, 16, 11)
  num = outputs[S.num_detections].numpy()
  assert np.all(num >= 1) and np.all(num <= 16)
  classes = outputs[S.detection_classes].numpy()
  assert set(classes[0, : num[0]]) <= set(fx.CLASS_IDS) and np.all(classes[0, num[0] :] == 0)
  with pytest.raises(tf.errors.InvalidArgumentError, match="input_tensor: expected 8 frames"):
    serve(input_tensor=tf.zeros([1, 4, 32, 32, 3], tf.uint8))


def test_video_is_resized_like_the_training_pipeline(tmp_path):
  """Same clip at the model's size and at another size through the same resize: same output."""
  keras.utils.set_random_seed(2)
  module = export_builder.build_inference_module(
    _config(tmp_path, fx.TINY_OVERRIDE), input_type="video_tensor"
  )
  clip = fx.video(height=64, width=64)
  boxes = tf.constant(fx.BOXES), tf.constant(fx.NUM_BOXES)
  direct = module.detect_frames(tf.cast(clip, tf.float32) / 127.5 - 1.0, *boxes)
  served = module(tf.constant(clip), *boxes)
  for name in direct:
    np.testing.assert_allclose(served[name], direct[name], atol=1e-6, err_msg=name)


def test_export_errors_name_the_flag(tmp_path):
  config = _config(tmp_path, fx.TINY_OVERRIDE)
  with pytest.raises(errors.InputError, match="^--input_type: must be one of"):
    export_builder.build_inference_module(config, input_type="jpeg")
  config.model.action_transformer.head_type = config.model.action_transformer.I3D
  config.model.action_transformer.ClearField("action_transformer_head")
  with pytest.raises(errors.InputError, match="^--export_attention: .* I3D"):
    export_builder.build_inference_module(config, input_type="video_tensor", attention_outputs=True)
  with pytest.raises(errors.InputError, match="^--config_override: invalid"):
    exporter_lib.load_config(CONFIG, "model { bogus: 1 }")
  with pytest.raises(FileNotFoundError, match="^--trained_checkpoint_dir: no checkpoint in"):
    exporter_lib.resolve_checkpoint(str(tmp_path))
