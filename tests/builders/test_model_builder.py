"""Every sample config builds its model; shrunk to tiny shapes, each trains one step."""

from pathlib import Path

import numpy as np
import pytest

from ava_tx.builders import config_util
from ava_tx.builders import model_builder
from ava_tx.core import errors
from ava_tx.core import standard_fields
from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf
from ava_tx.layers import action_transformer
from ava_tx.layers import i3d_head
from ava_tx.layers import tx_i3d_head
from ava_tx.protos import action_transformer_pb2

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "configs").glob("*.config"))
_AT = action_transformer_pb2.ActionTransformer
LossFields = standard_fields.LossFields


def _model_config(path):
  return config_util.load_pipeline_config(str(path)).model.action_transformer


def _shrink(config):
  """Keeps head type, modes and regression settings; makes every size tiny."""
  config.num_classes = 3
  config.num_frames = 8
  config.image_height = config.image_width = 64
  config.trunk.depth_multiplier = 0.125
  config.trunk.min_depth = 8
  config.trunk.fine_tune_checkpoint = ""
  config.rpn.num_proposals_train = config.rpn.num_proposals_test = 8
  config.rpn.pre_nms_top_k_train = config.rpn.pre_nms_top_k_test = 64
  config.rpn.num_filters = 16
  config.proposal_sampler.num_sampled_rois = 8
  config.post_processing.max_detections = 5
  if config.head_type != _AT.I3D:
    tx = config.action_transformer_head
    tx.hidden_size = tx.ffn_hidden_size = tx.high_res_reduced_channels = 16
    tx.location_embedding_size = tx.location_embedding_hidden_size = 8
  return config


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_builds_the_model_it_describes(path):
  config = _model_config(path)
  config.trunk.fine_tune_checkpoint = ""
  model = model_builder.build(config)
  head_class = {
    _AT.ACTION_TRANSFORMER: action_transformer.ActionTransformerHead,
    _AT.I3D: i3d_head.I3DHead,
    _AT.TX_I3D: tx_i3d_head.TxI3DHead,
  }[config.head_type]
  heads = [layer for layer in model.submodules if isinstance(layer, head_class)]
  assert len(heads) == 1
  assert heads[0].num_logits == config.num_classes + 1
  assert model.num_classes == config.num_classes


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shrunk_config_trains_one_step_and_postprocesses(path):
  config = _shrink(_model_config(path))
  tf.random.set_seed(0)
  model = model_builder.build(config)
  frames = tf.random.uniform([2, 8, 64, 64, 3], -1.0, 1.0, seed=1)
  boxes = tf.constant(
    [[[0.1, 0.1, 0.8, 0.5], [0.0, 0.0, 0.0, 0.0]], [[0.2, 0.4, 0.9, 0.9], [0.1, 0.0, 0.6, 0.3]]],
    tf.float32,
  )
  classes = tf.constant([[[1, 0, 1], [0, 0, 0]], [[0, 1, 0], [1, 1, 0]]], tf.float32)
  # Person-detector boxes, for configs that add them to the proposals.
  detector = dict(proposal_boxes=boxes + 0.02, num_proposal_boxes=tf.constant([1, 2]))
  model.provide_groundtruth(
    groundtruth_boxes=boxes,
    groundtruth_classes=classes,
    num_groundtruth_boxes=tf.constant([1, 2]),
    **detector,
  )
  optimizer = keras.optimizers.SGD(0.01)
  with tf.GradientTape() as tape:
    preprocessed, shapes = model.preprocess(frames)
    predictions = model.predict(preprocessed, shapes, training=True)
    losses = model.loss(predictions, shapes)
  total = losses[LossFields.total_loss]
  assert np.isfinite(total.numpy()) and total.numpy() > 0
  grads = tape.gradient(total, model.trainable_variables)
  optimizer.apply_gradients(
    [(g, v) for g, v in zip(grads, model.trainable_variables) if g is not None]
  )
  if model.uses_rpn:
    assert float(losses[LossFields.rpn_objectness_loss]) > 0.0
  else:
    assert (
      LossFields.rpn_objectness_loss not in losses
      or float(losses[LossFields.rpn_objectness_loss]) == 0.0
    )
  model.clear_groundtruth()
  if config.proposals == _AT.GROUNDTRUTH:
    model.provide_groundtruth(
      groundtruth_boxes=boxes,
      groundtruth_classes=classes,
      num_groundtruth_boxes=tf.constant([1, 2]),
    )
  if model_builder.uses_person_detector_boxes(config):
    model.provide_proposal_boxes(**detector)  # inference: no ground truth
  preprocessed, shapes = model.preprocess(frames)
  detections = model.postprocess(model.predict(preprocessed, shapes, training=False), shapes)
  scores = detections[standard_fields.DetectionFields.detection_action_scores].numpy()
  assert scores.shape == (2, 5, 3)
  assert np.all((scores >= 0) & (scores <= 1))


def test_i3d_endpoint_layers_cover_trunk_and_i3d_head():
  config = _shrink(_model_config(REPO / "configs" / "ava_tx_plus_i3d_64f_400.config"))
  model = model_builder.build(config)
  names = set(model_builder.i3d_endpoint_layers(model))
  assert {"Conv3d_1a_7x7", "Mixed_4f", "Mixed_5b", "Mixed_5c"} <= names


def test_wrong_message_type_is_rejected():
  with pytest.raises(TypeError, match="DetectionModel or ActionTransformer"):
    model_builder.build(action_transformer_pb2.RoiPooling())


def test_freeze_up_to_endpoint_makes_those_blocks_non_trainable():
  config = _shrink(_model_config(REPO / "configs" / "tiny_synthetic_cpu.config"))
  config.trunk.freeze_up_to_endpoint = "Conv3d_2b_1x1"
  model = model_builder.build(config)
  trunk = model.restore_from_objects("classification")
  frames = tf.zeros([1, 8, 64, 64, 3])
  model.provide_groundtruth(
    groundtruth_boxes=tf.zeros([1, 1, 4]),
    groundtruth_classes=tf.zeros([1, 1, 3]),
    num_groundtruth_boxes=tf.constant([0]),
    proposal_boxes=tf.constant([[[0.1, 0.1, 0.6, 0.4]]]),
    num_proposal_boxes=tf.constant([1]),
  )
  model.predict(model.preprocess(frames)[0], None, training=False)
  trainable = {id(v) for v in model.trainable_variables}
  for name in ("Conv3d_1a_7x7", "Conv3d_2b_1x1"):
    assert trunk[name].weights and not any(id(v) in trainable for v in trunk[name].weights)
  assert all(id(v) in trainable for v in trunk["Conv3d_2c_3x3"].trainable_weights)
  assert trunk["Conv3d_2c_3x3"].trainable_weights


def test_detector_boxes_only_builds_no_rpn_and_detects_around_those_boxes():
  config = _shrink(_model_config(REPO / "configs" / "tiny_synthetic_cpu.config"))
  assert config.proposals == _AT.PERSON_DETECTOR
  model = model_builder.build(config)
  assert model.rpn is None and not model.uses_rpn
  frames = tf.random.uniform([1, 8, 64, 64, 3], -1.0, 1.0, seed=1)
  detector = tf.constant([[[0.1, 0.1, 0.8, 0.5], [0.2, 0.55, 0.9, 0.95]]])
  model.provide_groundtruth(
    groundtruth_boxes=detector[:, :1],
    groundtruth_classes=tf.ones([1, 1, 3]),
    num_groundtruth_boxes=tf.constant([1]),
    proposal_boxes=detector,
    num_proposal_boxes=tf.constant([2]),
  )
  preprocessed, shapes = model.preprocess(frames)
  losses = model.loss(model.predict(preprocessed, shapes, training=True), shapes)
  assert float(losses[LossFields.rpn_objectness_loss]) == 0.0
  assert float(losses[LossFields.action_classification_loss]) > 0.0
  assert not any("rpn" in v.name for v in model.trainable_variables)
  predictions = model.predict(preprocessed, shapes, training=False)
  # At test time the proposals are exactly the detector boxes.
  proposals = predictions[standard_fields.PredictionFields.proposal_boxes][0].numpy()
  mask = predictions["proposal_mask"][0].numpy() > 0
  np.testing.assert_allclose(proposals[mask], detector.numpy()[0], atol=1e-6)
  detections = model.postprocess(predictions, shapes)
  assert int(detections[standard_fields.DetectionFields.num_detections][0]) == 2


@pytest.mark.parametrize(
  "proposals, providers",
  [
    (_AT.RPN, ["rpn"]),
    (_AT.RPN_AND_PERSON_DETECTOR, ["rpn", "person_detector"]),
    (_AT.PERSON_DETECTOR, ["person_detector"]),
    (_AT.GROUNDTRUTH, ["groundtruth"]),
  ],
)
def test_proposals_enum_gives_the_providers(proposals, providers):
  config = _shrink(_model_config(REPO / "configs" / "tiny_synthetic_cpu.config"))
  config.proposals = proposals
  model = model_builder.build(config)
  assert [p.name for p in model.proposal_providers] == providers
  assert model.uses_rpn == ("rpn" in providers)
  assert model.uses_person_detector_boxes == ("person_detector" in providers)
  assert model_builder.uses_person_detector_boxes(config) == ("person_detector" in providers)


def test_tx_head_config_reads_the_proto_once_into_the_dataclass():
  config = action_transformer_pb2.ActionTransformer()
  tx = config.action_transformer_head
  tx.num_heads, tx.num_layers, tx.hidden_size, tx.ffn_hidden_size = 3, 1, 24, 40
  tx.dropout_rate = 0.5  # Exact in the proto's float32.
  tx.query_preprocessor = action_transformer_pb2.ActionTransformerHead.LOW_RES
  tx.use_location_embedding = False
  assert model_builder.tx_head_config(config) == action_transformer.ActionTransformerHeadConfig(
    num_heads=3,
    num_layers=1,
    query_size=24,
    ffn_hidden_size=40,
    dropout_rate=0.5,
    query_preprocessor=action_transformer.LOWRES,
    highres_reduced_channels=128,
    use_location_embedding=False,
    location_embedding_hidden_size=64,
    location_embedding_size=64,
  )


def test_head_type_without_a_builder_names_the_known_types(monkeypatch):
  monkeypatch.delitem(model_builder.HEAD_BUILDERS, _AT.TX_I3D)
  config = action_transformer_pb2.ActionTransformer(head_type=_AT.TX_I3D)
  with pytest.raises(
    errors.InputError,
    match=r"head_type: unknown value 2; known head types: ACTION_TRANSFORMER, I3D",
  ):
    model_builder.build_head(config)
  assert set(model_builder.HEAD_BUILDERS) == {_AT.ACTION_TRANSFORMER, _AT.I3D}


@pytest.mark.parametrize(
  "source, rpn, person_boxes",
  [
    ("RPN", True, False),
    ("RPN_AND_PERSON_DETECTOR", True, True),
    ("PERSON_DETECTOR", False, True),
    ("GROUNDTRUTH", False, False),
  ],
)
def test_proposal_source_predicates(source, rpn, person_boxes):
  config = _AT(proposals=_AT.ProposalSource.Value(source))
  assert model_builder.uses_rpn(config) is rpn
  assert model_builder.uses_person_detector_boxes(config) is person_boxes
