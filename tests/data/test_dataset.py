"""End to end: synthetic videos -> converter -> tf.data pipeline."""

import numpy as np
import pytest

from ava_tx.core import errors
from ava_tx.core import standard_fields
from ava_tx.data import ava_clips
from ava_tx.data import ava_conversion
from ava_tx.data import dataset as dataset_lib
from ava_tx.data import parser as parser_lib
from tests.data import video_fixtures

F = standard_fields.InputFields
GT = """\
a,0001,0.1,0.2,0.5,0.6,12,0
a,0001,0.1,0.2,0.5,0.6,80,0
a,0001,0.5,0.5,1.0,1.0,14,1
a,0002,0.1,0.2,0.5,0.6,12,0
b,0001,0.0,0.0,0.5,0.5,14,3
b,0002,0.0,0.0,0.5,0.5,1,3
"""


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
  root = tmp_path_factory.mktemp("pipe")
  (root / "videos").mkdir()
  frames = {
    "a": video_fixtures.noise_frames(75, 24, 32, seed=1),
    "b": video_fixtures.noise_frames(62, 24, 32, seed=2),
  }
  for name, video in frames.items():
    video_fixtures.write_video(
      root / "videos" / (name + ".avi"), video, codec="png", pix_fmt="rgb24"
    )
  (root / "gt.csv").write_text(GT)
  (root / "boxes.csv").write_text("a,0001,0.0,0.0,0.5,0.5,,0.8\n")
  summary = ava_conversion.convert(
    annotations_csv=str(root / "gt.csv"),
    video_dir=str(root / "videos"),
    output_prefix=str(root / "out" / "t"),
    num_shards=2,
    settings=ava_clips.ClipSettings(fps=30, clip_frames=16, segment_start=0, image_format="PNG"),
    person_boxes_csv=str(root / "boxes.csv"),
    log=lambda line: None,
  )
  assert summary["keyframes"] == 4
  return summary["file_pattern"], frames


def _parser(**kwargs):
  args = dict(
    num_frames=4,
    frame_stride=3,
    output_size=(24, 32),
    label_map_ids=[1, 12, 14, 80],
    max_num_boxes=3,
    max_num_proposals=2,
  )
  args.update(kwargs)
  return parser_lib.AvaParser(**args)


def test_eval_pipeline_frames_and_boxes(shards):
  pattern, frames = shards
  ds = dataset_lib.build_dataset(
    file_pattern=pattern, parser=_parser(), batch_size=2, is_training=False
  )
  batches = list(ds.as_numpy_iterator())
  assert [len(b[F.source_id]) for b in batches] == [2, 2]
  first = batches[0]
  assert first[F.frames].shape == (2, 4, 24, 32, 3) and first[F.frames].dtype == np.uint8
  assert first[F.groundtruth_classes].shape == (2, 3, 4)
  ids = [s.decode() for b in batches for s in b[F.source_id]]
  # Shard 0 holds video a, shard 1 video b; evaluation interleaves them in a fixed order.
  assert ids == ["a,0001", "b,0001", "a,0002", "b,0002"]
  # a,0001: keyframe at frame 30; stride 3, 4 frames, keyframe at position 2 -> 24, 27, 30, 33.
  expected = np.stack([frames["a"][i] for i in (24, 27, 30, 33)])
  np.testing.assert_array_equal(first[F.frames][0], expected)
  assert first[F.keyframe_index].tolist() == [2, 2]
  assert first[F.num_groundtruth_boxes].tolist() == [2, 1]
  np.testing.assert_allclose(
    first[F.groundtruth_boxes][0],
    [[0.2, 0.1, 0.6, 0.5], [0.5, 0.5, 1.0, 1.0], [0, 0, 0, 0]],
    atol=1e-7,
  )
  # Classes in label-map order [1, 12, 14, 80]: box 0 has 12 and 80, box 1 has 14.
  np.testing.assert_array_equal(
    first[F.groundtruth_classes][0], [[0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 0]]
  )
  assert first[F.groundtruth_person_ids][0].tolist() == [0, 1, -1]
  assert first[F.num_proposal_boxes].tolist() == [1, 0]
  np.testing.assert_allclose(first[F.proposal_scores][0], [0.8, 0.0])
  assert first[F.timestamp].tolist() == [1, 1]
  assert first[F.original_image_spatial_shape].tolist() == [[24, 32], [24, 32]]
  # b,0002 = frame 60 of 62 (0..61): 63 is clamped to the last frame -> [54, 57, 60, 61].
  last = batches[1]
  expected = np.stack([frames["b"][i] for i in (54, 57, 60, 61)])
  np.testing.assert_array_equal(last[F.frames][1], expected)


def test_training_pipeline_is_deterministic_with_a_seed(shards):
  pattern, _ = shards

  def take(seed, parallel):
    ds = dataset_lib.build_dataset(
      file_pattern=pattern,
      parser=_parser(output_size=(16, 16)),
      batch_size=2,
      is_training=True,
      seed=seed,
      num_parallel_calls=parallel,
      shuffle_buffer_size=4,
    )
    return [b for b, _ in zip(ds.as_numpy_iterator(), range(4))]

  one, other = take(5, 1), take(5, 3)
  assert one[0][F.frames].shape == (2, 4, 16, 16, 3)
  for x, y in zip(one, other):
    for key in x:
      np.testing.assert_array_equal(x[key], y[key], err_msg=key)
  different = take(6, 1)
  assert any(not np.array_equal(x[F.frames], y[F.frames]) for x, y in zip(one, different))
  # Augmented boxes stay normalized and padded rows stay zero.
  for batch in one:
    boxes, counts = batch[F.groundtruth_boxes], batch[F.num_groundtruth_boxes]
    assert (boxes >= 0).all() and (boxes <= 1).all()
    for row, n in zip(boxes, counts):
      assert not row[n:].any()


def test_no_matching_files():
  with pytest.raises(errors.InputError) as error:
    dataset_lib.build_dataset(
      file_pattern="/nonexistent/x-*", parser=_parser(), batch_size=1, is_training=False
    )
  assert str(error.value) == "input file pattern: /nonexistent/x-* matches no file"


def test_sharded_and_subsampled_pipelines(shards):
  pattern, _ = shards

  def ids(**kwargs):
    ds = dataset_lib.build_dataset(
      file_pattern=pattern, parser=_parser(), batch_size=1, is_training=False, **kwargs
    )
    return [b[F.source_id][0].decode() for b in ds.as_numpy_iterator()]

  # Two files, two pipelines: one file each.
  assert ids(num_shards=2, shard_index=0) == ["a,0001", "a,0002"]
  assert ids(num_shards=2, shard_index=1) == ["b,0001", "b,0002"]
  # Three pipelines > two files: every third example.
  assert ids(num_shards=3, shard_index=1) == ["b,0001"]
  assert ids(sample_1_of_n_examples=2) == ["a,0001", "a,0002"]
  with pytest.raises(ValueError, match="shard_index"):
    ids(num_shards=2, shard_index=2)
