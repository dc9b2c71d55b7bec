"""Known answers for the box pipeline end to end: anchor shapes, RPN target encoding against the
proposal generator's decoding, second-stage target encoding against post-processing's decoding,
and whether the tiny configs' anchors can match the synthetic people at all."""

from pathlib import Path

import numpy as np
import pytest

from ava_tx.builders import config_util
from ava_tx.builders import model_builder
from ava_tx.core import box_utils
from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf
from ava_tx.data.synthetic import labels as synth_labels
from ava_tx.data.synthetic import writer as synth_writer
from ava_tx.layers import rpn as rpn_lib
from ava_tx.layers import target_assigner
from ava_tx.meta_architectures import postprocessing

REPO = Path(__file__).resolve().parents[2]
TINY_CONFIGS = sorted((REPO / "configs").glob("tiny_*.config"))
# Two people-like boxes (tall and narrow) and a wide one, normalized, inside the image.
GROUNDTRUTH = np.array(
  [[0.20, 0.30, 0.90, 0.45], [0.05, 0.60, 0.55, 0.72], [0.60, 0.05, 0.80, 0.50]], np.float32
)


def _anchor_sides(anchors):
  """(heights, widths) of normalized anchors [..., 4] in a square image."""
  return anchors[..., 2] - anchors[..., 0], anchors[..., 3] - anchors[..., 1]


def test_aspect_ratio_is_width_over_height():
  anchors = rpn_lib.generate_anchors(
    feature_height=1,
    feature_width=1,
    stride=64,
    base_size=64.0,
    scales=(1.0,),
    aspect_ratios=(0.25, 1.0, 4.0),
  ).numpy()
  heights, widths = _anchor_sides(anchors.reshape(3, 4) * 64.0)
  # Area stays 64^2; ratio 0.25 is 128 px high and 32 px wide (tall), ratio 4 the transpose.
  np.testing.assert_allclose(heights, [128.0, 64.0, 32.0], rtol=1e-6)
  np.testing.assert_allclose(widths, [32.0, 64.0, 128.0], rtol=1e-6)


class _FixedHead(keras.layers.Layer):
  """Stands in for the RPN head: returns given objectness logits and box encodings."""

  def __init__(self, level, scores, boxes):
    super().__init__()
    self._outputs = ({level: scores}, {level: boxes})

  def call(self, features, training=None):
    del features, training
    return self._outputs


def test_rpn_targets_decode_back_to_the_groundtruth_through_the_proposal_generator():
  """RpnAnchorLabeler's encoding, fed back as the head's output, must come out of
  MultilevelROIGenerator (decode, clip, NMS) as the ground-truth boxes themselves."""
  rpn = rpn_lib.RegionProposalNetwork(
    anchor_stride=16,
    anchor_base_size=64.0,
    anchor_scales=(0.5, 1.0),
    anchor_aspect_ratios=(0.5, 1.0, 2.0),
    num_filters=4,
    train_num_proposals=8,
    test_num_proposals=8,
    batch_size_per_image=64,
  )
  features = tf.zeros([1, 7, 7, 4])
  out = rpn(features, training=False)
  gt = tf.constant(GROUNDTRUTH[None])
  score_targets, box_targets = rpn.label_anchors(
    out.anchor_boxes, out.objectness_logits, gt, tf.constant([3])
  )
  positive = score_targets.numpy() == 1
  assert positive.sum() >= 3  # at least the best anchor of each box
  logits = np.where(positive, 10.0, -10.0).astype(np.float32)
  rpn._head = _FixedHead(rpn._level, tf.constant(logits), box_targets)  # pylint: disable=protected-access
  proposals = rpn(features, training=False)
  valid = proposals.proposal_scores.numpy()[0] > 0.5
  # Every positive anchor decodes to its ground-truth box; NMS leaves one copy of each.
  assert valid.sum() == 3
  found = proposals.proposal_boxes.numpy()[0][valid]
  order = np.lexsort(found.T[::-1])
  np.testing.assert_allclose(found[order], GROUNDTRUTH[np.lexsort(GROUNDTRUTH.T[::-1])], atol=1e-5)


def test_second_stage_targets_decode_back_to_the_groundtruth_in_postprocessing():
  """assign_targets' (10, 10, 5, 5) encodings, given as the head's box output, must come out of
  postprocess_detections as the matched ground-truth boxes."""
  shift = np.array([0.03, -0.02, -0.04, 0.03], np.float32)
  proposals = tf.constant((GROUNDTRUTH + shift)[None])
  classes = tf.one_hot([[0, 1, 2]], 3)
  targets = target_assigner.assign_targets(
    proposals,
    tf.ones([1, 3]),
    tf.constant(GROUNDTRUTH[None]),
    classes,
    tf.constant([3]),
    config=target_assigner.ProposalSamplingConfig(),
    subsample=False,
  )
  assert targets.positive_mask.numpy().tolist() == [[1.0, 1.0, 1.0]]
  # Background logits -5, -4, -3: person scores in decreasing order, so detections keep it.
  logits = tf.constant([[[-5.0, 0, 0, 0], [-4.0, 0, 0, 0], [-3.0, 0, 0, 0]]])
  detections = postprocessing.postprocess_detections(
    proposal_boxes=proposals,
    proposal_mask=tf.ones([1, 3]),
    action_logits=logits,
    box_encodings=targets.box_targets,
    max_detections=3,
    score_threshold=0.0,
    nms_iou_threshold=0.5,
  )
  np.testing.assert_allclose(detections["detection_boxes"].numpy()[0], GROUNDTRUTH, atol=1e-5)
  # The other coder's weights would not: unscaled encodings decoded with (10, 10, 5, 5).
  unscaled = box_utils.encode(GROUNDTRUTH, proposals[0], None)
  wrong = box_utils.decode(unscaled, proposals[0]).numpy()
  assert np.abs(wrong - GROUNDTRUTH).max() > 0.01


def _synthetic_person_boxes(num_videos=4):
  """float64 [num_boxes, 4], the normalized ground-truth boxes of the first synthetic videos
  (the generator behind ../shared_ws/data/synthetic, default 160x120 frames)."""
  config = synth_writer.SynthConfig(seconds=20)
  boxes = []
  for index in range(num_videos):
    geometry = synth_labels.SceneGeometry(synth_writer.make_scene(config, index))
    for timestamp in config.keyframe_timestamps():
      frame = config.keyframe_frame_index(timestamp)
      boxes += [label.box for label in synth_labels.keyframe_labels(geometry, frame)]
  return np.array(boxes)


@pytest.fixture(scope="module")
def person_boxes():
  return _synthetic_person_boxes()


def _best_anchor_iou(boxes, anchors):
  """float [num_boxes]: each box's highest IoU with any anchor (both normalized [..., 4])."""
  iou = box_utils.pairwise_iou(tf.constant(boxes[None], tf.float32), tf.constant(anchors[None]))
  return tf.reduce_max(iou[0], axis=-1).numpy()


@pytest.mark.parametrize("path", TINY_CONFIGS, ids=[p.name for p in TINY_CONFIGS])
def test_tiny_config_anchors_fit_the_synthetic_people(path, person_boxes):
  """The people are tall (height / width 1.7-12, median 3.4) and 35-94 px high at 112x112:
  the anchors must be tall too, or the RPN has no positive anchor but the forced best match.
  With the former ratios [1, 2, 3] (wide anchors) 2% of the boxes had an anchor at IoU >= 0.5
  and none at 0.7; an anchor of each box's own shape at its nearest stride-16 cell centre
  reaches 0.5 for 65% (the grid's limit)."""
  config = config_util.load_pipeline_config(str(path)).model.action_transformer
  assert config.image_height == config.image_width == 112
  rpn = model_builder.build_rpn(config, anchor_stride=16)
  anchors = rpn.anchors(7, 7).numpy().reshape(7, 7, -1, 4)
  best = _best_anchor_iou(person_boxes, anchors.reshape(-1, 4))
  assert len(best) > 100
  assert np.mean(best >= 0.5) >= 0.55, f"IoU >= 0.5 for {np.mean(best >= 0.5):.3f} of the boxes"
  assert np.mean(best >= 0.3) >= 0.9, f"IoU >= 0.3 for {np.mean(best >= 0.3):.3f} of the boxes"
  heights, widths = _anchor_sides(anchors[3, 3])
  assert np.all(heights >= widths), "every anchor shape should be upright (width / height <= 1)"
