"""Exact values of the losses on tiny hand-made cases."""

import math

import numpy as np
import pytest

from ava_tx.core.tf_setup import tf
from ava_tx.layers import losses


def test_smooth_l1_values():
  x = tf.constant([0.5, 2.0, -3.0, 0.0])
  np.testing.assert_allclose(losses.smooth_l1(x, tf.zeros(4)).numpy(), [0.125, 1.5, 2.5, 0.0])
  np.testing.assert_allclose(
    losses.smooth_l1(x, tf.zeros(4), delta=0.5).numpy(), [0.25, 1.75, 2.75, 0.0]
  )
  with pytest.raises(ValueError, match="delta"):
    losses.smooth_l1(x, x, delta=0.0)


def test_action_classification_loss_sums_classes_and_averages_weighted_proposals():
  logits = tf.constant([[[0.0, 2.0], [5.0, -5.0], [1.0, 1.0]]])
  targets = tf.constant([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
  weights = tf.constant([[1.0, 0.0, 1.0]])
  first = math.log(2.0) + math.log(1.0 + math.exp(2.0))
  third = 2.0 * math.log(1.0 + math.exp(-1.0))
  got = losses.action_classification_loss(logits, targets, weights).numpy()
  assert got == pytest.approx((first + third) / 2.0, rel=1e-6)


def test_action_classification_loss_zero_weights_is_zero_not_nan():
  logits = tf.constant([[[3.0, -1.0]]])
  got = losses.action_classification_loss(logits, tf.zeros_like(logits), tf.zeros([1, 1]))
  assert got.numpy() == 0.0


def test_action_classification_loss_rank_error():
  with pytest.raises(ValueError, match="num_logits"):
    losses.action_classification_loss(tf.zeros([2, 3]), tf.zeros([2, 3]), tf.zeros([2]))


def test_box_localization_loss_class_agnostic_positives_only():
  encodings = tf.constant([[[0.5, 0.0, 0.0, 0.0], [9.0, 9.0, 9.0, 9.0], [0.0, 2.0, 0.0, 0.0]]])
  targets = tf.zeros([1, 3, 4])
  positive = tf.constant([[1.0, 0.0, 1.0]])
  got = losses.box_localization_loss(encodings, targets, positive).numpy()
  assert got == pytest.approx((0.125 + 1.5) / 2.0)
  none = losses.box_localization_loss(encodings, targets, tf.zeros([1, 3])).numpy()
  assert none == 0.0


def test_box_localization_loss_class_specific_averages_positive_classes():
  encodings = tf.constant([[[[0.5, 0.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0], [7.0, 7.0, 7.0, 7.0]]]])
  targets = tf.zeros([1, 1, 4])
  positive = tf.ones([1, 1])
  both = losses.box_localization_loss(
    encodings, targets, positive, class_targets=tf.constant([[[1.0, 1.0, 0.0]]])
  )
  assert both.numpy() == pytest.approx((0.125 + 1.5) / 2.0)
  second = losses.box_localization_loss(
    encodings, targets, positive, class_targets=tf.constant([[[0.0, 1.0, 0.0]]])
  )
  assert second.numpy() == pytest.approx(1.5)
  with pytest.raises(ValueError, match="class_targets"):
    losses.box_localization_loss(encodings, targets, positive)


def test_rpn_objectness_loss_ignores_unsampled_and_divides_by_batch_size_per_image():
  logits = tf.zeros([1, 1, 2, 2])
  targets = tf.constant([[[[1, 0], [-1, -1]]]], tf.int32)
  got = losses.rpn_objectness_loss(logits, targets, rpn_batch_size_per_image=4).numpy()
  assert got == pytest.approx(2.0 * math.log(2.0) / 4.0, rel=1e-6)


def test_rpn_localization_loss_is_huber_over_positive_anchor_coordinates():
  encodings = tf.zeros([1, 1, 2, 8])
  targets = np.zeros([1, 1, 2, 8], np.float32)
  targets[0, 0, 0, :4] = [0.1, 0.0, 0.0, 0.0]  # anchor 0 of cell 0 positive
  got = losses.rpn_localization_loss(encodings, tf.constant(targets), 1.0 / 9.0).numpy()
  # Huber(0.1, delta=1/9) = 0.5 * 0.01; normalized by 4 coordinates of 1 anchor (+0.01).
  assert got == pytest.approx(0.005 / 4.01, rel=1e-5)
