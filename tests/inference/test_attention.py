"""Tests of the attention figure (pure functions) and the page written for a fake model."""

import numpy as np
from PIL import Image
import pytest

from ava_tx.core import errors
from ava_tx.inference import attention_figures as figures
from ava_tx.inference import attention_page
from tests.data import video_fixtures
from tests.inference import fakes


def _softmax_maps(shape, seed=0):
  logits = np.random.default_rng(seed).normal(size=shape[:-3] + (int(np.prod(shape[-3:])),))
  weights = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
  return weights.reshape(shape)


def test_selected_attention_sums_to_one_over_space_time_for_each_head():
  weights = _softmax_maps((3, 2, 4, 2, 3, 5))  # detections, layers, heads, t, h, w.
  attention = figures.select_attention(weights, person=1, layer=-1)
  assert attention.shape == (4, 2, 3, 5)
  np.testing.assert_array_equal(attention, weights[1, 1])
  np.testing.assert_allclose(attention.sum(axis=(1, 2, 3)), np.ones(4), atol=1e-12)
  masses = figures.time_step_masses(attention)
  assert masses.shape == (4, 2)
  np.testing.assert_allclose(masses.sum(axis=1), np.ones(4), atol=1e-12)
  with pytest.raises(IndexError, match="3 detections"):
    figures.select_attention(weights, person=3)
  with pytest.raises(IndexError, match="2 layers"):
    figures.select_attention(weights, person=0, layer=2)


def test_box_masses_count_the_cells_whose_centre_is_inside_each_box():
  attention = np.zeros([2, 2, 2, 4])  # heads, t, h, w.
  attention[0, 1, 0, 3] = 1.0  # Head 0: all on one top-right cell at step 1.
  attention[1] = 1.0 / 16  # Head 1: uniform.
  boxes = np.array(
    [
      [0.0, 0.5, 0.5, 1.0],  # Top-right quadrant: row 0, columns 2 and 3.
      [0.5, 0.0, 1.0, 0.5],  # Bottom-left quadrant.
      [0.0, 0.0, 0.2, 0.1],  # Holds no cell centre (the first is at y 0.25, x 0.125).
      [
        0.25,
        0.125,
        0.75,
        0.375,
      ],  # Centres on its edges count: cells (0, 0), (0, 1), (1, 0), (1, 1).
    ]
  )
  masses, shares = figures.box_masses(attention, boxes)
  np.testing.assert_allclose(masses, [[1, 0, 0, 0], [0.25, 0.25, 0, 0.5]], atol=1e-12)
  np.testing.assert_allclose(shares, [0.25, 0.25, 0, 0.5], atol=1e-12)


def test_centre_frames_of_feature_time_steps():
  assert figures.centre_frames(16, 4).tolist() == [2, 6, 10, 14]
  assert figures.centre_frames(64, 16).tolist()[:3] == [2, 6, 10]
  assert figures.centre_frames(8, 8).tolist() == list(range(8))


def test_overlays_and_key_images_have_the_frame_size():
  attention = _softmax_maps((2, 3, 4))
  frames = np.zeros([2, 33, 44, 3], np.uint8)  # 11 pixels per feature cell.
  overlays = figures.attention_overlays(attention, frames, alpha=1.0)
  assert overlays.shape == (2, 33, 44, 3) and overlays.dtype == np.uint8
  # The most attended cell is the brightest: at alpha 1 the colour map's top, (252, 255, 164).
  step, row, col = np.unravel_index(attention.argmax(), attention.shape)
  centre = overlays[step, 11 * row + 5, 11 * col + 5]  # Pixel centre = the cell's centre.
  np.testing.assert_array_equal(centre, [252, 255, 164])
  keys = figures.key_images(np.random.default_rng(1).normal(size=[2, 3, 4, 6]), 30, 40)
  assert keys.shape == (2, 30, 40, 3) and keys.dtype == np.uint8
  assert (keys[0, :10, :10] == keys[0, 0, 0]).all()  # One colour block per feature position.


def test_pca_colors_follow_the_main_direction_of_the_keys():
  rng = np.random.default_rng(2)
  direction = np.array([3.0, -1.0, 0.5, 0.0])
  amount = rng.uniform(-1, 1, size=[2, 2, 3])
  keys = amount[..., None] * direction + 1e-3 * rng.normal(size=[2, 2, 3, 4])
  colours = figures.pca_colors(keys)
  assert colours.shape == (2, 2, 3, 3)
  assert colours.min() >= 0.0 and colours.max() <= 1.0
  # The first component (red) orders positions as their coefficient on the main direction.
  np.testing.assert_allclose(colours[..., 0], (amount - amount.min()) / np.ptp(amount), atol=1e-2)


def test_colormap_ends_and_grid_size():
  np.testing.assert_array_equal(
    figures.colormap(np.array([0.0, 1.0])), [[0, 0, 4], [252, 255, 164]]
  )
  rows = [np.zeros([3, 20, 30, 3], np.uint8)] * 2
  grid = figures.image_grid(rows, ["a", "b"], gap=4, label_width=50)
  assert grid.shape == (2 * 24 + 4, 50 + 3 * 34 + 4, 3)


def test_page_for_a_fake_model(tmp_path):
  video = tmp_path / "people.mp4"
  video_fixtures.write_video(video, video_fixtures.signature_frames(60))
  detector = fakes.FakeAttentionDetector()
  result = attention_page.visualize(
    detector, str(video), str(tmp_path / "out"), timestamp=1, person=1, layer=0
  )
  out = tmp_path / "out"
  assert result.layer == 0 and result.person == 1 and result.person_score == pytest.approx(0.3)
  np.testing.assert_allclose(result.masses.sum(axis=1), [1.0, 1.0], atol=1e-5)
  # Rows: frames, then attention and keys for each of 2 heads; 2 time steps of 160x213 frames.
  figure = Image.open(out / "figure.png")
  assert figure.size == (96 + 2 * (213 + 4) + 4, 5 * (160 + 4) + 4)
  assert Image.open(out / "attention_head1.png").size == (2 * 213, 160)
  assert Image.open(out / "keys_head0.png").size == (2 * 213, 160)
  assert len(list((out / "frames").glob("frame_*.png"))) == 8
  page = (out / "index.html").read_text()
  assert 'src="figure.png"' in page and 'src="frames/frame_07.png"' in page
  # The query (person 1, score 0.3) and the one other detection scored as a person (0, 0.9).
  # Cell centres of the 3x4 map: y 1/6, 1/2, 5/6; x 1/8, 3/8, 5/8, 7/8. Person 1's box
  # [0.3, 0.4, 0.9, 0.8] holds cells (1, 2) and (2, 2); person 0's [0.1, 0.2, 0.6, 0.5] holds
  # (0, 1) and (1, 1).
  people = result.people
  assert people.detections.tolist() == [1, 0]
  np.testing.assert_allclose(people.area_shares, [2 / 12, 2 / 12])
  outputs = detector(np.zeros([1, 8, 4, 4, 3], np.uint8))
  maps = outputs["detection_attention_weights"][0, 1, 0].astype(np.float64)  # [heads, t, h, w].
  own = maps[:, :, 1, 2].sum(axis=1) + maps[:, :, 2, 2].sum(axis=1)
  other = maps[:, :, 0, 1].sum(axis=1) + maps[:, :, 1, 1].sum(axis=1)
  np.testing.assert_allclose(people.masses, np.stack([own, other], axis=1), atol=1e-6)
  assert people.summary().splitlines()[1] == (
    "head 1: own box %.2f (area 0.17); person 0 %.2f (area 0.17)" % (own[1], other[1])
  )
  assert "Attention on each person's box" in page and "person 1 (query)" in page
  with pytest.raises(errors.InputError, match="--person 2: the keyframe has 2 detections"):
    attention_page.visualize(detector, str(video), str(tmp_path / "out2"), timestamp=1, person=2)
  with pytest.raises(errors.InputError, match="--layer 2: the model has 2 layers"):
    attention_page.visualize(detector, str(video), str(tmp_path / "out2"), timestamp=1, layer=2)
  with pytest.raises(errors.InputError, match="exported without --export_attention"):
    attention_page.visualize(fakes.FakeDetector(), str(video), str(tmp_path / "out2"))
