"""The paper's Figure 4 as pure functions: numpy arrays in, numpy arrays out.

For one person (query) of one keyframe, each head of a Tx layer has a softmax attention over
the clip's feature map (t time steps x h x w positions, summing to 1) and a key embedding (D
values) at each position. The figure shows, for each head, the attention as a heat map over
the frame at the centre of each feature time step, and the keys as colours: their first three
principal components (over all t x h x w positions of that head) mapped to RGB.

Display scaling (stated in the figure captions): a head's heat maps share one scale, its
maximum over the whole clip, so time steps compare; keys' colour channels are each scaled to
[0, 1] over the clip.
"""

from typing import Sequence

import numpy as np
from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont

# Anchors of a perceptually ordered dark-to-bright colour map (close to matplotlib's "inferno").
_COLORMAP_ANCHORS = np.array(
  [[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], np.float64
)


def select_attention(weights: np.ndarray, *, person: int, layer: int = -1) -> np.ndarray:
  """One person's attention at one layer.

  Args:
    weights: float [num_detections, num_layers, num_heads, t, h, w].
    person: detection index; layer: layer index (negative counts from the last).
  Returns:
    float64 [num_heads, t, h, w].
  Raises:
    IndexError: person or layer out of range (the message says the valid range).
  """
  weights = np.asarray(weights, np.float64)
  if weights.ndim != 6:
    raise ValueError(
      "attention weights must be [detections, layers, heads, t, h, w], got shape "
      "%s" % (weights.shape,)
    )
  if not 0 <= person < weights.shape[0]:
    raise IndexError("person %d out of range: %d detections" % (person, weights.shape[0]))
  if not -weights.shape[1] <= layer < weights.shape[1]:
    raise IndexError("layer %d out of range: %d layers" % (layer, weights.shape[1]))
  return weights[person, layer]


def time_step_masses(attention: np.ndarray) -> np.ndarray:
  """float [num_heads, t, h, w] -> float [num_heads, t]: attention on each feature time step."""
  return np.asarray(attention, np.float64).sum(axis=(2, 3))


def box_masses(attention: np.ndarray, boxes: np.ndarray):
  """How much of each head's attention falls on each person's keyframe box.

  A feature cell belongs to a box when its centre lies inside it, at every time step (the box
  of the keyframe stands for the person over the clip: people move little in two seconds).
  Boxes may overlap; each box's mass is counted on its own.

  Args:
    attention: float [num_heads, t, h, w], each head summing to 1 over space-time.
    boxes: float [n, 4] normalized [ymin, xmin, ymax, xmax].
  Returns:
    (masses, area_shares): float [num_heads, n], the attention inside each box, and float [n],
    the share of cells inside each box, i.e. what a uniform attention would put there.
  """
  attention = np.asarray(attention, np.float64)
  boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
  height, width = attention.shape[-2:]
  ys = (np.arange(height) + 0.5) / height
  xs = (np.arange(width) + 0.5) / width
  rows = (ys >= boxes[:, 0:1]) & (ys <= boxes[:, 2:3])  # [n, h]
  cols = (xs >= boxes[:, 1:2]) & (xs <= boxes[:, 3:4])  # [n, w]
  inside = rows[:, :, None] & cols[:, None, :]  # [n, h, w]
  masses = np.einsum("khw,nhw->kn", attention.sum(axis=1), inside.astype(np.float64))
  return masses, inside.mean(axis=(1, 2))


def centre_frames(num_frames: int, num_time_steps: int) -> np.ndarray:
  """Index of the clip frame at the centre of each feature time step's span of frames.

  The trunk reduces num_frames to num_time_steps; step i covers frames
  [i * r, (i + 1) * r) with r = num_frames / num_time_steps. int [num_time_steps].
  """
  ratio = num_frames / num_time_steps
  return np.minimum(((np.arange(num_time_steps) + 0.5) * ratio).astype(int), num_frames - 1)


def upsample(values: np.ndarray, height: int, width: int, *, smooth: bool = True) -> np.ndarray:
  """float [h, w] -> float32 [height, width], bilinear (smooth) or nearest (cell blocks)."""
  image = Image.fromarray(np.asarray(values, np.float32))
  method = Image.Resampling.BILINEAR if smooth else Image.Resampling.NEAREST
  return np.asarray(image.resize((width, height), method), np.float32)


def colormap(values: np.ndarray) -> np.ndarray:
  """float [...] in [0, 1] -> uint8 [..., 3] through the dark-to-bright colour map."""
  values = np.clip(np.asarray(values, np.float64), 0.0, 1.0) * (len(_COLORMAP_ANCHORS) - 1)
  low = np.minimum(np.floor(values).astype(int), len(_COLORMAP_ANCHORS) - 2)
  fraction = (values - low)[..., None]
  colours = _COLORMAP_ANCHORS[low] * (1 - fraction) + _COLORMAP_ANCHORS[low + 1] * fraction
  return np.round(colours).astype(np.uint8)


def attention_overlays(
  attention: np.ndarray, frames: np.ndarray, *, alpha: float = 0.65
) -> np.ndarray:
  """Heat maps of one head over the frames of its time steps.

  Args:
    attention: float [t, h, w], one head's attention (sums to 1).
    frames: uint8 [t, H, W, 3], the frame at the centre of each time step.
    alpha: weight of the heat map.
  Returns:
    uint8 [t, H, W, 3].
  """
  attention = np.asarray(attention, np.float64)
  frames = np.asarray(frames)
  if attention.shape[0] != frames.shape[0]:
    raise ValueError(
      "%d attention time steps but %d frames" % (attention.shape[0], frames.shape[0])
    )
  scale = max(attention.max(), 1e-12)
  out = []
  for step in range(attention.shape[0]):
    heat = upsample(attention[step] / scale, frames.shape[1], frames.shape[2])
    blended = (1 - alpha) * frames[step].astype(np.float64) + alpha * colormap(heat)
    out.append(np.round(blended).astype(np.uint8))
  return np.stack(out)


def pca_colors(keys: np.ndarray) -> np.ndarray:
  """Key embeddings as colours: their first 3 principal components, each scaled to [0, 1].

  Args:
    keys: float [t, h, w, D], one head's keys (D >= 1; with D < 3 the missing channels are 0).
  Returns:
    float64 [t, h, w, 3] in [0, 1]. Each component's sign is fixed so that its largest
    loading is positive (the same keys give the same colours).
  """
  keys = np.asarray(keys, np.float64)
  flat = keys.reshape(-1, keys.shape[-1])
  centred = flat - flat.mean(axis=0)
  _, _, components = np.linalg.svd(centred, full_matrices=False)
  components = components[:3]
  signs = np.sign(components[np.arange(len(components)), np.abs(components).argmax(axis=1)])
  projected = centred @ (components * signs[:, None]).T
  low, high = projected.min(axis=0), projected.max(axis=0)
  scaled = (projected - low) / np.maximum(high - low, 1e-12)
  out = np.zeros([flat.shape[0], 3])
  out[:, : scaled.shape[1]] = scaled
  return out.reshape(keys.shape[:-1] + (3,))


def key_images(keys: np.ndarray, height: int, width: int) -> np.ndarray:
  """float [t, h, w, D] -> uint8 [t, height, width, 3]: PCA colours, one block per position."""
  colours = pca_colors(keys)
  out = np.empty([colours.shape[0], height, width, 3], np.uint8)
  for step in range(colours.shape[0]):
    for channel in range(3):
      out[step, :, :, channel] = np.round(
        255 * upsample(colours[step, :, :, channel], height, width, smooth=False)
      )
  return out


def image_grid(
  rows: Sequence[np.ndarray], row_labels: Sequence[str], *, gap: int = 4, label_width: int = 96
) -> np.ndarray:
  """Stacks rows of equally sized images into one labelled figure.

  Args:
    rows: each uint8 [n, H, W, 3] (n images of H x W; all rows share H, W and n).
    row_labels: a caption per row, written at its left.
  Returns:
    uint8 [len(rows) * (H + gap) + gap, label_width + n * (W + gap) + gap, 3] on white.
  """
  count, height, width = rows[0].shape[:3]
  out = np.full(
    [len(rows) * (height + gap) + gap, label_width + count * (width + gap) + gap, 3], 255, np.uint8
  )
  for r, row in enumerate(rows):
    if row.shape[:3] != (count, height, width):
      raise ValueError(
        "row %d has shape %s, expected %s" % (r, row.shape[:3], (count, height, width))
      )
    y = gap + r * (height + gap)
    for c in range(count):
      x = label_width + gap + c * (width + gap)
      out[y : y + height, x : x + width] = row[c]
  image = Image.fromarray(out)
  draw = ImageDraw.Draw(image)
  font = ImageFont.load_default(size=max(10, min(16, height // 6)))
  for r, label in enumerate(row_labels):
    y = gap + r * (height + gap) + height // 2 - 8
    for i, line in enumerate(label.split("\n")):
      draw.text((4, y + 14 * i), line, fill=(0, 0, 0), font=font)
  return np.asarray(image).copy()
