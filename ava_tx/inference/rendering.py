"""Drawing detections on frames (Pillow) and writing the annotated video (PyAV, H.264).

Pure functions: numpy arrays in, numpy arrays out. Boxes are [ymin, xmin, ymax, xmax]
normalized.
"""

import dataclasses
import fractions
from typing import Optional, Sequence, Tuple

import av
import numpy as np
from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont

# Box colours, one per person in score order (Okabe-Ito palette, readable for colour-blind eyes).
PALETTE = (
  (230, 159, 0),
  (86, 180, 233),
  (0, 158, 115),
  (240, 228, 66),
  (0, 114, 178),
  (213, 94, 0),
  (204, 121, 167),
  (255, 255, 255),
)


@dataclasses.dataclass(frozen=True)
class KeyframeDetections:
  """Detections of one keyframe (n rows, all valid).

  boxes: float32 [n, 4] normalized; person_scores: float32 [n]; action_scores: float32
  [n, num_classes] in class-index order (the label map's order).
  """

  boxes: np.ndarray
  person_scores: np.ndarray
  action_scores: np.ndarray

  @property
  def num_detections(self) -> int:
    return int(self.boxes.shape[0])

  def above(self, min_person_score: float) -> "KeyframeDetections":
    """The detections whose person score is at least `min_person_score`."""
    keep = self.person_scores >= min_person_score
    return KeyframeDetections(self.boxes[keep], self.person_scores[keep], self.action_scores[keep])


def short_name(name: str) -> str:
  """A class name without its parenthesised gloss: "bend/bow (at the waist)" -> "bend/bow"."""
  return name.split(" (")[0]


def upscaled(frame: np.ndarray, min_height: int) -> np.ndarray:
  """uint8 [H, W, 3] scaled up by the smallest integer factor that makes H >= min_height
  (bilinear), so that labels stay legible on small videos; frames already that high are kept."""
  height, width = frame.shape[:2]
  factor = -(-min_height // height) if height < min_height else 1
  if factor == 1:
    return frame
  image = Image.fromarray(frame).resize(
    (width * factor, height * factor), Image.Resampling.BILINEAR
  )
  return np.asarray(image)


def top_labels(
  action_scores: np.ndarray,
  label_map: Sequence[Tuple[int, str]],
  *,
  max_labels: int = 3,
  min_score: float = 0.0,
) -> list:
  """[(name, score)] of the `max_labels` highest actions with score >= min_score, best first
  (ties in label-map order). action_scores: float [num_classes]."""
  order = np.argsort(-np.asarray(action_scores, np.float64), kind="stable")
  return [
    (label_map[i][1], float(action_scores[i]))
    for i in order[:max_labels]
    if action_scores[i] >= min_score
  ]


def _font(size):
  return ImageFont.load_default(size=size)


def draw_detections(
  frame: np.ndarray,
  detections: KeyframeDetections,
  label_map: Sequence[Tuple[int, str]],
  *,
  max_labels: int = 3,
  min_action_score: float = 0.0,
  caption: Optional[str] = None,
  with_labels: bool = True,
) -> np.ndarray:
  """Draws each box with its person score and top actions (unless not with_labels).
  frame: uint8 [H, W, 3].

  Returns uint8 [H, W, 3], a new array (the input is not modified).
  """
  height, width = frame.shape[:2]
  image = Image.fromarray(frame)
  draw = ImageDraw.Draw(image)
  size = max(9, min(18, round(min(height, width) / 22)))
  font = _font(size)
  line = max(1, round(min(height, width) / 160))
  for index in range(detections.num_detections):
    colour = PALETTE[index % len(PALETTE)]
    ymin, xmin, ymax, xmax = np.clip(detections.boxes[index], 0.0, 1.0)
    x0, x1 = xmin * (width - 1), xmax * (width - 1)
    y0, y1 = ymin * (height - 1), ymax * (height - 1)
    draw.rectangle([x0, y0, x1, y1], outline=colour, width=line)
    if not with_labels:
      continue
    texts = ["person %.2f" % detections.person_scores[index]] + [
      "%s %.2f" % (short_name(name), score)
      for name, score in top_labels(
        detections.action_scores[index],
        label_map,
        max_labels=max_labels,
        min_score=min_action_score,
      )
    ]
    _draw_text_block(draw, texts, (x0 + line, y0 + line), colour, font, size)
  if caption:
    _draw_text_block(draw, [caption], (2, height - size - 4), (255, 255, 255), font, size)
  return np.asarray(image).copy()


def _draw_text_block(draw, texts, origin, colour, font, size):
  x, y = origin
  for text in texts:
    left, top, right, bottom = draw.textbbox((x, y), text, font=font)
    draw.rectangle([left - 1, top - 1, right + 1, bottom + 1], fill=(0, 0, 0))
    draw.text((x, y), text, fill=colour, font=font)
    y += size + 2


def even_frame(frame: np.ndarray) -> np.ndarray:
  """Pads an odd height or width by repeating the last row/column (H.264 yuv420p needs even
  sizes). uint8 [H, W, 3] -> uint8 [H + H % 2, W + W % 2, 3]."""
  height, width = frame.shape[:2]
  return np.pad(frame, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")


class AnnotatedVideoWriter:
  """Writes uint8 RGB frames to an H.264 mp4 at `fps`, one output frame per input frame."""

  def __init__(self, path: str, fps, *, crf: int = 20):
    self.path = path
    self._container = av.open(path, mode="w")
    rate = fractions.Fraction(fps).limit_denominator(1001 * 1000)
    self._stream = self._container.add_stream("libx264", rate=rate)
    self._stream.pix_fmt = "yuv420p"
    self._stream.options = {"crf": str(crf)}
    self._started = False
    self.num_frames = 0

  def write(self, frame: np.ndarray) -> None:
    frame = even_frame(frame)
    if not self._started:
      self._stream.height, self._stream.width = frame.shape[:2]
      self._started = True
    video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
    video_frame.pts = self.num_frames
    for packet in self._stream.encode(video_frame):
      self._container.mux(packet)
    self.num_frames += 1

  def close(self) -> None:
    if self._started:
      for packet in self._stream.encode():
        self._container.mux(packet)
    self._container.close()
