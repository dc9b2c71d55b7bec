"""Pure-TF drawing of keyframes with ground-truth and predicted boxes for TensorBoard.

Ground-truth boxes are drawn in green with their class indices (bottom-left inside the
box); predicted boxes in red with their top action classes as `index:percent` (top-left;
`12:87` = class 12 at 0.87). Text uses a built-in 3x5 pixel digit font (no PIL, no
Python-side drawing), so it runs inside TF. Class
indices are the contiguous 0..num_classes-1 indices of the label map; the summary's
description carries the legend (index -> name, see `legend_markdown`).
"""

import dataclasses
import time
from typing import Mapping, Optional

from ava_tx.core.standard_fields import DetectionFields, InputFields
from ava_tx.core.tf_setup import tf

GT_COLOR = (0.0, 1.0, 0.0)
DETECTION_COLOR = (1.0, 0.0, 0.0)

_BLANK, _COLON = 10, 11
# 3 columns x 5 rows per glyph: digits 0-9, blank, colon.
_FONT_ROWS = (
    ("111", "101", "101", "101", "111"), ("010", "110", "010", "010", "111"),
    ("111", "001", "111", "100", "111"), ("111", "001", "111", "001", "111"),
    ("101", "101", "111", "001", "001"), ("111", "100", "111", "001", "111"),
    ("111", "100", "111", "101", "111"), ("111", "001", "001", "001", "001"),
    ("111", "101", "111", "101", "111"), ("111", "101", "111", "001", "111"),
    ("000", "000", "000", "000", "000"), ("000", "010", "000", "010", "000"),
)
_FONT = [[[float(c) for c in row] for row in glyph] for glyph in _FONT_ROWS]


def text_bitmap(glyph_codes: tf.Tensor) -> tf.Tensor:
  """Renders lines of glyphs (digits 0-9, 10 = blank, 11 = colon) as a 0/1 bitmap.

  Args:
    glyph_codes: int32 [num_lines, num_chars].

  Returns:
    float32 [num_lines * 6 - 1, num_chars * 4 - 1]: 5-pixel-high glyphs, 3 pixels wide,
    separated by one blank pixel.
  """
  glyphs = tf.gather(tf.constant(_FONT, tf.float32), glyph_codes)  # [lines, chars, 5, 3]
  glyphs = tf.pad(glyphs, [[0, 0], [0, 0], [0, 1], [0, 1]])          # [lines, chars, 6, 4]
  shape = tf.shape(glyphs)
  bitmap = tf.reshape(tf.transpose(glyphs, [0, 2, 1, 3]), [shape[0] * 6, shape[1] * 4])
  return bitmap[:-1, :-1]


def label_glyph_codes(class_indices: tf.Tensor, scores: Optional[tf.Tensor] = None,
                      valid: Optional[tf.Tensor] = None) -> tf.Tensor:
  """Glyph codes of label lines `iii:ss` (index without leading zeros, percent).

  Args:
    class_indices: int32 [num_lines], 0..999.
    scores: float32 [num_lines] in [0, 1] (shown as two-digit percent, 1.0 -> 99), or None
      to show indices only.
    valid: bool [num_lines]; invalid lines are blank. Default all valid.

  Returns:
    int32 [num_lines, 6] (or [num_lines, 3] without scores).
  """
  index = tf.clip_by_value(tf.cast(class_indices, tf.int32), 0, 999)
  digits = tf.stack([index // 100, index // 10 % 10, index % 10], axis=1)
  leading = tf.stack([index < 100, index < 10, tf.zeros_like(index, tf.bool)], axis=1)
  codes = tf.where(leading, _BLANK, digits)
  if scores is not None:
    percent = tf.clip_by_value(tf.cast(tf.round(scores * 100.0), tf.int32), 0, 99)
    colon = tf.fill(tf.shape(percent), _COLON)
    codes = tf.concat([codes, tf.stack([colon, percent // 10, percent % 10], axis=1)], axis=1)
  if valid is not None:
    codes = tf.where(valid[:, tf.newaxis], codes, _BLANK)
  return codes


def overlay_text(image: tf.Tensor, bitmap: tf.Tensor, *, top: tf.Tensor, left: tf.Tensor,
                 color, scale: int = 1) -> tf.Tensor:
  """Writes a text bitmap into an image on a darkened background, kept inside the image.

  Args:
    image: float32 [height, width, 3] in [0, 1].
    bitmap: float32 [text_height, text_width] of 0/1 (from `text_bitmap`).
    top, left: int32 scalars, pixel position of the text's top-left corner (moved inside).
    color: 3 floats in [0, 1].
    scale: integer magnification of the glyphs.

  Returns:
    float32 [height, width, 3].
  """
  if scale > 1:
    bitmap = tf.repeat(tf.repeat(bitmap, scale, axis=0), scale, axis=1)
  height, width = tf.shape(image)[0], tf.shape(image)[1]
  bitmap = bitmap[:height, :width]
  text_h, text_w = tf.shape(bitmap)[0], tf.shape(bitmap)[1]
  top = tf.clip_by_value(tf.cast(top, tf.int32), 0, height - text_h)
  left = tf.clip_by_value(tf.cast(left, tf.int32), 0, width - text_w)
  paddings = [[top, height - text_h - top], [left, width - text_w - left]]
  ink = tf.pad(bitmap, paddings)[..., tf.newaxis]
  box = tf.pad(tf.ones_like(bitmap), paddings)[..., tf.newaxis]
  color = tf.constant(color, tf.float32)
  return image * (1.0 - 0.7 * box) * (1.0 - ink) + ink * color


def _draw_labelled_boxes(image, boxes, codes, valid, color, scale, at_bottom):
  """Boxes [n, 4] (normalized) and their label-code blocks [n, lines, chars] on an image.

  Labels go inside the box at its top-left corner, or bottom-left when `at_bottom` (so that
  a detection's and a matching ground truth's labels do not cover each other).
  """
  height, width = tf.shape(image)[0], tf.shape(image)[1]
  kept = tf.boolean_mask(boxes, valid)
  image = tf.image.draw_bounding_boxes(image[tf.newaxis], kept[tf.newaxis],
                                       tf.constant([list(color) + [1.0]]))[0]
  for i in range(boxes.shape[0]):
    bitmap = text_bitmap(codes[i])
    if at_bottom:
      top = (tf.cast(boxes[i, 2] * tf.cast(height - 1, tf.float32), tf.int32)
             - tf.shape(bitmap)[0] * scale)
    else:
      top = tf.cast(boxes[i, 0] * tf.cast(height - 1, tf.float32), tf.int32) + 1
    left = tf.cast(boxes[i, 1] * tf.cast(width - 1, tf.float32), tf.int32) + 1
    drawn = overlay_text(image, bitmap, top=top, left=left, color=color, scale=scale)
    image = tf.where(valid[i], drawn, image)
  return image


def draw_keyframe(image: tf.Tensor, *,
                  groundtruth_boxes: tf.Tensor, groundtruth_classes: tf.Tensor,
                  num_groundtruth_boxes: tf.Tensor,
                  detection_boxes: tf.Tensor, detection_scores: tf.Tensor,
                  detection_action_scores: tf.Tensor, num_detections: tf.Tensor,
                  max_detections: int = 5, top_k_labels: int = 2) -> tf.Tensor:
  """Draws GT boxes (green, class indices) and detections (red, `index:percent`).

  Args:
    image: float32 [height, width, 3] in [0, 1].
    groundtruth_boxes: float32 [max_num_boxes, 4], normalized.
    groundtruth_classes: float32 [max_num_boxes, num_classes] multi-hot.
    num_groundtruth_boxes: int32 [].
    detection_boxes: float32 [max_detections', 4], normalized.
    detection_scores: float32 [max_detections'], person scores (the highest are drawn).
    detection_action_scores: float32 [max_detections', num_classes].
    num_detections: int32 [].
    max_detections: at most this many detections are drawn.
    top_k_labels: classes written per box.

  Returns:
    float32 [height, width, 3].
  """
  scale = max(1, min(int(image.shape[0] or 0), int(image.shape[1] or 0)) // 120)
  num_classes = groundtruth_classes.shape[-1]
  k = min(top_k_labels, num_classes)
  gt_valid = tf.range(tf.shape(groundtruth_boxes)[0]) < tf.cast(num_groundtruth_boxes, tf.int32)
  gt_values, gt_indices = tf.math.top_k(groundtruth_classes, k=k)
  gt_codes = label_glyph_codes(tf.reshape(gt_indices, [-1]),
                               valid=tf.reshape(gt_values > 0, [-1]))
  gt_codes = tf.reshape(gt_codes, [-1, k, 3])
  image = _draw_labelled_boxes(image, groundtruth_boxes, gt_codes, gt_valid, GT_COLOR, scale,
                               at_bottom=True)

  n = min(max_detections, detection_boxes.shape[0])
  det_valid_all = tf.range(tf.shape(detection_scores)[0]) < tf.cast(num_detections, tf.int32)
  ranked = tf.where(det_valid_all, detection_scores, -1.0)
  _, order = tf.math.top_k(ranked, k=n)
  boxes = tf.gather(detection_boxes, order)
  det_valid = tf.gather(det_valid_all, order)
  values, indices = tf.math.top_k(tf.gather(detection_action_scores, order), k=k)
  codes = tf.reshape(label_glyph_codes(tf.reshape(indices, [-1]), tf.reshape(values, [-1])),
                     [-1, k, 6])
  return _draw_labelled_boxes(image, boxes, codes, det_valid, DETECTION_COLOR, scale,
                              at_bottom=False)


def draw_batch_keyframes(batch: Mapping[str, tf.Tensor], detections: Mapping[str, tf.Tensor],
                         *, max_images: int = 2, **kwargs) -> tf.Tensor:
  """Keyframes of a batch with GT and detections drawn (see `draw_keyframe`).

  Args:
    batch: keyed by InputFields: frames float32 [batch_size, num_frames, height, width, 3] in
      [-1, 1], groundtruth_boxes, groundtruth_classes, num_groundtruth_boxes and optionally
      keyframe_index int32 [batch_size] (default num_frames // 2).
    detections: keyed by DetectionFields, each with a leading batch_size dimension.
    max_images: draw the first this many examples.
    **kwargs: passed to `draw_keyframe`.

  Returns:
    float32 [min(batch_size, max_images), height, width, 3] in [0, 1].
  """
  frames = batch[InputFields.frames]
  if frames.shape.rank != 5:
    raise ValueError(f"frames must be [batch_size, num_frames, height, width, 3], "
                     f"got shape {frames.shape}")
  num_images = min(max_images, int(frames.shape[0]))
  images = []
  for b in range(num_images):
    if InputFields.keyframe_index in batch:
      keyframe_index = batch[InputFields.keyframe_index][b]
    else:
      keyframe_index = tf.shape(frames)[1] // 2
    image = tf.clip_by_value((frames[b, keyframe_index] + 1.0) / 2.0, 0.0, 1.0)
    images.append(draw_keyframe(
        image,
        groundtruth_boxes=batch[InputFields.groundtruth_boxes][b],
        groundtruth_classes=batch[InputFields.groundtruth_classes][b],
        num_groundtruth_boxes=batch[InputFields.num_groundtruth_boxes][b],
        detection_boxes=detections[DetectionFields.detection_boxes][b],
        detection_scores=detections[DetectionFields.detection_scores][b],
        detection_action_scores=detections[DetectionFields.detection_action_scores][b],
        num_detections=detections[DetectionFields.num_detections][b], **kwargs))
  return tf.stack(images)


def legend_markdown(label_names: Optional[Mapping[int, str]] = None) -> str:
  """Summary description: colour key and, if given, the class index -> name legend."""
  text = ("Green: ground-truth boxes with their class indices. Red: the highest-scoring "
          "detections with their top classes as `index:percent`.")
  if label_names:
    text += "\n\n" + "\n".join(f"- {i}: {name}" for i, name in sorted(label_names.items()))
  return text


@dataclasses.dataclass
class RateWindow:
  """Counts since `time` (a time.perf_counter() value): steps, video clips trained on, and
  steps whose gradients were clipped by the global-norm limit."""
  time: float
  steps: int = 0
  clips: int = 0
  clipped_steps: float = 0.0


def write_scalars(writer, step: int, losses: Mapping[str, float], *, learning_rate,
                  gradient_norm, window: RateWindow) -> RateWindow:
  """Writes every loss, the learning rate, gradient norm, steps/s, clips/s and the fraction
  of steps whose gradients were clipped.

  Args:
    writer: a tf.summary writer.
    step: the global step of the summaries.
    losses: loss name -> value.
    learning_rate, gradient_norm: float scalars of the last step.
    window: the counts since the previous call (rates and the fraction are over it).

  Returns:
    A new, empty window starting now.
  """
  now = time.perf_counter()
  elapsed = max(now - window.time, 1e-9)
  with writer.as_default(step=step):
    for name, value in losses.items():
      tf.summary.scalar(name, value)
    tf.summary.scalar("learning_rate", learning_rate)
    tf.summary.scalar("gradient_global_norm", gradient_norm)
    tf.summary.scalar("gradient_clipped_fraction", window.clipped_steps / max(window.steps, 1))
    tf.summary.scalar("steps_per_sec", window.steps / elapsed)
    tf.summary.scalar("clips_per_sec", window.clips / elapsed)
  return RateWindow(now)


def write_keyframe_images(writer, step: int, batch: Mapping[str, tf.Tensor],
                          detections: Mapping[str, tf.Tensor], *, max_images: int,
                          label_names: Optional[Mapping[int, str]] = None) -> None:
  """Writes `keyframe_detections`: keyframes with GT and detections (draw_batch_keyframes)."""
  images = draw_batch_keyframes(batch, detections, max_images=max_images)
  with writer.as_default(step=step):
    tf.summary.image("keyframe_detections", images, max_outputs=max_images,
                     description=legend_markdown(label_names))
