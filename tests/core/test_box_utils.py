"""Box helpers: conversions, validity, IoU with padding, encode/decode round trip."""

import math

import numpy as np

from ava_tx.core import box_utils
from ava_tx.core.tf_setup import tf


def test_absolute_normalized_round_trip():
  boxes = tf.constant([[0.1, 0.2, 0.5, 1.0]])
  absolute = box_utils.to_absolute(boxes, 200, 400)
  np.testing.assert_allclose(absolute.numpy(), [[20.0, 80.0, 100.0, 400.0]], rtol=1e-6)
  np.testing.assert_allclose(
    box_utils.to_normalized(absolute, 200, 400).numpy(), boxes.numpy(), rtol=1e-6
  )


def test_is_valid_box_and_clip():
  boxes = tf.constant([[0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 0.0, 0.0], [0.5, 0.1, 0.4, 0.3]])
  np.testing.assert_array_equal(box_utils.is_valid_box(boxes).numpy(), [True, False, False])
  clipped = box_utils.clip_to_unit(tf.constant([[-0.5, 0.2, 1.5, 1.0]])).numpy()
  np.testing.assert_array_equal(clipped, np.float32([[0.0, 0.2, 1.0, 1.0]]))


def test_pairwise_iou_marks_invalid_columns():
  boxes = tf.constant([[[0.0, 0.0, 0.5, 0.5]]])
  others = tf.constant([[[0.0, 0.0, 0.5, 0.5], [0.0, 0.25, 0.5, 0.75], [0.0, 0.0, 0.5, 0.5]]])
  iou = box_utils.pairwise_iou(boxes, others, tf.constant([[True, True, False]])).numpy()
  np.testing.assert_allclose(iou, [[[1.0, 1.0 / 3.0, -1.0]]], atol=1e-6)


def test_encode_uses_faster_rcnn_weights_and_decode_inverts_it():
  anchors = tf.constant([[0.2, 0.2, 0.6, 0.4]])
  boxes = tf.constant([[0.3, 0.2, 0.7, 0.5]])
  codes = box_utils.encode(boxes, anchors).numpy()
  # dy = 0.1 / 0.4, dx = 0.05 / 0.2, dh = log(1), dw = log(0.3 / 0.2); times (10, 10, 5, 5).
  np.testing.assert_allclose(codes, [[2.5, 2.5, 0.0, 5.0 * math.log(1.5)]], atol=1e-4)
  np.testing.assert_allclose(box_utils.decode(codes, anchors).numpy(), boxes.numpy(), atol=1e-5)
  unscaled = box_utils.encode(boxes, anchors, weights=None).numpy()
  np.testing.assert_allclose(unscaled, codes / np.array([10.0, 10.0, 5.0, 5.0]), atol=1e-5)
