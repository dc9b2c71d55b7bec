"""RoI pooling of person boxes from trunk feature maps (RoIAlign, then max pooling).

As in the paper (and the TF Object Detection API's Faster R-CNN), each box is cropped from the
feature map to `crop_size x crop_size` (14) bilinear samples and max-pooled 2x2 to 7x7. The
spatio-temporal version (the paper's ST-RoIPool) replicates the box over time into a tube and
pools every time step with the same box.

Sampling convention (RoIAlign, "aligned" as in detectron2 ROIAlign(aligned=True), one sample
per bin):
  * cell `k` of a map of height `H` covers the continuous interval [k, k + 1) and its value sits at
    its centre k + 0.5; a normalized coordinate y maps to the continuous coordinate y * H, so the
    box [0, 0, 1, 1] covers the whole map exactly;
  * bin `i` of `crop_size` bins is sampled at its centre, ymin * H + (i + 0.5) * (ymax - ymin) * H /
    crop_size, by bilinear interpolation between the two nearest cell centres;
  * samples between the outermost cell centres and the map edge (up to one cell outside the map)
    take the border value; samples more than one cell outside the map are 0 (detectron2's rule).

`tf.image.crop_and_resize` is corner-aligned (normalized y maps to y * (H - 1), first and last
samples on the box edges). `roi_align` converts the boxes so that crop_and_resize samples exactly
the bin centres above on a map padded by one replicated border cell, and so keeps its fast kernel
and its gradients. official.vision's `multilevel_crop_and_resize` samples at
`y_absolute + (i + 0.5) * h / crop_size` with cell values at integer coordinates (half a cell
off from the convention above), so it is not used.

Gradients flow to the features and also to the boxes (crop_and_resize has a box gradient);
callers that treat proposals as constants (Faster R-CNN practice) stop the gradient themselves.
"""

from ava_tx.core import shape_utils
from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf


def _check_boxes(boxes):
  shape_utils.check_rank("boxes", boxes, 3, "[batch_size, num_proposals, 4]")
  if boxes.shape[-1] is not None and boxes.shape[-1] != 4:
    raise ValueError(
      f"boxes must be [batch_size, num_proposals, 4] [ymin, xmin, ymax, xmax], "
      f"got shape {boxes.shape}."
    )


def roi_align(features, boxes, crop_size=14):
  """Bilinear RoIAlign of normalized boxes, one sample at the centre of each bin.

  Args:
    features: float32 [batch_size, height, width, channels].
    boxes: float32 [batch_size, num_proposals, 4], normalized [ymin, xmin, ymax, xmax].
    crop_size: int, number of bins along each side of the crop.

  Returns:
    [batch_size, num_proposals, crop_size, crop_size, channels], the dtype of `features`.
    Box coordinates are always computed in float32, and bfloat16 features are sampled in
    float32 (crop_and_resize has no bfloat16 kernel) under mixed precision.
  """
  features = tf.convert_to_tensor(features)
  boxes = tf.cast(boxes, tf.float32)
  shape_utils.check_rank("features", features, 4, "[batch_size, height, width, channels]")
  _check_boxes(boxes)
  shape = tf.shape(features)
  batch_size, height, width = shape[0], shape[1], shape[2]
  num_proposals = tf.shape(boxes)[1]
  channels = features.shape[-1] if features.shape[-1] is not None else shape[3]

  # Pad one replicated cell on every side: samples within one cell outside the map then take
  # the border value, samples further out get crop_and_resize's extrapolation value 0.
  sampled = features if features.dtype != tf.bfloat16 else tf.cast(features, tf.float32)
  padded = tf.pad(sampled, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")

  def to_padded_corner_aligned(lo, hi, size):
    size = tf.cast(size, tf.float32)
    bin_size = (hi - lo) * size / crop_size
    # First and last bin centres, in cell-index coordinates of the padded map (cell k has
    # its centre at k): continuous c -> c - 0.5 (unpadded index) -> + 1 (padding).
    first = lo * size + 0.5 * bin_size + 0.5
    last = lo * size + (crop_size - 0.5) * bin_size + 0.5
    # crop_and_resize maps normalized y to y * (padded_size - 1) = y * (size + 1).
    return first / (size + 1.0), last / (size + 1.0)

  ymin, xmin, ymax, xmax = tf.unstack(boxes, axis=-1)
  y1, y2 = to_padded_corner_aligned(ymin, ymax, height)
  x1, x2 = to_padded_corner_aligned(xmin, xmax, width)
  converted = tf.reshape(tf.stack([y1, x1, y2, x2], axis=-1), [-1, 4])
  box_indices = tf.repeat(tf.range(batch_size), num_proposals)
  crops = tf.image.crop_and_resize(
    padded,
    converted,
    box_indices,
    [crop_size, crop_size],
    method="bilinear",
    extrapolation_value=0.0,
  )
  crops = tf.cast(crops, features.dtype)
  return tf.reshape(crops, [batch_size, num_proposals, crop_size, crop_size, channels])


def roi_pool(features, boxes, crop_size=14, pooled_size=7):
  """RoIAlign to crop_size x crop_size, then max pooling to pooled_size x pooled_size.

  Args:
    features: float32 [batch_size, height, width, channels].
    boxes: float32 [batch_size, num_proposals, 4], normalized [ymin, xmin, ymax, xmax].
    crop_size: int, side of the bilinear crop (14 in the paper).
    pooled_size: int, side after max pooling (7 in the paper); must divide crop_size.

  Returns:
    float32 [batch_size, num_proposals, pooled_size, pooled_size, channels].
  """
  if crop_size % pooled_size:
    raise ValueError(f"crop_size ({crop_size}) must be a multiple of pooled_size ({pooled_size}).")
  crops = roi_align(features, boxes, crop_size)
  shape = tf.shape(crops)
  channels = features.shape[-1] if features.shape[-1] is not None else shape[4]
  stride = crop_size // pooled_size
  flat = tf.reshape(crops, [-1, crop_size, crop_size, channels])
  pooled = tf.nn.max_pool2d(flat, stride, stride, "VALID")
  return tf.reshape(pooled, [shape[0], shape[1], pooled_size, pooled_size, channels])


def spatio_temporal_roi_pool(features, boxes, crop_size=14, pooled_size=7):
  """ST-RoIPool: each box replicated over time into a tube, pooled at every time step.

  Time steps are pooled one at a time (tf.map_fn), so the crop_size x crop_size intermediate
  exists for one time step only (at the paper size, 300 proposals x 16 steps x 14 x 14 x 832
  floats would be 3.1 GB at once).

  Args:
    features: float32 [batch_size, num_frames, height, width, channels].
    boxes: float32 [batch_size, num_proposals, 4], normalized [ymin, xmin, ymax, xmax], the
      same box for every frame.
    crop_size: int, side of the bilinear crop (14 in the paper).
    pooled_size: int, side after max pooling (7 in the paper).

  Returns:
    float32 [batch_size, num_proposals, num_frames, pooled_size, pooled_size, channels].
  """
  features = tf.convert_to_tensor(features)
  boxes = tf.cast(boxes, tf.float32)
  shape_utils.check_rank(
    "features", features, 5, "[batch_size, num_frames, height, width, channels]"
  )
  _check_boxes(boxes)
  per_frame = tf.transpose(features, [1, 0, 2, 3, 4])
  pooled = tf.map_fn(
    lambda frame: roi_pool(frame, boxes, crop_size, pooled_size),
    per_frame,
    fn_output_signature=tf.TensorSpec(
      [None, None, pooled_size, pooled_size, features.shape[-1]], features.dtype
    ),
  )
  # [num_frames, batch_size, num_proposals, ...] -> [batch_size, num_proposals, num_frames, ...]
  return tf.transpose(pooled, [1, 2, 0, 3, 4, 5])


class RoIPooling(keras.layers.Layer):
  """Keras wrapper of `roi_pool` (no variables).

  call(features, boxes):
    features: float32 [batch_size, height, width, channels].
    boxes: float32 [batch_size, num_proposals, 4], normalized.
    Returns float32 [batch_size, num_proposals, pooled_size, pooled_size, channels].
  """

  def __init__(self, *, crop_size=14, pooled_size=7, **kwargs):
    super().__init__(**kwargs)
    if crop_size % pooled_size:
      raise ValueError(
        f"crop_size ({crop_size}) must be a multiple of pooled_size ({pooled_size})."
      )
    self.crop_size = crop_size
    self.pooled_size = pooled_size

  def call(self, features, boxes):
    return roi_pool(features, boxes, self.crop_size, self.pooled_size)

  def get_config(self):
    config = super().get_config()
    config.update(crop_size=self.crop_size, pooled_size=self.pooled_size)
    return config


class SpatioTemporalRoIPooling(RoIPooling):
  """Keras wrapper of `spatio_temporal_roi_pool` (no variables).

  call(features, boxes):
    features: float32 [batch_size, num_frames, height, width, channels].
    boxes: float32 [batch_size, num_proposals, 4], normalized.
    Returns float32 [batch_size, num_proposals, num_frames, pooled_size, pooled_size, channels].
  """

  def call(self, features, boxes):
    return spatio_temporal_roi_pool(features, boxes, self.crop_size, self.pooled_size)
