"""Region proposal network on the temporally central slice of the trunk feature map.

Built from official.vision's Faster R-CNN parts: `ops.anchor.Anchor` (anchor grid),
`dense_prediction_heads.RPNHead` (3x3 conv + batch norm + ReLU, then 1x1 objectness and box
convs), `roi_generator.MultilevelROIGenerator` (decode, clip, pre-NMS top-k, NMS, top R) and
`ops.anchor.RpnAnchorLabeler` (IoU matching and balanced sampling of anchors for the loss).
There is one feature level and one object class: a person.

Coordinates: official.vision builds anchors in pixels of an image of size
feature_size * anchor_stride; they are divided by that size here, so everything leaving this
module is normalized. The proposal generator then clips to the unit square. The RPN box coder
is unscaled (official.vision's RPN convention); the second stage uses (10, 10, 5, 5).
"""

import math
from typing import NamedTuple, Sequence

# tf_setup first: it selects Keras 2 before official.vision imports TensorFlow.
from ava_tx.core.tf_setup import tf, keras  # isort: skip

from official.vision.modeling.heads import dense_prediction_heads
from official.vision.modeling.layers import roi_generator
from official.vision.ops import anchor as anchor_ops

from ava_tx.core import box_utils


class RpnOutputs(NamedTuple):
  """What `RegionProposalNetwork.call` returns.

  Attributes:
    objectness_logits: float32 [batch_size, height, width, num_anchors_per_location].
    box_encodings: float32 [batch_size, height, width, num_anchors_per_location * 4].
    anchor_boxes: float32 [height * width * num_anchors_per_location, 4], normalized; row order
      matches the flattened (height, width, anchor) order of the two outputs above.
    proposal_boxes: float32 [batch_size, num_proposals, 4], normalized, sorted by score, no
      gradient (Faster R-CNN's approximate joint training).
    proposal_scores: float32 [batch_size, num_proposals], sigmoid objectness.
    proposal_mask: bool [batch_size, num_proposals], False for padding (fewer boxes survive NMS).
  """

  objectness_logits: tf.Tensor
  box_encodings: tf.Tensor
  anchor_boxes: tf.Tensor
  proposal_boxes: tf.Tensor
  proposal_scores: tf.Tensor
  proposal_mask: tf.Tensor


def generate_anchors(
  *,
  feature_height: int,
  feature_width: int,
  stride: int,
  base_size: float,
  scales: Sequence[float],
  aspect_ratios: Sequence[float],
) -> tf.Tensor:
  """Normalized anchor grid over a feature map (official.vision `Anchor`, one level).

  Anchor (i, j, s, a) is centred on cell (i, j) at ((i + 0.5) * stride, (j + 0.5) * stride) pixels,
  has area (base_size * scales[s])^2 pixels and width / height = aspect_ratios[a].

  Args:
    feature_height, feature_width: size of the feature map.
    stride: pixels per feature cell, a power of two (16 for I3D's Mixed_4f).
    base_size: anchor side in pixels at scale 1.
    scales: anchor scales relative to base_size.
    aspect_ratios: width / height ratios.

  Returns:
    float32 [feature_height, feature_width, len(scales) * len(aspect_ratios) * 4], boxes divided
    by (feature_height * stride, feature_width * stride).
  """
  level = int(round(math.log2(stride)))
  if stride < 1 or 2**level != stride:
    raise ValueError(f"anchor stride must be a power of two, got {stride}.")
  image_size = [feature_height * stride, feature_width * stride]
  grids = []
  for scale in scales:
    grid = anchor_ops.Anchor(
      min_level=level,
      max_level=level,
      num_scales=1,
      aspect_ratios=list(aspect_ratios),
      anchor_size=base_size * scale / stride,
      image_size=image_size,
    )
    grids.append(grid.multilevel_boxes[str(level)])
  boxes = tf.concat(grids, axis=-1)
  scale = tf.constant(image_size * 2, tf.float32)
  shape = [feature_height, feature_width, -1, 4]
  return tf.reshape(tf.reshape(boxes, shape) / scale, [feature_height, feature_width, -1])


def _anchor_level(anchor_stride: int) -> int:
  """log2(anchor_stride), the feature level official.vision's ops are keyed by."""
  level = int(round(math.log2(anchor_stride))) if anchor_stride >= 1 else -1
  if level < 0 or 2**level != anchor_stride:
    raise ValueError(
      f"RegionProposalNetwork: anchor_stride must be a power of two, got {anchor_stride}."
    )
  return level


_floats = lambda values: tuple(float(v) for v in values)
# The constructor's arguments as stored in the layer's config, and their types.
_CONFIG_TYPES = dict(
  anchor_stride=int,
  anchor_base_size=float,
  anchor_scales=_floats,
  anchor_aspect_ratios=_floats,
  num_convs=int,
  num_filters=int,
  train_pre_nms_top_k=int,
  train_num_proposals=int,
  test_pre_nms_top_k=int,
  test_num_proposals=int,
  nms_iou_threshold=float,
  positive_iou_threshold=float,
  negative_iou_threshold=float,
  batch_size_per_image=int,
  positive_fraction=float,
)
_COUNTS = (
  "train_num_proposals",
  "test_num_proposals",
  "train_pre_nms_top_k",
  "test_pre_nms_top_k",
  "batch_size_per_image",
)


def _check_arguments(arguments) -> int:
  """The anchor level (log2 of anchor_stride); ValueError unless the stride is a power of two,
  the anchor scales and ratios are non-empty and every count (proposals, top-k, samples) >= 1."""
  level = _anchor_level(arguments["anchor_stride"])
  if not arguments["anchor_scales"] or not arguments["anchor_aspect_ratios"]:
    raise ValueError(
      "RegionProposalNetwork: anchor_scales and anchor_aspect_ratios must be non-empty."
    )
  for name in _COUNTS:
    if arguments[name] < 1:
      raise ValueError(f"RegionProposalNetwork: {name} must be >= 1, got {arguments[name]}.")
  return level


class RegionProposalNetwork(keras.layers.Layer):
  """Class-agnostic RPN with proposal generation and anchor labelling for its loss.

  Call: `outputs = rpn(features, training=...)` with features float32
  [batch_size, height, width, channels] (the trunk map at the central time step), returning an
  `RpnOutputs`. `training` selects the train or test pre/post-NMS counts.

  Args (keyword-only):
    anchor_stride: pixels per trunk cell (16 for Mixed_4f), a power of two.
    anchor_base_size: anchor side in pixels at scale 1.
    anchor_scales: scales of anchor_base_size (TF OD API Faster R-CNN defaults).
    anchor_aspect_ratios: width / height of the anchors.
    num_convs: 3x3 convs (with batch norm) before the predictors.
    num_filters: channels of those convs.
    train_pre_nms_top_k, test_pre_nms_top_k: boxes kept by score before NMS.
    train_num_proposals, test_num_proposals: R, proposals kept after NMS (paper: 300; 64 in
      the ablations).
    nms_iou_threshold: NMS IoU threshold of the proposals.
    positive_iou_threshold: anchors with IoU >= this with a person box are positives (the
      best anchor of each box is positive too).
    negative_iou_threshold: anchors with best IoU < this are negatives.
    batch_size_per_image: anchors sampled per clip for the objectness loss.
    positive_fraction: at most this fraction of them positive.
    **kwargs: keras.layers.Layer arguments.
  """

  def __init__(
    self,
    *,
    anchor_stride: int = 16,
    anchor_base_size: float = 256.0,
    anchor_scales: Sequence[float] = (0.25, 0.5, 1.0, 2.0),
    anchor_aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0),
    num_convs: int = 1,
    num_filters: int = 512,
    train_pre_nms_top_k: int = 6000,
    train_num_proposals: int = 300,
    test_pre_nms_top_k: int = 6000,
    test_num_proposals: int = 300,
    nms_iou_threshold: float = 0.7,
    positive_iou_threshold: float = 0.7,
    negative_iou_threshold: float = 0.3,
    batch_size_per_image: int = 256,
    positive_fraction: float = 0.5,
    **kwargs,
  ):
    """Creates the RPN (arguments: see the class docstring)."""
    kwargs.setdefault("name", "rpn")
    super().__init__(**kwargs)
    arguments = dict(
      anchor_stride=anchor_stride,
      anchor_base_size=anchor_base_size,
      anchor_scales=anchor_scales,
      anchor_aspect_ratios=anchor_aspect_ratios,
      num_convs=num_convs,
      num_filters=num_filters,
      train_pre_nms_top_k=train_pre_nms_top_k,
      train_num_proposals=train_num_proposals,
      test_pre_nms_top_k=test_pre_nms_top_k,
      test_num_proposals=test_num_proposals,
      nms_iou_threshold=nms_iou_threshold,
      positive_iou_threshold=positive_iou_threshold,
      negative_iou_threshold=negative_iou_threshold,
      batch_size_per_image=batch_size_per_image,
      positive_fraction=positive_fraction,
    )
    level = _check_arguments(arguments)
    self._config = {name: _CONFIG_TYPES[name](value) for name, value in arguments.items()}
    self._level = str(level)
    self._build_sublayers(level)

  def _build_sublayers(self, level: int) -> None:
    """official.vision's RPN head, proposal generator and anchor labeler, from self._config."""
    c = self._config
    self._head = dense_prediction_heads.RPNHead(
      min_level=level,
      max_level=level,
      num_anchors_per_location=self.num_anchors_per_location,
      num_convs=c["num_convs"],
      num_filters=c["num_filters"],
      name="rpn_head",
    )
    self._proposal_generator = roi_generator.MultilevelROIGenerator(
      pre_nms_top_k=c["train_pre_nms_top_k"],
      nms_iou_threshold=c["nms_iou_threshold"],
      num_proposals=c["train_num_proposals"],
      test_pre_nms_top_k=c["test_pre_nms_top_k"],
      test_nms_iou_threshold=c["nms_iou_threshold"],
      test_num_proposals=c["test_num_proposals"],
      name="proposal_generator",
    )
    self._labeler = anchor_ops.RpnAnchorLabeler(
      match_threshold=c["positive_iou_threshold"],
      unmatched_threshold=c["negative_iou_threshold"],
      rpn_batch_size_per_im=c["batch_size_per_image"],
      rpn_fg_fraction=c["positive_fraction"],
    )

  @property
  def num_anchors_per_location(self) -> int:
    return len(self._config["anchor_scales"]) * len(self._config["anchor_aspect_ratios"])

  @property
  def batch_size_per_image(self) -> int:
    return self._config["batch_size_per_image"]

  def num_proposals(self, training: bool) -> int:
    """R: proposals returned per clip in training or test mode."""
    return self._config["train_num_proposals" if training else "test_num_proposals"]

  def anchors(self, feature_height: int, feature_width: int) -> tf.Tensor:
    """float32 [feature_height, feature_width, num_anchors_per_location * 4], normalized."""
    c = self._config
    return generate_anchors(
      feature_height=feature_height,
      feature_width=feature_width,
      stride=c["anchor_stride"],
      base_size=c["anchor_base_size"],
      scales=c["anchor_scales"],
      aspect_ratios=c["anchor_aspect_ratios"],
    )

  def call(self, features, training=None) -> RpnOutputs:
    if features.shape.rank != 4:
      raise ValueError(
        "RegionProposalNetwork expects features [batch_size, height, width, "
        f"channels] (the central time step), got shape {features.shape}."
      )
    height, width = features.shape[1], features.shape[2]
    if height is None or width is None:
      raise ValueError(
        "RegionProposalNetwork needs a static feature height and width to build "
        f"anchors, got shape {features.shape}."
      )
    training = bool(training)
    anchors = self.anchors(height, width)
    scores, boxes = self._head({self._level: features}, training=training)
    # float32 outputs under mixed precision: box decoding and NMS need the precision.
    scores = tf.cast(scores[self._level], tf.float32)
    boxes = tf.cast(boxes[self._level], tf.float32)
    batch_size = tf.shape(features)[0]
    proposals, proposal_scores = self._proposal_generator(
      {self._level: tf.stop_gradient(boxes)},
      {self._level: tf.stop_gradient(scores)},
      {self._level: tf.reshape(anchors, [1, -1, 4])},
      tf.ones([batch_size, 2], tf.float32),
      training=training,
    )
    return RpnOutputs(
      objectness_logits=scores,
      box_encodings=boxes,
      anchor_boxes=tf.reshape(anchors, [-1, 4]),
      proposal_boxes=tf.stop_gradient(proposals),
      proposal_scores=tf.stop_gradient(proposal_scores),
      proposal_mask=box_utils.is_valid_box(proposals),
    )

  def label_anchors(
    self,
    anchor_boxes: tf.Tensor,
    objectness_logits: tf.Tensor,
    groundtruth_boxes: tf.Tensor,
    num_groundtruth_boxes: tf.Tensor,
  ):
    """Objectness and box targets of every anchor, per clip (official `RpnAnchorLabeler`).

    Args:
      anchor_boxes: float32 [height * width * num_anchors_per_location, 4], normalized.
      objectness_logits: float32 [batch_size, height, width, num_anchors_per_location] (for the
        target shape only).
      groundtruth_boxes: float32 [batch_size, max_num_boxes, 4], normalized, zero-padded.
      num_groundtruth_boxes: int32 [batch_size].

    Returns:
      score_targets: int32 [batch_size, height, width, num_anchors_per_location]: 1 positive,
        0 negative, -1 not sampled. A clip without boxes gets only negatives.
      box_targets: float32 [batch_size, height, width, num_anchors_per_location * 4], unscaled
        Faster R-CNN encodings, 0 except at positive anchors.
    """
    _, height, width, num_anchors = objectness_logits.shape.as_list()
    anchors = {self._level: tf.reshape(anchor_boxes, [height, width, num_anchors * 4])}

    def label_one(args):
      boxes, count = args
      boxes = boxes[:count]
      labels = tf.ones([count, 1], tf.int32)
      score_targets, box_targets = self._labeler.label_anchors(anchors, boxes, labels)
      return score_targets[self._level], box_targets[self._level]

    elems = (tf.cast(groundtruth_boxes, tf.float32), tf.cast(num_groundtruth_boxes, tf.int32))
    return tf.map_fn(
      label_one,
      elems,
      fn_output_signature=(
        tf.TensorSpec([height, width, num_anchors], tf.int32),
        tf.TensorSpec([height, width, num_anchors * 4], tf.float32),
      ),
    )

  def get_config(self):
    config = super().get_config()
    config.update(self._config)
    return config
