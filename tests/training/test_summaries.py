"""Tests of ava_tx.training.summaries: text glyphs and box drawing on tiny images."""

import numpy as np
import pytest

from ava_tx.core.standard_fields import DetectionFields, InputFields
from ava_tx.core.tf_setup import tf
from ava_tx.training import summaries


def test_text_bitmap_glyphs():
  one = summaries.text_bitmap(tf.constant([[1]])).numpy()
  np.testing.assert_array_equal(one, [[0, 1, 0], [1, 1, 0], [0, 1, 0], [0, 1, 0], [1, 1, 1]])
  line = summaries.text_bitmap(tf.constant([[1, 11]])).numpy()
  assert line.shape == (5, 7)
  np.testing.assert_array_equal(line[:, 3], 0)              # spacing column
  np.testing.assert_array_equal(line[:, 5], [0, 1, 0, 1, 0])  # colon
  two_lines = summaries.text_bitmap(tf.constant([[0], [7]])).numpy()
  assert two_lines.shape == (11, 3)
  np.testing.assert_array_equal(two_lines[5], 0)            # spacing row
  np.testing.assert_array_equal(two_lines[6], [1, 1, 1])    # top of the 7


def test_label_glyph_codes():
  codes = summaries.label_glyph_codes(tf.constant([5, 12, 123]),
                                      tf.constant([0.87, 1.0, 0.054]))
  np.testing.assert_array_equal(codes.numpy(), [[10, 10, 5, 11, 8, 7],
                                                [10, 1, 2, 11, 9, 9],
                                                [1, 2, 3, 11, 0, 5]])
  codes = summaries.label_glyph_codes(tf.constant([0, 40]), valid=tf.constant([True, False]))
  np.testing.assert_array_equal(codes.numpy(), [[10, 10, 0], [10, 10, 10]])


def _draw():
  return summaries.draw_keyframe(
      tf.zeros([40, 40, 3]),
      groundtruth_boxes=tf.constant([[0.25, 0.25, 0.75, 0.75], [0.0, 0.0, 0.0, 0.0]]),
      groundtruth_classes=tf.constant([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]),
      num_groundtruth_boxes=tf.constant(1),
      detection_boxes=tf.constant([[0.1, 0.1, 0.9, 0.9], [0.6, 0.6, 0.7, 0.7]]),
      detection_scores=tf.constant([0.9, 0.8]),
      detection_action_scores=tf.constant([[0.2, 0.87, 0.1], [0.1, 0.2, 0.3]]),
      num_detections=tf.constant(1)).numpy()


def test_draw_keyframe_boxes_and_labels():
  image = _draw()
  assert image.shape == (40, 40, 3)
  green, red = (0.0, 1.0, 0.0), (1.0, 0.0, 0.0)
  # Edges: GT box at columns 9 and 29, the valid detection at 3 and 35.
  np.testing.assert_array_equal(image[25, [9, 29]], [green, green])
  np.testing.assert_array_equal(image[25, [3, 35]], [red, red])
  # The second detection (beyond num_detections) is not drawn.
  np.testing.assert_array_equal(image[25, 23:28], 0.0)
  # GT label "1" bottom-left inside the GT box; detection label "  1:87" top-left.
  np.testing.assert_array_equal(image[18:23, 18:21, 1],
                                [[0, 1, 0], [1, 1, 0], [0, 1, 0], [0, 1, 0], [1, 1, 1]])
  np.testing.assert_array_equal(image[4:9, 12:15, 0],
                                [[0, 1, 0], [1, 1, 0], [0, 1, 0], [0, 1, 0], [1, 1, 1]])
  np.testing.assert_array_equal(image[4:9, 17, 0], [0, 1, 0, 1, 0])  # the colon
  # Text backgrounds are dark; the rest stays black.
  assert image.max() == 1.0 and image.min() == 0.0


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
  images = summaries.draw_batch_keyframes(batch, detections, max_images=2).numpy()
  assert images.shape == (2, 8, 8, 3)
  np.testing.assert_array_equal(images, 1.0)  # frames 1.0 -> white, nothing drawn
  with pytest.raises(ValueError, match="num_frames"):
    summaries.draw_batch_keyframes({InputFields.frames: tf.zeros([2, 8, 8, 3])}, detections)
  legend = summaries.legend_markdown({0: "stand", 1: "sit"})
  assert "Green" in legend and "- 0: stand\n- 1: sit" in legend
