"""TensorBoard summaries of training: scalars, and keyframes with ground truth and predictions.

A keyframe image holds two panels side by side, each the keyframe scaled up (by an integer
factor, bilinear) so that its shorter side is at least `MIN_PANEL_SIZE` pixels: on the left
the ground-truth boxes (green) with their class names, on the right the highest-scoring
detections (red) with their person score and top action classes with scores. Text is drawn
with Pillow's built-in font, on a dark background so that it stays readable on any frame.
"""

import dataclasses
import time
from typing import Mapping, Optional, Sequence

import numpy as np
from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont

from ava_tx.core.standard_fields import DetectionFields
from ava_tx.core.standard_fields import InputFields
from ava_tx.core.tf_setup import tf

GT_COLOR = (0, 255, 0)
DETECTION_COLOR = (255, 64, 64)
TITLE_COLOR = (255, 255, 255)
MIN_PANEL_SIZE = 400
"""Pixels of a panel's shorter side, at least (demo keyframes are 112x112)."""

MAX_GT_LABELS = 4  # Class names written per ground-truth box.


@dataclasses.dataclass(frozen=True)
class _Style:
  """Sizes that follow the panel size: font, box line, header strip and gap, in pixels."""

  font: ImageFont.ImageFont
  font_size: int
  line_width: int
  header: int
  gap: int

  @classmethod
  def for_panel(cls, panel_height: int) -> "_Style":
    size = max(12, round(panel_height / 28))
    return cls(
      font=ImageFont.load_default(size=size),
      font_size=size,
      line_width=max(2, round(panel_height / 200)),
      header=size + 10,
      gap=size // 2,
    )


def class_name(index: int, label_names: Optional[Mapping[int, str]]) -> str:
  """The class's name without its parenthesised gloss ("bend/bow (at the waist)" ->
  "bend/bow"), or its index when no names are given."""
  if not label_names or index not in label_names:
    return str(index)
  return label_names[index].split(" (")[0]


def _scaled_frame(image: np.ndarray, min_size: int) -> Image.Image:
  """float [height, width, 3] in [0, 1] -> uint8 RGB scaled up by the smallest integer factor
  that brings the shorter side to min_size (unchanged when already that large)."""
  height, width = image.shape[:2]
  factor = max(1, -(-min_size // max(1, min(height, width))))
  pixels = np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
  return Image.fromarray(pixels).resize(
    (width * factor, height * factor), Image.Resampling.BILINEAR
  )


def _text_block(draw, lines: Sequence[str], origin, color, style: _Style, size) -> None:
  """Lines of text on a dark background, top-left at origin, moved to stay inside `size`."""
  if not lines:
    return
  x, y = origin
  widths = [draw.textlength(line, font=style.font) for line in lines]
  block_w, block_h = max(widths) + 4, len(lines) * (style.font_size + 2) + 2
  x = min(max(0, x), max(0, size[0] - block_w))
  y = min(max(0, y), max(0, size[1] - block_h))
  draw.rectangle([x, y, x + block_w, y + block_h], fill=(0, 0, 0))
  for i, line in enumerate(lines):
    draw.text((x + 2, y + 1 + i * (style.font_size + 2)), line, fill=color, font=style.font)


def _draw_boxes(
  frame: Image.Image, boxes: np.ndarray, labels: Sequence[Sequence[str]], color, style: _Style
) -> Image.Image:
  """Boxes [n, 4] (normalized) with their label lines at the box's top-left, inside it."""
  panel = frame.copy()
  draw = ImageDraw.Draw(panel)
  width, height = panel.size
  corners = []
  for ymin, xmin, ymax, xmax in np.clip(boxes, 0.0, 1.0):
    # Untrained models can predict inverted boxes: draw them by their corners.
    (x0, x1), (y0, y1) = sorted((xmin, xmax)), sorted((ymin, ymax))
    corner = (x0 * (width - 1), y0 * (height - 1))
    draw.rectangle(
      [corner, (x1 * (width - 1), y1 * (height - 1))], outline=color, width=style.line_width
    )
    corners.append(corner)
  for (x, y), lines in zip(corners, labels):  # Text over every box's outline.
    _text_block(draw, lines, (x + style.line_width, y + style.line_width), color, style, panel.size)
  return panel


def _groundtruth_labels(classes: np.ndarray, label_names) -> list[str]:
  """Names of a box's positive classes (multi-hot float [num_classes]), in label-map order."""
  positives = [class_name(int(i), label_names) for i in np.flatnonzero(classes > 0)]
  if len(positives) > MAX_GT_LABELS:
    positives = positives[: MAX_GT_LABELS - 1] + [f"+{len(positives) - MAX_GT_LABELS + 1} more"]
  return positives


def _detection_labels(
  person_score: float, action_scores: np.ndarray, label_names, top_k: int
) -> list[str]:
  order = np.argsort(-action_scores, kind="stable")[:top_k]
  return [f"person {person_score:.2f}"] + [
    f"{class_name(int(i), label_names)} {action_scores[i]:.2f}" for i in order
  ]


def draw_keyframe(
  image: np.ndarray,
  *,
  groundtruth_boxes: np.ndarray,
  groundtruth_classes: np.ndarray,
  num_groundtruth_boxes: int,
  detection_boxes: np.ndarray,
  detection_scores: np.ndarray,
  detection_action_scores: np.ndarray,
  num_detections: int,
  label_names: Optional[Mapping[int, str]] = None,
  max_detections: int = 5,
  top_k_labels: int = 2,
  min_size: int = MIN_PANEL_SIZE,
) -> np.ndarray:
  """Ground truth (left) and predictions (right) drawn on the keyframe scaled up.

  Args:
    image: float32 [height, width, 3] in [0, 1].
    groundtruth_boxes: float32 [max_num_boxes, 4], normalized.
    groundtruth_classes: float32 [max_num_boxes, num_classes] multi-hot.
    num_groundtruth_boxes: the valid ground-truth rows.
    detection_boxes: float32 [max_detections', 4], normalized.
    detection_scores: float32 [max_detections'], person scores (the highest are drawn).
    detection_action_scores: float32 [max_detections', num_classes].
    num_detections: the valid detection rows.
    label_names: {contiguous class index: name}; without it classes are shown as indices.
    max_detections: at most this many detections are drawn.
    top_k_labels: action classes written per detection.
    min_size: the panels' shorter side is scaled up to at least this.

  Returns:
    uint8 [header + panel_height, 2 * panel_width + gap, 3].
  """
  frame = _scaled_frame(np.asarray(image, np.float32), min_size)
  painter = _PanelPainter(
    frame,
    _Style.for_panel(min(frame.size)),
    label_names,
    max_detections=max_detections,
    top_k_labels=top_k_labels,
  )
  num_gt = int(num_groundtruth_boxes)
  truth = painter.groundtruth(groundtruth_boxes, groundtruth_classes, num_gt)
  predicted, num_drawn = painter.predictions(
    detection_boxes, detection_scores, detection_action_scores, int(num_detections)
  )
  return painter.side_by_side(
    [(truth, f"ground truth ({num_gt})"), (predicted, f"predictions (top {num_drawn})")]
  )


@dataclasses.dataclass(frozen=True)
class _PanelPainter:
  """Draws boxes with their labels on copies of one scaled keyframe, and lays out the panels."""

  frame: Image.Image
  style: _Style
  label_names: Optional[Mapping[int, str]]
  max_detections: int
  top_k_labels: int

  def groundtruth(self, boxes, classes, num_boxes: int) -> Image.Image:
    """The first `num_boxes` boxes with their class names."""
    labels = [_groundtruth_labels(c, self.label_names) for c in np.asarray(classes)[:num_boxes]]
    return _draw_boxes(self.frame, np.asarray(boxes)[:num_boxes], labels, GT_COLOR, self.style)

  def predictions(self, boxes, scores, action_scores, num_detections: int):
    """(panel, number drawn): the highest-scoring of the first `num_detections` detections,
    each with its person score and top action classes."""
    scores = np.asarray(scores)[:num_detections]
    order = np.argsort(-scores, kind="stable")[: self.max_detections]
    action_scores = np.asarray(action_scores)
    labels = [
      _detection_labels(float(scores[i]), action_scores[i], self.label_names, self.top_k_labels)
      for i in order
    ]
    panel = _draw_boxes(self.frame, np.asarray(boxes)[order], labels, DETECTION_COLOR, self.style)
    return panel, len(order)

  def side_by_side(self, panels_and_titles) -> np.ndarray:
    """uint8 [header + height, n * width + (n - 1) * gap, 3]: the panels left to right, each
    under its title."""
    width, height = self.frame.size
    gap, header = self.style.gap, self.style.header
    canvas = Image.new("RGB", (len(panels_and_titles) * (width + gap) - gap, header + height))
    draw = ImageDraw.Draw(canvas)
    for i, (panel, title) in enumerate(panels_and_titles):
      left = i * (width + gap)
      canvas.paste(panel, (left, header))
      draw.text((left + 4, 4), title, fill=TITLE_COLOR, font=self.style.font)
    return np.asarray(canvas)


def keyframe_in_unit_range(frame):
  """A frame as float in [0, 1]: uint8 RGB (the parser's frames) / 255, float in [-1, 1] (the
  model's preprocessed frames) mapped by (x + 1) / 2."""
  if frame.dtype == np.uint8:
    return frame.astype(np.float32) / 255.0
  return (frame + 1.0) / 2.0


def draw_batch_keyframes(
  batch: Mapping[str, tf.Tensor],
  detections: Mapping[str, tf.Tensor],
  *,
  max_images: int = 2,
  **kwargs,
) -> np.ndarray:
  """Keyframes of a batch with GT and detections drawn (see `draw_keyframe`).

  Args:
    batch: keyed by InputFields: frames [batch_size, num_frames, height, width, 3], uint8
      or float32 in [-1, 1] (`keyframe_in_unit_range`), groundtruth_boxes,
      groundtruth_classes, num_groundtruth_boxes and optionally keyframe_index int32
      [batch_size] (default num_frames // 2).
    detections: keyed by DetectionFields, each with a leading batch_size dimension.
    max_images: draw the first this many examples.
    **kwargs: passed to `draw_keyframe`.

  Returns:
    uint8 [min(batch_size, max_images), image_height, image_width, 3].
  """
  frames = np.asarray(batch[InputFields.frames])
  if frames.ndim != 5:
    raise ValueError(
      f"frames must be [batch_size, num_frames, height, width, 3], got shape {frames.shape}"
    )
  keyframes = (
    np.asarray(batch[InputFields.keyframe_index])
    if InputFields.keyframe_index in batch
    else np.full([frames.shape[0]], frames.shape[1] // 2)
  )
  images = []
  for b in range(min(max_images, frames.shape[0])):
    images.append(
      draw_keyframe(
        keyframe_in_unit_range(frames[b, int(keyframes[b])]),
        groundtruth_boxes=np.asarray(batch[InputFields.groundtruth_boxes][b]),
        groundtruth_classes=np.asarray(batch[InputFields.groundtruth_classes][b]),
        num_groundtruth_boxes=int(batch[InputFields.num_groundtruth_boxes][b]),
        detection_boxes=np.asarray(detections[DetectionFields.detection_boxes][b]),
        detection_scores=np.asarray(detections[DetectionFields.detection_scores][b]),
        detection_action_scores=np.asarray(detections[DetectionFields.detection_action_scores][b]),
        num_detections=int(detections[DetectionFields.num_detections][b]),
        **kwargs,
      )
    )
  return np.stack(images)


def legend_markdown(label_names: Optional[Mapping[int, str]] = None) -> str:
  """Summary description: what each panel shows and, if given, the index -> name legend."""
  text = (
    "Left: ground-truth boxes (green) with their classes. Right: the highest-scoring "
    "detections (red) with their person score and top action classes with scores."
  )
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


def write_scalars(
  writer,
  step: int,
  losses: Mapping[str, float],
  *,
  learning_rate,
  gradient_norm,
  window: RateWindow,
) -> RateWindow:
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


def write_keyframe_images(
  writer,
  step: int,
  batch: Mapping[str, tf.Tensor],
  detections: Mapping[str, tf.Tensor],
  *,
  max_images: int,
  label_names: Optional[Mapping[int, str]] = None,
) -> None:
  """Writes `keyframe_detections`: keyframes with GT and detections (draw_batch_keyframes)."""
  images = draw_batch_keyframes(batch, detections, max_images=max_images, label_names=label_names)
  with writer.as_default(step=step):
    tf.summary.image(
      "keyframe_detections",
      images,
      max_outputs=max_images,
      description=legend_markdown(label_names),
    )
