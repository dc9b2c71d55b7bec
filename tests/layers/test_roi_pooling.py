"""Tests of ava_tx.layers.roi_pooling: exact RoIAlign values, max pooling, ST tubes."""

import numpy as np
import pytest

from ava_tx.core.tf_setup import tf
from ava_tx.layers import roi_pooling


def _np_roi_align(feature_map, box, crop_size):
  """Reference RoIAlign (detectron2 aligned=True, one sample per bin) of one [h, w, c] map."""
  height, width, channels = feature_map.shape
  ymin, xmin, ymax, xmax = box

  def samples(lo, hi, size):
    return lo * size + (np.arange(crop_size) + 0.5) * (hi - lo) * size / crop_size - 0.5

  def neighbours(coord, size):
    if coord < -1.0 or coord > size:
      return None
    coord = max(coord, 0.0)
    low = int(coord)
    if low >= size - 1:
      return size - 1, size - 1, 0.0
    return low, low + 1, coord - low

  out = np.zeros([crop_size, crop_size, channels])
  for i, y in enumerate(samples(ymin, ymax, height)):
    for j, x in enumerate(samples(xmin, xmax, width)):
      ny, nx = neighbours(y, height), neighbours(x, width)
      if ny is None or nx is None:
        continue
      (y0, y1, ly), (x0, x1, lx) = ny, nx
      out[i, j] = (
        (1 - ly) * (1 - lx) * feature_map[y0, x0]
        + (1 - ly) * lx * feature_map[y0, x1]
        + ly * (1 - lx) * feature_map[y1, x0]
        + ly * lx * feature_map[y1, x1]
      )
  return out


def _ramp(height, width):
  """[1, height, width, 2] map: channel 0 = row + 1, channel 1 = 10 * (column + 1)."""
  rows = np.arange(1, height + 1, dtype=np.float32)[:, None] * np.ones([1, width], np.float32)
  cols = np.ones([height, 1], np.float32) * (10.0 * np.arange(1, width + 1, dtype=np.float32))
  return np.stack([rows, cols], axis=-1)[None]


def _boxes(*boxes):
  return tf.constant([list(boxes)], tf.float32)


def test_whole_map_box_samples_cell_centres():
  crops = roi_pooling.roi_align(_ramp(4, 3), _boxes([0, 0, 1, 1]), crop_size=4)
  assert crops.shape == (1, 1, 4, 4, 2)
  np.testing.assert_allclose(crops[0, 0, :, 0, 0], [1, 2, 3, 4], atol=1e-5)
  # 3 columns into 4 bins: centres at 0.375, 1.125, 1.875, 2.625 -> cell coords -0.125 (border),
  # 0.625, 1.375, 2.125 (border).
  np.testing.assert_allclose(crops[0, 0, 0, :, 1], [10, 16.25, 23.75, 30], atol=1e-4)


def test_whole_map_box_upsampled_by_two():
  crops = roi_pooling.roi_align(_ramp(4, 4), _boxes([0, 0, 1, 1]), crop_size=8)
  np.testing.assert_allclose(
    crops[0, 0, :, 0, 0], [1, 1.25, 1.75, 2.25, 2.75, 3.25, 3.75, 4], atol=1e-5
  )


def test_sub_box_and_border_rules():
  feature_map = _ramp(4, 4)
  # Top half: rows 0 and 1 exactly.
  crops = roi_pooling.roi_align(feature_map, _boxes([0, 0, 0.5, 1]), crop_size=2)
  np.testing.assert_allclose(crops[0, 0, :, 0, 0], [1, 2], atol=1e-5)
  # Box above the map: sample cell coords -2.25, -1.75 (> 1 cell out: 0), -1.25 (0), -0.75
  # (within one cell: border value 1).
  crops = roi_pooling.roi_align(feature_map, _boxes([-0.5, 0, 0, 1]), crop_size=4)
  np.testing.assert_allclose(crops[0, 0, :, 0, 0], [0, 0, 0, 1], atol=1e-5)


def test_matches_numpy_reference_on_random_boxes():
  rng = np.random.default_rng(0)
  feature_map = rng.normal(size=[2, 5, 7, 3]).astype(np.float32)
  corners = rng.uniform(-0.2, 1.2, size=[2, 6, 2, 2])
  boxes = np.concatenate([corners.min(axis=2), corners.max(axis=2)], axis=-1).astype(np.float32)
  crops = roi_pooling.roi_align(feature_map, boxes, crop_size=6).numpy()
  assert crops.shape == (2, 6, 6, 6, 3)
  for b in range(2):
    for r in range(6):
      np.testing.assert_allclose(
        crops[b, r],
        _np_roi_align(feature_map[b], boxes[b, r], 6),
        atol=1e-5,
        err_msg=f"batch {b} proposal {r} box {boxes[b, r]}",
      )


def test_roi_pool_max_pools_crops():
  feature_map = _ramp(14, 14)
  pooled = roi_pooling.roi_pool(feature_map, _boxes([0, 0, 1, 1], [0, 0, 0.5, 0.5]))
  assert pooled.shape == (1, 2, 7, 7, 2)
  np.testing.assert_allclose(pooled[0, 0, :, 0, 0], np.arange(2, 15, 2), atol=1e-5)
  np.testing.assert_allclose(pooled[0, 0, 0, :, 1], 10 * np.arange(2, 15, 2), atol=1e-4)
  # The top-left quarter (7x7 cells) sampled 14 times: max of pairs of half-cell samples.
  np.testing.assert_allclose(pooled[0, 1, :, 0, 0], np.arange(1.25, 7.5, 1.0), atol=1e-5)


def test_roi_pool_rejects_bad_sizes_and_ranks():
  with pytest.raises(ValueError, match="multiple of pooled_size"):
    roi_pooling.roi_pool(_ramp(4, 4), _boxes([0, 0, 1, 1]), crop_size=14, pooled_size=4)
  with pytest.raises(ValueError, match="rank 4"):
    roi_pooling.roi_pool(np.zeros([1, 2, 4, 4, 1], np.float32), _boxes([0, 0, 1, 1]))
  with pytest.raises(ValueError, match=r"\[batch_size, num_proposals, 4\]"):
    roi_pooling.roi_pool(_ramp(4, 4), tf.zeros([1, 2, 3]))


def test_spatio_temporal_pool_is_per_frame_pool_stacked():
  rng = np.random.default_rng(1)
  features = rng.normal(size=[2, 3, 6, 5, 4]).astype(np.float32)
  boxes = np.array(
    [[[0.1, 0.2, 0.7, 0.9], [0, 0, 1, 1]], [[0.5, 0.5, 0.9, 0.8], [0.2, 0.0, 0.4, 1]]], np.float32
  )
  tubes = roi_pooling.spatio_temporal_roi_pool(features, boxes, crop_size=4, pooled_size=2)
  assert tubes.shape == (2, 2, 3, 2, 2, 4)
  for t in range(3):
    np.testing.assert_allclose(
      tubes[:, :, t], roi_pooling.roi_pool(features[:, t], boxes, 4, 2), atol=1e-6
    )
  # Each example's boxes pool that example's map.
  np.testing.assert_allclose(
    tubes[1, 0, 2],
    _np_roi_align(features[1, 2], boxes[1, 0], 4).reshape(2, 2, 2, 2, 4).max(axis=(1, 3)),
    atol=1e-5,
  )


def test_layers_config_round_trip_and_gradient():
  layer = roi_pooling.SpatioTemporalRoIPooling(crop_size=4, pooled_size=2, name="st")
  clone = roi_pooling.SpatioTemporalRoIPooling.from_config(layer.get_config())
  assert clone.get_config() == layer.get_config()
  assert clone.get_config()["crop_size"] == 4
  features = tf.Variable(tf.random.stateless_normal([1, 2, 4, 4, 3], seed=[1, 2]))
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(layer(features, _boxes([0.375, 0.375, 0.625, 0.625])))
  grad = tape.gradient(loss, features)
  # Samples at cell coords 1.125..1.875: only cells 1 and 2 receive gradient.
  assert np.abs(grad.numpy()[:, :, 1:3, 1:3]).sum() > 0
  np.testing.assert_array_equal(grad.numpy()[:, :, [0, 3]], 0)
  np.testing.assert_array_equal(grad.numpy()[:, :, :, [0, 3]], 0)
  spatial = roi_pooling.RoIPooling(crop_size=2, pooled_size=1)
  assert roi_pooling.RoIPooling.from_config(spatial.get_config()).pooled_size == 1
  assert spatial(_ramp(2, 2), _boxes([0, 0, 1, 1])).shape == (1, 1, 1, 1, 2)
