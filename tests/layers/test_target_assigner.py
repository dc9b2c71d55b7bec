"""Proposal matching and sampling on hand-made boxes with multi-label ground truth."""

import math

import numpy as np
import pytest

from ava_tx.core.tf_setup import tf
from ava_tx.layers import target_assigner as ta

# Two people; person 0 does actions {0, 2}, person 1 does action {1}.
GT_BOXES = [[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]]
GT_CLASSES = [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
PROPOSALS = [
  [0.0, 0.0, 0.5, 0.5],  # = person 0: IoU 1
  [0.5, 0.5, 1.0, 0.9],  # IoU 0.8 with person 1
  [0.0, 0.25, 0.5, 0.75],  # IoU 1/3 with person 0: negative
  [0.0, 0.9, 0.05, 1.0],  # IoU 0: negative, or ignored when negative_iou_low > 0
  [0.0, 0.0, 0.0, 0.0],  # padding
]
MASK = [True, True, True, True, False]


def _inputs(num_gt=2):
  return (
    tf.constant([PROPOSALS]),
    tf.constant([MASK]),
    tf.constant([GT_BOXES]),
    tf.constant([GT_CLASSES]),
    tf.constant([num_gt]),
  )


def test_assign_without_sampling_matches_multilabel_targets():
  config = ta.ProposalSamplingConfig(negative_iou_low=0.1)
  t = ta.assign_targets(*_inputs(), config=config, subsample=False)
  np.testing.assert_array_equal(t.positive_mask.numpy(), [[1, 1, 0, 0, 0]])
  np.testing.assert_array_equal(t.weights.numpy(), [[1, 1, 1, 0, 0]])  # 4th ignored, 5th pad
  np.testing.assert_array_equal(t.matched_groundtruth_index.numpy(), [[0, 1, -1, -1, -1]])
  np.testing.assert_array_equal(
    t.action_targets.numpy()[0], [[1, 0, 1], [0, 1, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]]
  )
  np.testing.assert_allclose(t.box_targets.numpy()[0, 0], [0, 0, 0, 0], atol=1e-5)
  # Proposal 1 (h 0.5, w 0.4, centre (0.75, 0.7)) -> person 1 (h 0.5, w 0.5, centre (0.75, 0.75)).
  expected = [0.0, 10.0 * 0.05 / 0.4, 0.0, 5.0 * math.log(0.5 / 0.4)]
  np.testing.assert_allclose(t.box_targets.numpy()[0, 1], expected, atol=1e-4)
  np.testing.assert_array_equal(t.box_targets.numpy()[0, 2:], np.zeros([3, 4]))


def test_negative_iou_low_zero_keeps_far_boxes_as_negatives():
  t = ta.assign_targets(*_inputs(), config=ta.ProposalSamplingConfig(), subsample=False)
  np.testing.assert_array_equal(t.weights.numpy(), [[1, 1, 1, 1, 0]])


def test_sampling_adds_groundtruth_and_balances():
  tf.random.set_seed(3)
  config = ta.ProposalSamplingConfig(num_samples_per_image=4, positive_fraction=0.5)
  t = ta.assign_targets(*_inputs(), config=config, subsample=True)
  assert t.boxes.shape == (1, 4, 4)
  assert t.action_targets.shape == (1, 4, 3)
  # Candidates: 2 proposal positives + 2 GT positives, 2 negatives -> 2 positives, 2 negatives.
  assert t.positive_mask.numpy().sum() == 2
  assert t.weights.numpy().sum() == 4
  for k in range(4):
    index = t.matched_groundtruth_index.numpy()[0, k]
    if t.positive_mask.numpy()[0, k]:
      np.testing.assert_array_equal(t.action_targets.numpy()[0, k], GT_CLASSES[index])
    else:
      assert index == -1
      np.testing.assert_array_equal(t.action_targets.numpy()[0, k], [0, 0, 0])


def test_sampling_pads_with_zero_weight_when_candidates_are_few():
  tf.random.set_seed(0)
  config = ta.ProposalSamplingConfig(num_samples_per_image=16, positive_fraction=0.25)
  t = ta.assign_targets(*_inputs(), config=config, subsample=True)
  assert t.boxes.shape == (1, 16, 4)
  # 4 positives (2 proposals + 2 GT boxes) are all kept (quota 4), then 2 negatives; rest padding.
  assert t.positive_mask.numpy().sum() == 4
  assert t.weights.numpy().sum() == 6


def test_no_groundtruth_gives_negatives_only_and_finite_targets():
  tf.random.set_seed(0)
  config = ta.ProposalSamplingConfig(num_samples_per_image=8)
  t = ta.assign_targets(*_inputs(num_gt=0), config=config, subsample=True)
  assert t.positive_mask.numpy().sum() == 0
  assert t.weights.numpy().sum() == 4
  assert np.all(np.isfinite(t.box_targets.numpy()))
  assert np.all(t.action_targets.numpy() == 0)
  empty = ta.assign_targets(
    tf.constant([PROPOSALS]),
    tf.constant([MASK]),
    tf.zeros([1, 0, 4]),
    tf.zeros([1, 0, 3]),
    tf.constant([0]),
    config=config,
    subsample=True,
  )
  assert empty.weights.numpy().sum() == 4


def test_groundtruth_as_proposals():
  t = ta.groundtruth_as_proposals(
    tf.constant([GT_BOXES]), tf.constant([GT_CLASSES]), tf.constant([2])
  )
  np.testing.assert_array_equal(t.boxes.numpy()[0], GT_BOXES)
  np.testing.assert_array_equal(t.weights.numpy(), [[1, 1, 0]])
  np.testing.assert_array_equal(t.positive_mask.numpy(), [[1, 1, 0]])
  np.testing.assert_array_equal(t.matched_groundtruth_index.numpy(), [[0, 1, -1]])
  np.testing.assert_array_equal(t.action_targets.numpy()[0], GT_CLASSES)


@pytest.mark.parametrize(
  "kwargs",
  [
    dict(num_samples_per_image=0),
    dict(positive_fraction=0.0),
    dict(negative_iou_high=0.6),
    dict(negative_iou_low=-0.1),
  ],
)
def test_config_validation(kwargs):
  with pytest.raises(ValueError):
    ta.ProposalSamplingConfig(**kwargs)
