"""The meta-architecture with a fake trunk and head (and the real tiny I3D where it matters)."""

import numpy as np
import pytest

from ava_tx.core import standard_fields
from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf
from ava_tx.layers import rpn as rpn_lib
from ava_tx.layers import target_assigner as ta
from ava_tx.meta_architectures import action_transformer_meta_arch as meta
from ava_tx.meta_architectures import proposal_providers as pp
from tests.meta_architectures import fakes

P = standard_fields.PredictionFields
D = standard_fields.DetectionFields
L = standard_fields.LossFields
NUM_CLASSES = 3
GT_BOXES = [[[0.1, 0.1, 0.6, 0.5], [0.4, 0.5, 0.95, 0.9]], [[0.0] * 4, [0.0] * 4]]
GT_CLASSES = [[[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]], [[0.0] * 3, [0.0] * 3]]
NUM_GT = [2, 0]  # the second clip has no ground truth


def _rpn():
  return rpn_lib.RegionProposalNetwork(
    anchor_base_size=32.0,
    anchor_scales=(1.0, 2.0),
    anchor_aspect_ratios=(0.5, 1.0),
    num_filters=8,
    train_num_proposals=12,
    test_num_proposals=10,
    batch_size_per_image=16,
  )


def _providers(source):
  return {
    "rpn": lambda: (pp.RpnProposals(_rpn()),),
    "groundtruth": lambda: (pp.GroundtruthProposals(),),
    "person_detector": lambda: (pp.PersonDetectorProposals(),),
    "rpn_and_person_detector": lambda: (pp.RpnProposals(_rpn()), pp.PersonDetectorProposals()),
  }[source]()


def _model(
  source="rpn", num_box_classes=None, with_attention=True, trunk=None, head=None, max_detections=5
):
  return meta.ActionTransformerMetaArch(
    num_classes=NUM_CLASSES,
    trunk=trunk or fakes.FakeTrunk(),
    second_stage_head=head or fakes.FakeHead(NUM_CLASSES + 1, num_box_classes, with_attention),
    proposal_providers=_providers(source),
    sampling=ta.ProposalSamplingConfig(num_samples_per_image=8),
    postprocessing=meta.PostprocessConfig(max_detections=max_detections),
  )


def _frames(size=64):
  return tf.random.stateless_uniform([2, 4, size, size, 3], seed=[1, 2], minval=-1, maxval=1)


def _provide(model, with_external=False):
  kwargs = {}
  if with_external:
    kwargs = dict(
      proposal_boxes=tf.constant([[[0.1, 0.1, 0.6, 0.5], [0.0, 0.0, 0.0, 0.0]]] * 2),
      num_proposal_boxes=tf.constant([1, 1]),
    )
  model.provide_groundtruth(
    groundtruth_boxes=tf.constant(GT_BOXES),
    groundtruth_classes=tf.constant(GT_CLASSES),
    num_groundtruth_boxes=tf.constant(NUM_GT),
    **kwargs,
  )


def test_predict_loss_postprocess_shapes_training_and_inference():
  tf.random.set_seed(0)
  model = _model()
  frames, shapes = model.preprocess(_frames())
  np.testing.assert_array_equal(shapes.numpy(), [[64, 64, 3]] * 2)
  _provide(model)
  pred = model.predict(frames, shapes, training=True)
  assert pred[P.trunk_features].shape == (2, 2, 4, 4, 8)
  assert pred[P.rpn_objectness_logits].shape == (2, 4, 4, 4)
  assert pred[P.rpn_box_encodings].shape == (2, 4, 4, 16)
  assert pred[P.anchor_boxes].shape == (64, 4)
  assert pred[P.proposal_boxes].shape == (2, 8, 4)  # sampled
  assert pred[P.action_logits].shape == (2, 8, NUM_CLASSES + 1)
  assert pred[P.box_encodings].shape == (2, 8, 4)
  assert pred[meta.TargetFields.action_targets].shape == (2, 8, NUM_CLASSES)
  losses = model.loss(pred)
  assert set(losses) == {
    L.rpn_objectness_loss,
    L.rpn_localization_loss,
    L.action_classification_loss,
    L.box_localization_loss,
    L.regularization_loss,
    L.total_loss,
  }
  parts = sum(float(v) for k, v in losses.items() if k != L.total_loss)
  assert float(losses[L.total_loss]) == pytest.approx(parts, rel=1e-6)
  assert all(np.isfinite(float(v)) for v in losses.values())

  pred = model.predict(frames, shapes, training=False)
  assert pred[P.proposal_boxes].shape == (2, 10, 4)  # R test proposals
  assert pred[P.num_proposals].shape == (2,)
  assert np.isfinite(float(model.loss(pred)[L.total_loss]))
  det = model.postprocess(pred, shapes)
  assert det[D.detection_boxes].shape == (2, 5, 4)
  assert det[D.detection_scores].shape == (2, 5)
  assert det[D.detection_action_scores].shape == (2, 5, NUM_CLASSES)
  assert det[D.num_detections].shape == (2,)
  assert det[D.detection_attention_weights].shape == (2, 5, 1, 1, 2, 4, 4)
  boxes, scores = det[D.detection_boxes].numpy(), det[D.detection_scores].numpy()
  assert boxes.min() >= 0.0 and boxes.max() <= 1.0
  assert scores.min() >= 0.0 and scores.max() <= 1.0


def test_preprocess_resizes():
  model = meta.ActionTransformerMetaArch(
    num_classes=NUM_CLASSES,
    trunk=fakes.FakeTrunk(),
    proposal_providers=_providers("rpn"),
    second_stage_head=fakes.FakeHead(NUM_CLASSES + 1),
    preprocessing=meta.PreprocessConfig(resize_height=32, resize_width=48),
  )
  frames, shapes = model.preprocess(tf.zeros([1, 2, 20, 30, 3]))
  assert frames.shape == (1, 2, 32, 48, 3)
  np.testing.assert_array_equal(shapes.numpy(), [[32, 48, 3]])
  with pytest.raises(ValueError, match="num_frames"):
    model.preprocess(tf.zeros([2, 20, 30, 3]))


def test_preprocess_normalizes_uint8_and_keeps_float_frames():
  model = _model()
  clip = np.random.default_rng(5).integers(0, 256, (2, 2, 6, 7, 3), dtype=np.uint8)
  clip[0, 0, 0, 0] = [0, 255, 128]
  from_uint8, shapes = model.preprocess(tf.constant(clip))
  assert from_uint8.dtype == tf.float32
  np.testing.assert_array_equal(shapes.numpy(), [[6, 7, 3]] * 2)
  np.testing.assert_allclose(
    from_uint8.numpy()[0, 0, 0, 0], [-1.0, 1.0, 128 / 127.5 - 1], atol=1e-6
  )
  normalized = clip.astype(np.float32) / 127.5 - 1.0
  from_float, _ = model.preprocess(tf.constant(normalized))
  np.testing.assert_array_equal(from_float.numpy(), normalized)  # Float: used unchanged.
  np.testing.assert_allclose(from_uint8.numpy(), normalized, atol=1e-6)


def _train_step(model, frames, optimizer):
  with tf.GradientTape() as tape:
    pred = model.predict(frames, None, training=True)
    losses = model.loss(pred)
  variables = model.trainable_variables
  grads = tape.gradient(losses[L.total_loss], variables)
  optimizer.apply_gradients(zip(grads, variables))
  return losses, dict(zip([v.name for v in variables], grads))


def test_gradients_reach_every_trainable_variable():
  tf.random.set_seed(1)
  model = _model()
  _provide(model)
  _, grads = _train_step(model, _frames(), keras.optimizers.SGD(0.0))
  missing = [name for name, g in grads.items() if g is None]
  assert not missing, f"no gradient for {missing}"
  assert len(grads) > 10


def test_clip_without_groundtruth_trains_without_nan():
  tf.random.set_seed(2)
  model = _model()
  model.provide_groundtruth(
    groundtruth_boxes=tf.zeros([2, 3, 4]),
    groundtruth_classes=tf.zeros([2, 3, NUM_CLASSES]),
    num_groundtruth_boxes=tf.constant([0, 0]),
  )
  optimizer = keras.optimizers.SGD(0.1)
  for _ in range(3):
    losses, grads = _train_step(model, _frames(), optimizer)
    assert all(np.isfinite(float(v)) for v in losses.values())
    assert float(losses[L.box_localization_loss]) == 0.0
    assert all(np.all(np.isfinite(g.numpy())) for g in grads.values() if g is not None)
  assert all(np.all(np.isfinite(v.numpy())) for v in model.trainable_variables)


@pytest.mark.parametrize("num_box_classes", [None, NUM_CLASSES])
def test_class_agnostic_and_class_specific_regression(num_box_classes):
  tf.random.set_seed(3)
  model = _model(num_box_classes=num_box_classes)
  _provide(model)
  pred = model.predict(_frames(), None, training=True)
  expected = (2, 8, 4) if num_box_classes is None else (2, 8, NUM_CLASSES, 4)
  assert pred[P.box_encodings].shape == expected
  assert np.isfinite(float(model.loss(pred)[L.box_localization_loss]))
  det = model.postprocess(model.predict(_frames(), None, training=False))
  assert det[D.detection_boxes].shape == (2, 5, 4)


def test_groundtruth_box_mode():
  tf.random.set_seed(4)
  model = _model(source="groundtruth", max_detections=4)
  assert model.rpn is None
  _provide(model)
  pred = model.predict(_frames(), None, training=True)
  np.testing.assert_array_equal(pred[P.proposal_boxes].numpy(), np.float32(GT_BOXES))
  np.testing.assert_array_equal(pred[P.num_proposals].numpy(), NUM_GT)
  assert P.rpn_objectness_logits not in pred
  losses = model.loss(pred)
  assert float(losses[L.rpn_objectness_loss]) == 0.0
  assert float(losses[L.rpn_localization_loss]) == 0.0
  assert float(losses[L.action_classification_loss]) > 0.0
  pred = model.predict(_frames(), None, training=False)
  np.testing.assert_array_equal(pred[P.proposal_boxes].numpy(), np.float32(GT_BOXES))
  det = model.postprocess(pred)
  np.testing.assert_array_equal(det[D.num_detections].numpy(), NUM_GT)  # no NMS, no padding
  assert np.isfinite(float(model.loss(pred)[L.total_loss]))


def test_external_proposals_are_appended_to_rpn_proposals():
  tf.random.set_seed(5)
  model = _model(source="rpn_and_person_detector")
  _provide(model, with_external=True)
  pred = model.predict(_frames(), None, training=False)
  assert pred[P.proposal_boxes].shape == (2, 12, 4)  # 10 RPN + 2 (padded) detector boxes
  np.testing.assert_allclose(pred[P.proposal_boxes].numpy()[:, 10], [[0.1, 0.1, 0.6, 0.5]] * 2)
  np.testing.assert_array_equal(
    pred[meta.TargetFields.proposal_mask].numpy()[:, 10:], [[1, 0], [1, 0]]
  )


def test_providers_required_and_checked_and_head_output_checked():
  make = lambda providers: meta.ActionTransformerMetaArch(  # noqa: E731
    num_classes=NUM_CLASSES,
    trunk=fakes.FakeTrunk(),
    second_stage_head=fakes.FakeHead(NUM_CLASSES + 1),
    proposal_providers=providers,
  )
  with pytest.raises(ValueError, match="needs proposal_providers"):
    make(None)
  with pytest.raises(ValueError, match="at least one"):
    make(())
  with pytest.raises(ValueError, match="replace all others"):
    make((pp.GroundtruthProposals(), pp.PersonDetectorProposals()))
  with pytest.raises(ValueError, match="given once"):
    make((pp.PersonDetectorProposals(), pp.PersonDetectorProposals()))
  with pytest.raises(ValueError, match="provide_proposal_boxes"):
    _model(source="person_detector").predict(_frames(), None, training=False)
  model = _model(head=fakes.FakeHead(NUM_CLASSES))  # forgot the background logit
  with pytest.raises(ValueError, match="background"):
    model.predict(_frames(), None, training=False)
  with pytest.raises(ValueError, match="provide_groundtruth"):
    _model().predict(_frames(), None, training=True)


def test_postprocess_nms_topk_and_scores_on_hand_made_predictions():
  proposals = tf.constant(
    [
      [
        [0.1, 0.1, 0.5, 0.5],
        [0.1, 0.1, 0.5, 0.52],
        [0.6, 0.6, 0.9, 0.9],
        [0.0, 0.6, 0.3, 0.9],
        [0.0, 0.0, 0.0, 0.0],
      ]
    ]
  )
  # Background logits: person scores sigmoid(-bg) = 0.9, 0.8, 0.7, 0.6, (padding).
  bg = -np.log(np.array([0.9, 0.8, 0.7, 0.6, 0.99]) / (1 - np.array([0.9, 0.8, 0.7, 0.6, 0.99])))
  actions = np.array([[2.0, -2.0], [0.0, 0.0], [-1.0, 1.0], [0.5, 0.5], [9.0, 9.0]])
  logits = tf.constant(np.concatenate([bg[:, None], actions], axis=1)[None], tf.float32)
  det = meta.postprocess_detections(
    proposal_boxes=proposals,
    proposal_mask=tf.constant([[1.0, 1.0, 1.0, 1.0, 0.0]]),
    action_logits=logits,
    box_encodings=tf.zeros([1, 5, 4]),
    max_detections=2,
    score_threshold=0.0,
    nms_iou_threshold=0.5,
  )
  assert int(det[D.num_detections][0]) == 2
  # Box 1 duplicates box 0 (IoU 0.95) and is removed; top-2 of the rest are boxes 0 and 2.
  np.testing.assert_allclose(
    det[D.detection_boxes].numpy()[0], [[0.1, 0.1, 0.5, 0.5], [0.6, 0.6, 0.9, 0.9]], atol=1e-6
  )
  np.testing.assert_allclose(det[D.detection_scores].numpy()[0], [0.9, 0.7], atol=1e-6)
  sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
  np.testing.assert_allclose(
    det[D.detection_action_scores].numpy()[0], sig(actions[[0, 2]]), atol=1e-6
  )
  wide = meta.postprocess_detections(
    proposal_boxes=proposals,
    proposal_mask=tf.constant([[1.0, 1.0, 1.0, 1.0, 0.0]]),
    action_logits=logits,
    box_encodings=tf.zeros([1, 5, 4]),
    max_detections=6,
    score_threshold=0.0,
    nms_iou_threshold=0.5,
  )
  assert int(wide[D.num_detections][0]) == 3  # padding never detected
  np.testing.assert_array_equal(wide[D.detection_scores].numpy()[0, 3:], 0.0)


def test_postprocess_decodes_class_specific_box_of_best_action():
  proposals = tf.constant([[[0.2, 0.2, 0.6, 0.6]]])
  encodings = np.zeros([1, 1, 2, 4], np.float32)
  encodings[0, 0, 1] = [10.0 * 0.25, 0.0, 0.0, 0.0]  # shift down by a quarter of the height
  det = meta.postprocess_detections(
    proposal_boxes=proposals,
    proposal_mask=tf.ones([1, 1]),
    action_logits=tf.constant([[[0.0, -3.0, 3.0]]]),
    box_encodings=tf.constant(encodings),
    max_detections=1,
    score_threshold=0.0,
    nms_iou_threshold=0.5,
  )
  np.testing.assert_allclose(det[D.detection_boxes].numpy()[0, 0], [0.3, 0.2, 0.7, 0.6], atol=1e-5)


def _tiny_i3d():
  from ava_tx.trunks import i3d  # pylint: disable=import-outside-toplevel

  return i3d.InceptionI3D(depth_multiplier=0.125, min_depth=8, freeze_batch_norm=True)


def test_frozen_trunk_batch_norm_statistics_unchanged_by_a_training_step():
  tf.random.set_seed(6)
  model = _model(trunk=_tiny_i3d())
  _provide(model)
  frames = tf.random.stateless_uniform([2, 8, 64, 64, 3], seed=[3, 4], minval=-1, maxval=1)
  model.predict(frames, None, training=False)  # build
  stats = {
    name: v.numpy()
    for name, v in model.trunk.named_variables().items()
    if name.endswith(("moving_mean", "moving_variance"))
  }
  assert len(stats) > 10
  before_trainable = [v.numpy() for v in model.trunk.trainable_variables]
  _, grads = _train_step(model, frames, keras.optimizers.SGD(0.1))
  for name, v in model.trunk.named_variables().items():
    if name in stats:
      np.testing.assert_array_equal(v.numpy(), stats[name], err_msg=name)
  changed = [
    v.name
    for v, old in zip(model.trunk.trainable_variables, before_trainable)
    if not np.array_equal(v.numpy(), old)
  ]
  assert changed, "the trunk's trainable weights should move"
  assert not [n for n, g in grads.items() if g is None]


def test_restore_from_objects_returns_trunk_endpoint_layers():
  model = _model(trunk=_tiny_i3d())
  items = model.restore_from_objects("classification")
  assert "Conv3d_1a_7x7" in items and "Mixed_4f" in items
  assert items["Mixed_4f"] is model.trunk.endpoint_layers()["Mixed_4f"]
  assert model.restore_from_objects("full") == {"model": model}
  detection = model.restore_from_objects("detection")
  assert list(detection) == ["model"] and detection["model"]._trunk is model.trunk
  with pytest.raises(ValueError, match="fine_tune_checkpoint_type"):
    model.restore_from_objects("bogus")


def test_real_tx_i3d_head_end_to_end_inference_in_a_graph_with_unknown_batch():
  """Tx+I3D head on the tiny I3D, run as an export would: one tf.function, batch size None."""
  from ava_tx.layers import action_transformer  # pylint: disable=import-outside-toplevel
  from ava_tx.layers import tx_i3d_head  # pylint: disable=import-outside-toplevel
  from ava_tx.trunks import i3d  # pylint: disable=import-outside-toplevel

  keras.utils.set_random_seed(7)
  tail = i3d.InceptionI3D(
    first_endpoint="MaxPool3d_5a_2x2",
    final_endpoint="Mixed_5c",
    depth_multiplier=0.125,
    min_depth=8,
    freeze_batch_norm=True,
  )
  head = tx_i3d_head.TxI3DHead(
    num_logits=NUM_CLASSES + 1,
    num_box_classes=NUM_CLASSES,
    mixed5_block=tail,
    tx_config=action_transformer.ActionTransformerHeadConfig(
      num_heads=2,
      num_layers=1,
      query_size=16,
      ffn_hidden_size=32,
      highres_reduced_channels=16,
      location_embedding_hidden_size=8,
      location_embedding_size=8,
    ),
    return_attention=True,
  )
  model = _model(trunk=_tiny_i3d(), head=head)
  serve = tf.function(
    model.call, input_signature=[tf.TensorSpec([None, 8, 64, 64, 3], tf.float32)]
  ).get_concrete_function()
  det = serve(tf.random.stateless_uniform([2, 8, 64, 64, 3], seed=[5, 6], minval=-1, maxval=1))
  assert det[D.detection_boxes].shape == (2, 5, 4)
  assert det[D.detection_action_scores].shape == (2, 5, NUM_CLASSES)
  # Tiny I3D: Mixed_4f of an 8x64x64 clip is 2x4x4; 1 layer, 2 heads.
  assert det[D.detection_attention_weights].shape == (2, 5, 1, 2, 2, 4, 4)
  num = det[D.num_detections].numpy()
  assert np.all(num >= 1) and np.all(num <= 5)
  sums = det[D.detection_attention_weights].numpy()[0, : num[0]].sum(axis=(-3, -2, -1))
  np.testing.assert_allclose(sums, 1.0, atol=1e-5)
  # Keys per clip: [batch, layers, heads, T', H', W', D], the first head's own key projection.
  assert det[D.attention_key_embeddings].shape == (2, 1, 2, 2, 4, 4, 16)


def test_training_step_compiles_with_unknown_batch_size():
  tf.random.set_seed(8)
  model = _model()
  optimizer = keras.optimizers.SGD(0.01)
  spec = lambda *shape: tf.TensorSpec([None, *shape], tf.float32)  # noqa: E731

  @tf.function(
    input_signature=[
      spec(4, 64, 64, 3),
      spec(2, 4),
      spec(2, NUM_CLASSES),
      tf.TensorSpec([None], tf.int32),
    ]
  )
  def step(frames, boxes, classes, num):
    model.provide_groundtruth(
      groundtruth_boxes=boxes, groundtruth_classes=classes, num_groundtruth_boxes=num
    )
    losses, _ = _train_step(model, frames, optimizer)
    return losses[L.total_loss]

  total = step(_frames(), tf.constant(GT_BOXES), tf.constant(GT_CLASSES), tf.constant(NUM_GT))
  assert np.isfinite(float(total))
