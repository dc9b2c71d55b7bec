"""Tests of ava_tx.data.parser: sampling, box transforms, targets, augmentation."""

import io

import numpy as np
from PIL import Image
import pytest

from ava_tx.core import standard_fields
from ava_tx.core.tf_setup import tf
from ava_tx.data import parser as parser_lib

D = standard_fields.DecodedFields
F = standard_fields.InputFields


def test_temporal_sample_indices_repeat_edges():
  sample = lambda k, n, t, s: (
    parser_lib.temporal_sample_indices(tf.constant(k), tf.constant(n), num_frames=t, frame_stride=s)
    .numpy()
    .tolist()
  )
  assert sample(1, 4, 4, 2) == [0, 0, 1, 3]
  assert sample(5, 10, 4, 1) == [3, 4, 5, 6]
  assert sample(8, 10, 5, 3) == [2, 5, 8, 9, 9]


def test_flip_boxes_exact():
  boxes = tf.constant([[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 1.0, 0.25]])
  np.testing.assert_allclose(
    parser_lib.flip_boxes_left_right(boxes).numpy(),
    [[0.1, 0.4, 0.5, 0.8], [0.0, 0.75, 1.0, 1.0]],
    atol=1e-7,
  )


def test_crop_boxes_transforms_clips_and_drops():
  boxes = tf.constant(
    [
      [0.5, 0.5, 0.7, 0.7],  # inside
      [0.1, 0.1, 0.3, 0.3],  # left of and above the crop: dropped
      [0.3, 0.3, 0.6, 0.6],  # 1/9 visible: dropped at 0.25
      [0.4, 0.4, 0.9, 1.0],
    ]
  )  # partly outside: clipped, kept
  crop = tf.constant([0.4, 0.5, 0.8, 1.0])
  out, keep = parser_lib.crop_boxes(boxes, crop, min_visible_fraction=0.25)
  np.testing.assert_allclose(
    out.numpy()[[0, 3]], [[0.25, 0.0, 0.75, 0.4], [0.0, 0.0, 1.0, 1.0]], atol=1e-6
  )
  assert keep.numpy().tolist() == [True, False, False, True]


def test_multi_hot_classes():
  # Label map {1, 12, 80} -> indices 0, 1, 2; id 17 is outside the map.
  table = tf.constant([-1, 0] + [-1] * 10 + [1] + [-1] * 67 + [2], tf.int32)
  classes = parser_lib.multi_hot_classes(
    tf.constant([12, 17, 80, 17, 1, 12, 1]), tf.constant([3, 1, 3]), table, 3
  )
  np.testing.assert_array_equal(classes.numpy(), [[0, 1, 1], [0, 0, 0], [1, 1, 0]])


def test_pad_or_truncate():
  x = tf.constant([[1, 2], [3, 4], [5, 6]])
  assert parser_lib.pad_or_truncate(x, 4, -1).numpy().tolist() == [[1, 2], [3, 4], [5, 6], [-1, -1]]
  assert parser_lib.pad_or_truncate(x, 2).numpy().tolist() == [[1, 2], [3, 4]]


def _png(array):
  buffer = io.BytesIO()
  Image.fromarray(array).save(buffer, format="PNG")
  return buffer.getvalue()


def _decoded(frames, keyframe_index, boxes, ids, counts):
  return {
    D.encoded_frames: tf.constant([_png(f) for f in frames]),
    D.keyframe_index: tf.constant(keyframe_index),
    D.groundtruth_boxes: tf.constant(boxes, tf.float32),
    D.groundtruth_action_ids: tf.constant(ids, tf.int32),
    D.groundtruth_action_counts: tf.constant(counts, tf.int32),
    D.groundtruth_person_ids: tf.constant(list(range(len(counts))), tf.int32),
    D.proposal_boxes: tf.constant([[0.0, 0.0, 0.5, 0.25], [0.1, 0.1, 0.2, 0.2]]),
    D.proposal_scores: tf.constant([0.9, 0.2]),
    D.source_id: tf.constant("v,0001"),
    D.video_id: tf.constant("v"),
    D.timestamp: tf.constant(1),
    D.frame_rate: tf.constant(30.0),
    D.original_image_spatial_shape: tf.constant(frames[0].shape[:2], tf.int32),
  }


def _frames(n=5, h=8, w=12):
  rng = np.random.default_rng(3)
  return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def test_eval_parse_exact_frames_boxes_and_padding():
  frames = _frames()
  parser = parser_lib.AvaParser(
    num_frames=4,
    frame_stride=2,
    output_size=(8, 12),
    label_map_ids=[80, 12, 1],
    max_num_boxes=3,
    max_num_proposals=2,
    proposal_min_score=0.5,
  )
  decoded = _decoded(frames, 1, [[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 1.0, 1.0]], [12, 80, 17], [2, 1])
  out = parser(decoded, is_training=False)
  # Frames [0, 0, 1, 3] (edge repeated), already the output size: the stored uint8, bit-exact.
  assert out[F.frames].dtype == tf.uint8
  np.testing.assert_array_equal(out[F.frames].numpy(), np.stack([frames[i] for i in (0, 0, 1, 3)]))
  assert out[F.keyframe_index].numpy() == 2
  # Box 2 has only label 17, outside the map: dropped.
  assert out[F.num_groundtruth_boxes].numpy() == 1
  np.testing.assert_allclose(
    out[F.groundtruth_boxes].numpy(), [[0.1, 0.2, 0.5, 0.6], [0, 0, 0, 0], [0, 0, 0, 0]], atol=1e-7
  )
  np.testing.assert_array_equal(
    out[F.groundtruth_classes].numpy(), [[0, 1, 1], [0, 0, 0], [0, 0, 0]]
  )
  assert out[F.groundtruth_person_ids].numpy().tolist() == [0, -1, -1]
  assert out[F.num_truncated_groundtruth_boxes].numpy() == 0
  assert out[F.num_proposal_boxes].numpy() == 1
  np.testing.assert_allclose(out[F.proposal_scores].numpy(), [0.9, 0.0])


def test_training_flip_is_exact():
  frames = _frames()
  parser = parser_lib.AvaParser(
    num_frames=1,
    output_size=(8, 12),
    label_map_ids=[12],
    random_crop=False,
    random_flip=True,
    max_num_proposals=2,
  )
  decoded = _decoded(frames, 2, [[0.1, 0.2, 0.5, 0.6]], [12], [1])
  flipped = 0
  for s in range(8):
    out = parser(decoded, is_training=True, seed=tf.constant([7, s], tf.int64))
    image = out[F.frames].numpy()[0]
    box = out[F.groundtruth_boxes].numpy()[0]
    if np.array_equal(image, frames[2][:, ::-1]):
      flipped += 1
      np.testing.assert_allclose(box, [0.1, 0.4, 0.5, 0.8], atol=1e-6)
      assert [0.0, 0.75, 0.5, 1.0] in np.round(out[F.proposal_boxes].numpy(), 6).tolist()
    else:
      np.testing.assert_array_equal(image, frames[2])
      np.testing.assert_allclose(box, [0.1, 0.2, 0.5, 0.6], atol=1e-6)
  assert 0 < flipped < 8
  again = parser(decoded, is_training=True, seed=tf.constant([7, 3], tf.int64))
  first = parser(decoded, is_training=True, seed=tf.constant([7, 3], tf.int64))
  np.testing.assert_array_equal(again[F.frames].numpy(), first[F.frames].numpy())


def test_training_crop_path_flips_frames_with_their_boxes():
  # A crop of the whole frame at the stored size: the crop path (resize_crops_opencv, which
  # mirrors while it resizes) must give exactly the stored frames, mirrored with the boxes.
  frames = _frames()
  parser = parser_lib.AvaParser(
    num_frames=3,
    frame_stride=2,
    output_size=(8, 12),
    label_map_ids=[12],
    random_crop=True,
    min_crop_fraction=1.0,
    random_flip=True,
  )
  decoded = _decoded(frames, 1, [[0.1, 0.2, 0.5, 0.6]], [12], [1])
  expected = np.stack([frames[0], frames[1], frames[3]])  # Keyframe 1: indices 0 (edge), 1, 3.
  flipped = 0
  for s in range(8):
    out = parser(decoded, is_training=True, seed=tf.constant([5, s], tf.int64))
    box = out[F.groundtruth_boxes].numpy()[0]
    if np.array_equal(out[F.frames].numpy(), expected[:, :, ::-1]):
      flipped += 1
      np.testing.assert_allclose(box, [0.1, 0.4, 0.5, 0.8], atol=1e-6)
    else:
      np.testing.assert_array_equal(out[F.frames].numpy(), expected)
      np.testing.assert_allclose(box, [0.1, 0.2, 0.5, 0.6], atol=1e-6)
  assert 0 < flipped < 8


def test_training_crop_transforms_and_drops_boxes():
  frames = [np.zeros((100, 100, 3), np.uint8)]
  parser = parser_lib.AvaParser(
    num_frames=1,
    output_size=(20, 20),
    label_map_ids=[1, 2],
    random_flip=False,
    random_crop=True,
    min_crop_fraction=0.5,
    min_box_visible_fraction=0.25,
  )
  boxes = [[0.0, 0.0, 0.1, 0.1], [0.9, 0.9, 1.0, 1.0], [0.25, 0.25, 0.75, 0.75]]
  decoded = _decoded(frames, 0, boxes, [1, 2, 1], [1, 1, 1])
  dropped_any = False
  for s in range(10):
    seed = tf.constant([1, s], tf.int64)
    (y0, x0, ch, cw), crop = parser._sample_crop(
      100, 100, tf.random.experimental.stateless_split(seed, 3)[0]
    )
    out = parser(decoded, is_training=True, seed=seed)
    assert out[F.frames].shape == (1, 20, 20, 3)
    expected, keep = parser_lib.crop_boxes(tf.constant(boxes), crop, min_visible_fraction=0.25)
    keep = keep.numpy()
    n = int(out[F.num_groundtruth_boxes].numpy())
    assert n == keep.sum()
    np.testing.assert_allclose(
      out[F.groundtruth_boxes].numpy()[:n], expected.numpy()[keep], atol=1e-6
    )
    # The centre box always survives; its exact crop coordinates, clipped.
    y0, x0, ch, cw = (int(v) for v in (y0, x0, ch, cw))
    centre = [(25 - y0) / ch, (25 - x0) / cw, (75 - y0) / ch, (75 - x0) / cw]
    np.testing.assert_allclose(
      out[F.groundtruth_boxes].numpy()[n - 1], np.clip(centre, 0, 1), atol=1e-6
    )
    assert out[F.groundtruth_classes].numpy()[n - 1].tolist() == [1.0, 0.0]
    dropped_any |= n < 3
  assert dropped_any


def test_parser_argument_errors():
  with pytest.raises(ValueError, match="label_map_ids"):
    parser_lib.AvaParser(num_frames=1, label_map_ids=[0, 1])
  parser = parser_lib.AvaParser(num_frames=1, label_map_ids=[1])
  with pytest.raises(ValueError, match="seed"):
    parser(_decoded(_frames(1), 0, [[0, 0, 1, 1]], [1], [1]), is_training=True)


def test_jpeg_crop_decodes_only_the_window():
  rng = np.random.default_rng(0)
  frame = np.kron(rng.integers(0, 256, (10, 10, 3)), np.ones((6, 6, 1))).astype(np.uint8)
  buffer = io.BytesIO()
  Image.fromarray(frame).save(buffer, format="JPEG", quality=95)
  data = buffer.getvalue()
  parser = parser_lib.AvaParser(num_frames=2, output_size=(30, 40), label_map_ids=[1])
  window = tf.constant([7, 13, 30, 40])
  cropped = parser._decode_frames(tf.constant([data]), tf.constant(0), window).numpy()
  full = tf.io.decode_jpeg(data, channels=3).numpy()[7:37, 13:53]
  assert cropped.shape == (2, 30, 40, 3)
  np.testing.assert_array_equal(cropped[0], cropped[1])
  np.testing.assert_array_equal(cropped[0], full)  # Same pixels as decode-then-slice.


def test_truncation_is_counted():
  parser = parser_lib.AvaParser(
    num_frames=1, output_size=(8, 12), label_map_ids=[12], max_num_boxes=1
  )
  decoded = _decoded(
    _frames(1), 0, [[0, 0, 0.5, 0.5], [0.5, 0.5, 1, 1], [0, 0, 1, 1]], [12, 12, 12], [1, 1, 1]
  )
  out = parser(decoded, is_training=False)
  assert out[F.num_groundtruth_boxes].numpy() == 1
  assert out[F.num_truncated_groundtruth_boxes].numpy() == 2
  np.testing.assert_allclose(out[F.groundtruth_boxes].numpy(), [[0, 0, 0.5, 0.5]])


def test_resize_frames_is_the_rounded_float_bilinear_resize():
  frame = _frames(1, h=9, w=13)[0]
  resized = parser_lib.resize_frames(tf.constant(frame), (5, 7))
  assert resized.dtype == tf.uint8 and resized.shape == (5, 7, 3)
  reference = tf.image.resize(frame.astype(np.float32), (5, 7), method="bilinear").numpy()
  np.testing.assert_array_equal(resized.numpy(), np.round(reference).astype(np.uint8))
  assert 0 < np.abs(resized.numpy() - reference).max() <= 0.5  # Rounding happened.


def test_resize_frames_batched_equals_each_frame_alone():
  frames = np.random.default_rng(3).integers(0, 256, (4, 9, 13, 3), dtype=np.uint8)
  batched = parser_lib.resize_frames(tf.constant(frames), (5, 7))
  assert batched.dtype == tf.uint8 and batched.shape == (4, 5, 7, 3)
  alone = [parser_lib.resize_frames(tf.constant(f), (5, 7)).numpy() for f in frames]
  np.testing.assert_array_equal(batched.numpy(), np.stack(alone))
  assert len({a.tobytes() for a in alone}) == 4  # Distinct frames, so the order is checked.
  upsampled = parser_lib.resize_frames(tf.constant(frames[:2]), (11, 17))
  np.testing.assert_array_equal(
    upsampled.numpy()[1], parser_lib.resize_frames(tf.constant(frames[1]), (11, 17)).numpy()
  )


@pytest.mark.parametrize("size", [(5, 7), (12, 17), (400, 400)])
def test_opencv_crop_resize_is_within_a_grey_level_of_resize_frames(size):
  # Random frames (the worst case for rounding), downscaled, upscaled, and at the paper's size.
  frames = np.random.default_rng(5).integers(0, 256, (3, 9, 13, 3), dtype=np.uint8)
  if size == (400, 400):
    frames = np.random.default_rng(6).integers(0, 256, (2, 340, 300, 3), dtype=np.uint8)
  fast = tf.function(lambda x: parser_lib.resize_crops_opencv(x, size))(tf.constant(frames))
  assert fast.dtype == tf.uint8 and fast.shape == (len(frames), *size, 3)
  reference = parser_lib.resize_frames(tf.constant(frames), size).numpy().astype(int)
  difference = np.abs(fast.numpy().astype(int) - reference)
  assert difference.max() == 1  # Fixed-point weights: one grey level at most, and some.
  assert difference.mean() < 0.3


def test_opencv_crop_resize_passes_frames_of_that_size_mirrors_and_rejects_bad_input():
  frames = np.random.default_rng(4).integers(0, 256, (3, 9, 13, 3), dtype=np.uint8)
  np.testing.assert_array_equal(parser_lib.resize_crops_opencv(frames, (9, 13)), frames)
  np.testing.assert_array_equal(
    parser_lib.resize_crops_opencv(frames, (9, 13), tf.constant(True)), frames[:, :, ::-1]
  )
  resized = parser_lib.resize_crops_opencv(frames, (12, 17)).numpy()
  mirrored = parser_lib.resize_crops_opencv(frames, (12, 17), True).numpy()
  np.testing.assert_array_equal(mirrored, resized[:, :, ::-1])
  with pytest.raises(ValueError, match=r"resize_crops_opencv: expected uint8 \[n, h, w, 3\]"):
    parser_lib.resize_crops_opencv(frames[0], (5, 7))
  with pytest.raises(ValueError, match="float32"):
    parser_lib.resize_crops_opencv(frames.astype(np.float32), (5, 7))


def test_opencv_crop_resize_places_frames_at_positions_as_a_gather_would():
  frames = np.random.default_rng(7).integers(0, 256, (3, 9, 13, 3), dtype=np.uint8)
  positions = tf.constant([0, 0, 1, 2, 2, 2, 1], tf.int32)  # edge repeats, and out of order
  for mirror in (False, True):
    whole = parser_lib.resize_crops_opencv(frames, (12, 17), mirror)
    placed = tf.function(
      lambda x, m=mirror: parser_lib.resize_crops_opencv(x, (12, 17), m, positions)
    )(tf.constant(frames))
    assert placed.shape == (7, 12, 17, 3)
    np.testing.assert_array_equal(placed, tf.gather(whole, positions))
  with pytest.raises(ValueError, match=r"positions \[0 3\] outside \[0, 3\)"):
    parser_lib.resize_crops_opencv(frames, (12, 17), False, [0, 3])


def test_resize_frames_of_that_size_are_returned_bit_exact():
  frames = np.random.default_rng(4).integers(0, 256, (3, 9, 13, 3), dtype=np.uint8)
  np.testing.assert_array_equal(parser_lib.resize_frames(tf.constant(frames), (9, 13)), frames)
  np.testing.assert_array_equal(
    parser_lib.resize_frames(tf.constant(frames[0]), (9, 13)), frames[0]
  )
  traced = tf.function(
    lambda x: parser_lib.resize_frames(x, (9, 13)),
    input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)],
  )
  np.testing.assert_array_equal(traced(frames), frames)  # Size known only at run time.


def test_resize_frames_rejects_other_ranks():
  with pytest.raises(ValueError, match=r"\[h, w, 3\] or \[n, h, w, 3\]"):
    parser_lib.resize_frames(tf.zeros([9, 13], tf.uint8), (5, 7))


def test_eval_parse_resizes_each_frame_to_uint8():
  frames = _frames(3, h=9, w=13)
  parser = parser_lib.AvaParser(num_frames=2, output_size=(6, 8), label_map_ids=[12])
  out = parser(_decoded(frames, 1, [[0.1, 0.2, 0.5, 0.6]], [12], [1]), is_training=False)
  assert out[F.frames].dtype == tf.uint8 and out[F.frames].shape == (2, 6, 8, 3)
  for position, index in enumerate((0, 1)):
    reference = tf.image.resize(frames[index].astype(np.float32), (6, 8), method="bilinear")
    np.testing.assert_array_equal(
      out[F.frames].numpy()[position], np.round(reference.numpy()).astype(np.uint8)
    )
