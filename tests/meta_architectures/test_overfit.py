"""Overfit one tiny clip with the real tiny I3D trunk and the real heads (Tx and I3D).

The total loss (RPN objectness + RPN boxes + sigmoid CE + smooth L1) must fall by 10x, and the
trained model must then detect both people with their (multi-label) actions.
"""

import time

import numpy as np
import pytest

from ava_tx.core import standard_fields
from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf
from ava_tx.layers import action_transformer
from ava_tx.layers import i3d_head
from ava_tx.layers import rpn as rpn_lib
from ava_tx.layers import target_assigner as ta
from ava_tx.meta_architectures import action_transformer_meta_arch as meta
from ava_tx.meta_architectures import proposal_providers as pp
from ava_tx.trunks import i3d

L = standard_fields.LossFields
D = standard_fields.DetectionFields
NUM_CLASSES = 3
DEPTH = dict(depth_multiplier=0.125, min_depth=8)
GT_BOXES = [[[0.0, 0.0, 0.5, 0.5], [0.25, 0.5, 1.0, 0.875]]]
GT_CLASSES = [[[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]]


def _clip():
  """8x64x64 frames in [-1, 1]: noise plus a brighter rectangle inside each person box."""
  rng = np.random.default_rng(0)
  frames = rng.uniform(-0.3, 0.3, size=(1, 8, 64, 64, 3)).astype(np.float32)
  frames[:, :, 0:32, 0:32, 0] += 0.6
  frames[:, :, 16:64, 32:56, 1] += 0.6
  return tf.constant(frames)


def _trunk():
  """The tiny I3D with its stem conv frozen: on CPU, TF's Conv3D filter gradient of the 7x7x7
  stem on 3 input channels costs ~2.8 s per step here (vs ~0.06 s for the rest of the trunk's
  forward and backward), which would not fit a few hundred steps in a test."""
  trunk = i3d.InceptionI3D(freeze_batch_norm=True, **DEPTH)
  trunk.endpoint_layers()["Conv3d_1a_7x7"].trainable = False
  return trunk


def _model(head):
  rpn = rpn_lib.RegionProposalNetwork(
    anchor_base_size=32.0,
    anchor_scales=(1.0, 2.0),
    anchor_aspect_ratios=(0.5, 1.0),
    num_filters=32,
    train_num_proposals=16,
    test_num_proposals=16,
    batch_size_per_image=32,
  )
  return meta.ActionTransformerMetaArch(
    num_classes=NUM_CLASSES,
    trunk=_trunk(),
    second_stage_head=head,
    proposal_providers=(pp.RpnProposals(rpn),),
    # Proposals with IoU 0.3-0.5 are ignored, not negatives. On a 4x4 feature map a box just
    # under IoU 0.5 pools almost the same features as one just over it, so with the default
    # (every proposal under 0.5 a negative) the classification loss had a floor that depended on
    # where the proposals fell: seeds 0-3 ended 7.7-420x below the first loss, and CI saw 8.4x
    # for seed 0. With the band ignored, the same seeds ended 396-473x (2026-12-03, 300 steps).
    sampling=ta.ProposalSamplingConfig(num_samples_per_image=16, negative_iou_high=0.3),
    postprocessing=meta.PostprocessConfig(max_detections=4),
  )


def _tx_head():
  return action_transformer.ActionTransformerHead(
    num_logits=NUM_CLASSES + 1,
    tx_config=action_transformer.ActionTransformerHeadConfig(
      num_heads=2,
      num_layers=2,
      query_size=16,
      ffn_hidden_size=32,
      dropout_rate=0.0,
      highres_reduced_channels=16,
      location_embedding_hidden_size=8,
      location_embedding_size=8,
    ),
  )


def _i3d_head():
  tail = i3d.InceptionI3D(
    first_endpoint="MaxPool3d_5a_2x2", final_endpoint="Mixed_5c", freeze_batch_norm=True, **DEPTH
  )
  return i3d_head.I3DHead(num_logits=NUM_CLASSES + 1, mixed5_block=tail)


def _overfit(model, num_steps):
  frames, _ = model.preprocess(_clip())
  # Adam at a constant 3e-3 was still bouncing at the end; annealed to zero over the run (cosine,
  # as the trainer does), it settles. CPU reductions are not bit-deterministic and the RoI
  # sampling amplifies the difference, so one seed does not give one result. With the sampling
  # in `_model`, seeds 0-7 ended 250-502x below the first loss with the I3D head and seeds 0-3
  # 81-176x with the Tx head, every check below passing (2026-12-03, 300 steps).
  optimizer = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(3e-3, num_steps))

  @tf.function
  def step():
    with tf.GradientTape() as tape:
      model.provide_groundtruth(
        groundtruth_boxes=tf.constant(GT_BOXES),
        groundtruth_classes=tf.constant(GT_CLASSES),
        num_groundtruth_boxes=tf.constant([2]),
      )
      losses = model.loss(model.predict(frames, None, training=True))
    variables = model.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(losses[L.total_loss], variables), variables))
    return losses

  start = time.perf_counter()
  history, first_losses, first_step_seconds = [], None, None
  for _ in range(num_steps):
    losses = step()
    if first_losses is None:
      first_losses, first_step_seconds = losses, time.perf_counter() - start
    history.append(float(losses[L.total_loss]))
  elapsed = time.perf_counter() - start
  for key in losses:
    print(f"  {key}: {float(first_losses[key]):.4f} -> {float(losses[key]):.4f}")
  first, last = history[0], float(np.mean(history[-10:]))
  print(
    f"{type(model.second_stage_head).__name__}: total loss {first:.3f} -> {last:.4f} "
    f"({first / last:.1f}x) in {num_steps} steps, {elapsed:.1f} s "
    f"(first step with tracing {first_step_seconds:.1f} s)"
  )
  assert np.all(np.isfinite(history))
  assert last < first / 10.0, f"loss {first:.3f} -> {last:.4f}"
  return model.postprocess(model.predict(frames, None, training=False))


def _check_detections(detections):
  boxes = detections[D.detection_boxes].numpy()[0]
  actions = detections[D.detection_action_scores].numpy()[0]
  num = int(detections[D.num_detections][0])
  for gt_box, gt_classes in zip(GT_BOXES[0], GT_CLASSES[0]):
    ious = [_iou(gt_box, boxes[k]) for k in range(num)]
    best = int(np.argmax(ious))
    assert ious[best] > 0.5, f"no detection of {gt_box}: {boxes[:num]}"
    np.testing.assert_array_equal(actions[best] > 0.5, np.array(gt_classes) > 0.5)


def _iou(a, b):
  inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
  area = lambda x: (x[2] - x[0]) * (x[3] - x[1])  # noqa: E731
  return inter / (area(a) + area(b) - inter)


@pytest.mark.slow
def test_overfit_one_clip_with_tx_head():
  keras.utils.set_random_seed(0)
  # 200 steps were not enough for every start (seed 1: 4.0x with the cosine schedule).
  _check_detections(_overfit(_model(_tx_head()), num_steps=300))


@pytest.mark.slow
def test_overfit_one_clip_with_i3d_head():
  keras.utils.set_random_seed(0)
  # 200 steps were not enough for every start (seeds 0-3: 4.7-10.7x with the cosine schedule).
  _check_detections(_overfit(_model(_i3d_head()), num_steps=300))
