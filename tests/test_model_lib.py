"""model_lib wiring that the end-to-end test does not reach: fine-tuning from the converted I3D."""

from pathlib import Path

import numpy as np

from ava_tx import model_lib
from ava_tx.builders import config_util
from ava_tx.builders import model_builder
from ava_tx.core.tf_setup import tf
from ava_tx.protos import action_transformer_pb2
from ava_tx.trunks import i3d_checkpoint

REPO = Path(__file__).resolve().parents[1]


def test_fine_tune_checkpoint_initialises_trunk_and_i3d_head(tmp_path):
  # A converted checkpoint (the converter's output format) with known values.
  source = i3d_checkpoint.build_full_i3d("Mixed_5c")
  rng = np.random.default_rng(0)
  for variable in source.variables:
    variable.assign(rng.normal(size=variable.shape).astype(np.float32))
  path = tf.train.Checkpoint(**source.endpoint_layers()).write(str(tmp_path / "i3d"))

  config = config_util.load_pipeline_config(
      str(REPO / "configs" / "ava_tx_plus_i3d_64f_400.config")).model.action_transformer
  config.num_classes, config.num_frames = 3, 8
  config.image_height = config.image_width = 64
  config.rpn.num_proposals_test, config.rpn.pre_nms_top_k_test = 4, 16
  config.trunk.fine_tune_checkpoint = path
  model = model_builder.build(config)
  model.provide_groundtruth(groundtruth_boxes=tf.zeros([1, 1, 4]),
                            groundtruth_classes=tf.zeros([1, 1, 3]),
                            num_groundtruth_boxes=tf.constant([0]))
  model.predict(model.preprocess(tf.zeros([1, 8, 64, 64, 3]))[0], None, training=False)

  model_lib.fine_tune_fn_for(config)(model)

  layers = model_builder.i3d_endpoint_layers(model)
  expected = source.endpoint_layers()
  for name in ("Conv3d_1a_7x7", "Mixed_4f", "Mixed_5b", "Mixed_5c"):
    got = sorted(layers[name].variables, key=lambda v: v.name.split("/", 2)[-1])
    want = sorted(expected[name].variables, key=lambda v: v.name.split("/", 2)[-1])
    assert len(got) == len(want) > 0
    for g, w in zip(got, want):
      np.testing.assert_array_equal(g.numpy(), w.numpy(), err_msg=f"{name}: {g.name}")


def test_no_fine_tune_checkpoint_means_no_hook():
  config = action_transformer_pb2.ActionTransformer()
  assert model_lib.fine_tune_fn_for(config) is None
