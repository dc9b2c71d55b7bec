"""Tests of ava_tx.core.detection_model.DetectionModel's ground-truth store."""

import numpy as np
import pytest

from ava_tx.core.standard_fields import InputFields
from ava_tx.core.tf_setup import tf
from tests.training.fake_detection_model import FakeDetectionModel


def _batch(with_proposals):
  batch = {
    InputFields.frames: tf.zeros([2, 2, 4, 4, 3]),
    InputFields.groundtruth_boxes: tf.constant([[[0.1, 0.2, 0.5, 0.6]]] * 2),
    InputFields.groundtruth_classes: tf.constant([[[1.0, 0.0, 1.0]]] * 2),
    InputFields.num_groundtruth_boxes: tf.constant([1, 0]),
  }
  if with_proposals:
    batch[InputFields.proposal_boxes] = tf.constant([[[0.0, 0.0, 1.0, 1.0]]] * 2)
    batch[InputFields.num_proposal_boxes] = tf.constant([1, 1])
  return batch


def test_provide_groundtruth_from_batch_maps_the_ground_truth_fields():
  model = FakeDetectionModel()
  batch = _batch(with_proposals=True)
  model.provide_groundtruth_from_batch(batch)
  for field in (
    InputFields.groundtruth_boxes,
    InputFields.groundtruth_classes,
    InputFields.num_groundtruth_boxes,
    InputFields.proposal_boxes,
    InputFields.num_proposal_boxes,
  ):
    np.testing.assert_array_equal(model.groundtruth(field), batch[field])
  with pytest.raises(ValueError, match="No ground truth 'frames'"):
    model.groundtruth(InputFields.frames)


def test_provide_groundtruth_from_batch_without_proposals_forgets_earlier_ones():
  model = FakeDetectionModel()
  model.provide_groundtruth_from_batch(_batch(with_proposals=True))
  model.provide_groundtruth_from_batch(_batch(with_proposals=False))
  np.testing.assert_array_equal(model.groundtruth(InputFields.num_groundtruth_boxes), [1, 0])
  with pytest.raises(ValueError, match="No ground truth 'proposal_boxes'"):
    model.groundtruth(InputFields.proposal_boxes)


def test_provide_groundtruth_from_batch_needs_the_ground_truth():
  batch = _batch(with_proposals=False)
  del batch[InputFields.groundtruth_classes]
  with pytest.raises(KeyError, match="groundtruth_classes"):
    FakeDetectionModel().provide_groundtruth_from_batch(batch)
