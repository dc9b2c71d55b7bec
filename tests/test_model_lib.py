"""model_lib wiring that the end-to-end test does not reach: fine-tuning from the converted I3D."""

from pathlib import Path

import numpy as np
import pytest

from ava_tx import model_lib
from ava_tx.builders import config_util
from ava_tx.builders import model_builder
from ava_tx.core.tf_setup import tf
from ava_tx.protos import action_transformer_pb2
from ava_tx.trunks import i3d_checkpoint

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("head_too", [True, False])
def test_fine_tune_checkpoint_initialises_trunk_and_i3d_head(tmp_path, head_too):
  # A converted checkpoint (the converter's output format) with known values.
  source = i3d_checkpoint.build_full_i3d("Mixed_5c")
  rng = np.random.default_rng(0)
  for variable in source.variables:
    variable.assign(rng.normal(size=variable.shape).astype(np.float32))
  path = tf.train.Checkpoint(**source.endpoint_layers()).write(str(tmp_path / "i3d"))

  config = config_util.load_pipeline_config(
    str(REPO / "configs" / "ava_tx_plus_i3d_64f_400.config")
  ).model.action_transformer
  config.num_classes, config.num_frames = 3, 8
  config.image_height = config.image_width = 64
  config.rpn.num_proposals_test, config.rpn.pre_nms_top_k_test = 4, 16
  config.trunk.fine_tune_checkpoint = path
  config.i3d_head.initialize_from_fine_tune_checkpoint = head_too
  model = model_builder.build(config)
  model.provide_groundtruth(
    groundtruth_boxes=tf.zeros([1, 1, 4]),
    groundtruth_classes=tf.zeros([1, 1, 3]),
    num_groundtruth_boxes=tf.constant([0]),
  )
  model.predict(model.preprocess(tf.zeros([1, 8, 64, 64, 3]))[0], None, training=False)
  layers = model_builder.i3d_endpoint_layers(model)
  initial = {name: [v.numpy() for v in layers[name].variables] for name in ("Mixed_5b", "Mixed_5c")}

  model_lib.fine_tune_fn_for(config)(model)

  trunk_only = set(model_builder.i3d_endpoint_layers(model, include_i3d_head=False))
  assert "Mixed_4f" in trunk_only and not trunk_only & {"MaxPool3d_5a_2x2", "Mixed_5b", "Mixed_5c"}
  assert trunk_only | {"MaxPool3d_5a_2x2", "Mixed_5b", "Mixed_5c"} == set(layers)
  expected = source.endpoint_layers()
  for name in ("Conv3d_1a_7x7", "Mixed_4f", "Mixed_5b", "Mixed_5c"):
    got = sorted(layers[name].variables, key=lambda v: v.name.split("/", 2)[-1])
    want = sorted(expected[name].variables, key=lambda v: v.name.split("/", 2)[-1])
    assert len(got) == len(want) > 0
    if name in initial and not head_too:  # The head's blocks keep their random weights.
      for g, w in zip(layers[name].variables, initial[name]):
        np.testing.assert_array_equal(g.numpy(), w, err_msg=f"{name}: {g.name}")
      continue
    for g, w in zip(got, want):
      np.testing.assert_array_equal(g.numpy(), w.numpy(), err_msg=f"{name}: {g.name}")


def test_no_fine_tune_checkpoint_means_no_hook():
  config = action_transformer_pb2.ActionTransformer()
  assert model_lib.fine_tune_fn_for(config) is None


def _tiny_model(config, seed):
  tf.keras.utils.set_random_seed(seed)
  model = model_builder.build(config)
  model.provide_groundtruth(
    groundtruth_boxes=tf.zeros([1, 1, 4]),
    groundtruth_classes=tf.zeros([1, 1, config.num_classes]),
    num_groundtruth_boxes=tf.constant([0]),
  )
  model.predict(model.preprocess(tf.zeros([1, 8, 32, 32, 3]))[0], None, training=False)
  return model


def _tiny_config(num_classes=3):
  config = action_transformer_pb2.ActionTransformer(
    num_classes=num_classes,
    num_frames=8,
    image_height=32,
    image_width=32,
    proposals=action_transformer_pb2.ActionTransformer.GROUNDTRUTH,
  )
  config.trunk.depth_multiplier, config.trunk.min_depth = 0.125, 8
  tx = config.action_transformer_head
  tx.num_layers, tx.hidden_size, tx.ffn_hidden_size, tx.high_res_reduced_channels = 1, 8, 8, 8
  tx.location_embedding_size = tx.location_embedding_hidden_size = 4
  return config


def test_fine_tune_checkpoint_type_detection_restores_the_trunk_and_full_everything(tmp_path):
  source = _tiny_model(_tiny_config(), seed=1)
  tf.train.Checkpoint(model=source).save(str(tmp_path / "run" / "ckpt"))  # As training saves.

  full = _tiny_config()
  full.trunk.fine_tune_checkpoint = str(tmp_path / "run")
  full.trunk.fine_tune_checkpoint_type = "full"
  model = _tiny_model(full, seed=2)
  model_lib.fine_tune_fn_for(full)(model)
  assert len(model.variables) == len(source.variables) > 0
  for got, want in zip(model.variables, source.variables):
    np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=got.name)

  # "detection": another label set (5 classes): the trunk is restored, the head is not.
  detection = _tiny_config(num_classes=5)
  detection.trunk.CopyFrom(full.trunk)
  detection.trunk.fine_tune_checkpoint_type = "detection"
  model = _tiny_model(detection, seed=2)
  before = [v.numpy() for v in model.variables if "trunk" not in v.name]
  model_lib.fine_tune_fn_for(detection)(model)
  for got, want in zip(model.trunk.variables, source.trunk.variables):
    np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=got.name)
  after = [v.numpy() for v in model.variables if "trunk" not in v.name]
  assert len(after) == len(before) > 0
  for old, new in zip(before, after):
    np.testing.assert_array_equal(old, new)


def test_fine_tune_checkpoint_type_is_validated():
  from ava_tx.builders import config_validation  # pylint: disable=import-outside-toplevel
  from ava_tx.core import errors  # pylint: disable=import-outside-toplevel

  config = _tiny_config()
  assert config.trunk.fine_tune_checkpoint_type == "classification"  # The paper's default.
  config.trunk.fine_tune_checkpoint = "run"
  config.trunk.fine_tune_checkpoint_type = "detection"  # Any trunk width: not Kinetics.
  config_validation.validate_action_transformer(config)
  config.trunk.fine_tune_checkpoint_type = "backbone"
  with pytest.raises(
    errors.InputError,
    match=r"^model.action_transformer.trunk."
    r"fine_tune_checkpoint_type: must be one of classification, detection, "
    r"full, got 'backbone'$",
  ):
    config_validation.validate_action_transformer(config)
