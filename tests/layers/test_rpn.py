"""RPN: anchors, output shapes, proposals, anchor labelling."""

import math

import numpy as np
import pytest

from ava_tx.core.tf_setup import tf
from ava_tx.layers import rpn as rpn_lib


def test_generate_anchors_count_and_values():
  anchors = rpn_lib.generate_anchors(
    feature_height=2,
    feature_width=3,
    stride=16,
    base_size=32.0,
    scales=(1.0, 2.0),
    aspect_ratios=(0.5, 1.0, 2.0),
  ).numpy()
  assert anchors.shape == (2, 3, 2 * 3 * 4)
  boxes = anchors.reshape(2, 3, 6, 4)
  # Cell (0, 0), scale 1, ratio 1: 32x32 px centred at (8, 8) in a 32x48 px image.
  np.testing.assert_allclose(boxes[0, 0, 1], [-8 / 32, -8 / 48, 24 / 32, 24 / 48], atol=1e-6)
  # Cell (1, 2), scale 2, ratio 2 (width / height = 2): centre (24, 40).
  h, w = 64 / math.sqrt(2), 64 * math.sqrt(2)
  np.testing.assert_allclose(
    boxes[1, 2, 5],
    [(24 - h / 2) / 32, (40 - w / 2) / 48, (24 + h / 2) / 32, (40 + w / 2) / 48],
    atol=1e-5,
  )


def test_non_power_of_two_stride_rejected():
  with pytest.raises(ValueError, match="power of two"):
    rpn_lib.RegionProposalNetwork(anchor_stride=12)


def _tiny_rpn(**kwargs):
  defaults = dict(
    anchor_base_size=32.0,
    anchor_scales=(1.0, 2.0),
    anchor_aspect_ratios=(1.0,),
    num_filters=8,
    train_num_proposals=10,
    test_num_proposals=6,
    batch_size_per_image=16,
  )
  defaults.update(kwargs)
  return rpn_lib.RegionProposalNetwork(**defaults)


def test_rpn_output_shapes_and_proposals():
  tf.random.set_seed(0)
  rpn = _tiny_rpn()
  features = tf.random.normal([2, 4, 4, 5])
  out = rpn(features, training=True)
  assert rpn.num_anchors_per_location == 2
  assert out.objectness_logits.shape == (2, 4, 4, 2)
  assert out.box_encodings.shape == (2, 4, 4, 8)
  assert out.anchor_boxes.shape == (32, 4)
  assert out.proposal_boxes.shape == (2, 10, 4)
  assert out.proposal_scores.shape == (2, 10)
  assert out.proposal_mask.shape == (2, 10)
  boxes = out.proposal_boxes.numpy()
  assert boxes.min() >= 0.0 and boxes.max() <= 1.0
  scores = out.proposal_scores.numpy()
  assert np.all(np.diff(scores, axis=1) <= 1e-7)  # sorted by objectness
  assert rpn(features, training=False).proposal_boxes.shape == (2, 6, 4)
  # RPNHead: conv (kernel, bias), batch norm (gamma, beta), scores and boxes (kernel, bias).
  assert len(rpn.trainable_variables) == 8


def test_rpn_rejects_wrong_rank():
  with pytest.raises(ValueError, match="central time step"):
    _tiny_rpn()(tf.zeros([1, 2, 4, 4, 5]), training=False)


def test_label_anchors_positive_at_matching_anchor_and_none_without_groundtruth():
  tf.random.set_seed(0)
  rpn = _tiny_rpn(anchor_scales=(1.0,))
  out = rpn(tf.zeros([2, 4, 4, 3]), training=False)
  anchors = out.anchor_boxes.numpy()
  # Anchor of cell (1, 1): 32 px square centred at (24, 24) of a 64 px image.
  target_index = 1 * 4 + 1
  np.testing.assert_allclose(anchors[target_index], [0.125, 0.125, 0.625, 0.625], atol=1e-6)
  gt = tf.constant([[[0.125, 0.125, 0.625, 0.625]], [[0.0, 0.0, 0.0, 0.0]]])
  scores, boxes = rpn.label_anchors(
    out.anchor_boxes, out.objectness_logits, gt, tf.constant([1, 0])
  )
  assert scores.shape == (2, 4, 4, 1) and boxes.shape == (2, 4, 4, 4)
  scores, boxes = scores.numpy().reshape(2, -1), boxes.numpy().reshape(2, -1, 4)
  assert scores[0, target_index] == 1
  assert (scores[0] == 1).sum() == 1
  np.testing.assert_allclose(boxes[0, target_index], 0.0, atol=1e-5)
  assert (scores[1] == 1).sum() == 0 and (scores[1] == 0).sum() == 16
  assert np.all(boxes[1] == 0.0)


def test_get_config_round_trip():
  rpn = _tiny_rpn()
  clone = rpn_lib.RegionProposalNetwork.from_config(rpn.get_config())
  assert clone.get_config() == rpn.get_config()
  assert clone.num_proposals(training=True) == 10 and clone.num_proposals(training=False) == 6
