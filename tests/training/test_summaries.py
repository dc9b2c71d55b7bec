"""Tests of ava_tx.training.summaries: keyframe panels drawn with Pillow, on tiny images."""

import numpy as np
import pytest

from ava_tx.core.standard_fields import DetectionFields
from ava_tx.core.standard_fields import InputFields
from ava_tx.core.tf_setup import tf
from ava_tx.training import summaries

GREEN, RED = summaries.GT_COLOR, summaries.DETECTION_COLOR


def _draw(label_names=None, **kwargs):
  """An 8x8 black keyframe (scaled to 400x400), one valid GT box and one valid detection."""
  return summaries.draw_keyframe(
    np.zeros([8, 8, 3], np.float32),
    groundtruth_boxes=np.array([[0.25, 0.25, 0.75, 0.75], [0.0, 0.0, 0.1, 0.1]]),
    groundtruth_classes=np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]),
    num_groundtruth_boxes=1,
    detection_boxes=np.array([[0.1, 0.1, 0.9, 0.9], [0.6, 0.6, 0.7, 0.7]]),
    detection_scores=np.array([0.9, 0.95]),
    detection_action_scores=np.array([[0.2, 0.87, 0.1], [0.1, 0.2, 0.3]]),
    num_detections=1,
    label_names=label_names,
    **kwargs,
  )


def _layout(image):
  """(header, panel width, gap) of a two-panel image whose panels are 400x400."""
  header = image.shape[0] - 400
  return header, 400, image.shape[1] - 800


def _count(region, color):
  return int(np.all(region == color, axis=-1).sum())


def test_panels_are_the_keyframe_scaled_up_side_by_side():
  image = _draw()
  header, width, gap = _layout(image)
  assert image.dtype == np.uint8 and image.shape[2] == 3
  assert 10 < header < 40 and 0 < gap < 20
  truth, predicted = image[header:, :width], image[header:, width + gap :]
  # GT box edges (x = 0.25 * 399 ~ 100) in green on the left only; the detection's
  # (x = 0.1 * 399 ~ 40) in red on the right only.
  assert _count(truth[250:300, 99:102], GREEN) >= 50
  assert _count(predicted[250:300, 39:42], RED) >= 50
  assert _count(truth, RED) == 0 and _count(predicted, GREEN) == 0
  # Rows beyond num_groundtruth_boxes / num_detections are not drawn (their boxes would
  # be at the top-left corner, and at x = 0.6 * 399 ~ 239).
  assert _count(truth[0:30, 0:30], GREEN) == 0
  assert _count(predicted[250:300, 238:241], RED) == 0


def test_labels_are_class_names_in_text_pixels():
  named = _draw({0: "stand", 1: "sit (on a chair)", 2: "walk"})
  indices = _draw()
  header, width, gap = _layout(named)
  # Titles: white text in both headers.
  assert _count(named[:header, :width], (255, 255, 255)) > 20
  assert _count(named[:header, width + gap :], (255, 255, 255)) > 20
  # GT label at the box's top-left (from x, y ~ 100): green text on a black block; "sit" is
  # wider than "1", and the gloss in parentheses is dropped.
  gt_named = named[header + 100 : header + 140, 100:300]
  gt_index = indices[header + 100 : header + 140, 100:300]
  assert _count(gt_named, GREEN) > _count(gt_index, GREEN) > 10
  assert not np.array_equal(gt_named, gt_index)
  assert summaries.class_name(1, {1: "sit (on a chair)"}) == "sit"
  assert summaries.class_name(7, None) == "7"
  # Detection labels (person score and two classes: three lines) under its top-left corner.
  lines = named[header + 40 : header + 120, width + gap + 40 : width + gap + 200]
  rows_with_text = np.flatnonzero(np.all(lines == RED, axis=-1).sum(axis=1) > 1)
  assert rows_with_text.size > 20 and rows_with_text.max() - rows_with_text.min() > 30


def test_inverted_boxes_are_drawn_by_their_corners():
  image = summaries.draw_keyframe(
    np.zeros([8, 8, 3], np.float32),
    groundtruth_boxes=np.zeros([0, 4]),
    groundtruth_classes=np.zeros([0, 3]),
    num_groundtruth_boxes=0,
    detection_boxes=np.array([[0.9, 0.9, 0.1, 0.1]]),
    detection_scores=np.array([0.5]),
    detection_action_scores=np.array([[0.2, 0.3, 0.1]]),
    num_detections=1,
  )
  header, width, gap = _layout(image)
  predicted = image[header:, width + gap :]
  assert _count(predicted[250:300, 39:42], RED) >= 50  # the left edge, x = 0.1 * 399


def test_large_keyframes_are_not_scaled():
  image = summaries.draw_keyframe(
    np.ones([410, 500, 3], np.float32),
    groundtruth_boxes=np.zeros([0, 4]),
    groundtruth_classes=np.zeros([0, 2]),
    num_groundtruth_boxes=0,
    detection_boxes=np.zeros([0, 4]),
    detection_scores=np.zeros([0]),
    detection_action_scores=np.zeros([0, 2]),
    num_detections=0,
  )
  header = image.shape[0] - 410
  assert image.shape[1] == 2 * 500 + (image.shape[1] - 1000) and header > 0
  np.testing.assert_array_equal(image[header:, :500], 255)  # white frame, nothing drawn


def test_draw_batch_keyframes_and_legend():
  batch = {
    InputFields.frames: tf.fill([3, 2, 8, 8, 3], 1.0),
    InputFields.groundtruth_boxes: tf.zeros([3, 1, 4]),
    InputFields.groundtruth_classes: tf.zeros([3, 1, 2]),
    InputFields.num_groundtruth_boxes: tf.zeros([3], tf.int32),
  }
  detections = {
    DetectionFields.detection_boxes: tf.zeros([3, 1, 4]),
    DetectionFields.detection_scores: tf.zeros([3, 1]),
    DetectionFields.detection_action_scores: tf.zeros([3, 1, 2]),
    DetectionFields.num_detections: tf.zeros([3], tf.int32),
  }
  images = summaries.draw_batch_keyframes(batch, detections, max_images=2)
  header = images.shape[1] - 400
  assert images.shape[0] == 2 and images.shape[2] > 800 and images.dtype == np.uint8
  np.testing.assert_array_equal(images[:, header:, :400], 255)  # white frames, nothing drawn
  # The parser's uint8 frames draw the same picture as float frames in [-1, 1].
  batch[InputFields.frames] = tf.fill([3, 2, 8, 8, 3], tf.constant(255, tf.uint8))
  np.testing.assert_array_equal(summaries.draw_batch_keyframes(batch, detections), images)
  np.testing.assert_allclose(
    summaries.keyframe_in_unit_range(np.array([0, 51, 255], np.uint8)), [0.0, 0.2, 1.0]
  )
  np.testing.assert_allclose(
    summaries.keyframe_in_unit_range(np.array([-1.0, 0.0, 1.0])), [0, 0.5, 1]
  )
  with pytest.raises(ValueError, match="num_frames"):
    summaries.draw_batch_keyframes({InputFields.frames: tf.zeros([2, 8, 8, 3])}, detections)
  legend = summaries.legend_markdown({0: "stand", 1: "sit"})
  assert "Left: ground-truth" in legend and "- 0: stand\n- 1: sit" in legend
