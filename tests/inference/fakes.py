"""A fake detector with known outputs, for the predict tests (no TensorFlow)."""

import numpy as np

from ava_tx.inference import detector as detector_lib

LABEL_MAP = ((11, "sit"), (12, "stand"))
BOXES = np.array([[0.1, 0.2, 0.6, 0.5], [0.3, 0.4, 0.9, 0.8]], np.float32)


def fake_info(*, num_frames=4, frame_stride=2, uses_person_boxes=False, **kwargs):
  return detector_lib.ModelInfo(
    num_frames=num_frames,
    frame_stride=frame_stride,
    image_height=16,
    image_width=16,
    uses_person_boxes=uses_person_boxes,
    num_classes=len(LABEL_MAP),
    label_map=LABEL_MAP,
    **kwargs,
  )


class FakeDetector:
  """Two detections per clip (or the given person boxes). Scores encode the clip: the first
  class's probability is the mean of the keyframe frame (position num_frames // 2) / 255, the
  second class's is 1 minus that; person scores 0.9, 0.3, 0.2, ... Records every call."""

  def __init__(self, info=None):
    self.info = info or fake_info()
    self.calls = []

  def __call__(self, frames, person_boxes=None, num_person_boxes=None):
    frames = np.asarray(frames)
    assert frames.dtype == np.uint8 and frames.ndim == 5 and frames.shape[-1] == 3
    assert frames.shape[1] == self.info.num_frames
    self.calls.append(frames)
    batch = frames.shape[0]
    if self.info.uses_person_boxes:
      boxes = np.asarray(person_boxes, np.float32)
      counts = np.asarray(num_person_boxes, np.int32)
    else:
      boxes = np.broadcast_to(BOXES, (batch,) + BOXES.shape).copy()
      counts = np.full([batch], len(BOXES), np.int32)
    width = boxes.shape[1]
    key_mean = frames[:, self.info.num_frames // 2].reshape(batch, -1).mean(axis=1) / 255.0
    first = np.repeat(key_mean[:, None], width, axis=1).astype(np.float32)
    multiclass = np.stack([first, 1.0 - first], axis=-1)
    person = np.tile(
      np.array([0.9, 0.3] + [0.2] * max(0, width - 2), np.float32)[:width], (batch, 1)
    )
    return {
      "detection_boxes": boxes,
      "detection_scores": person,
      "detection_multiclass_scores": multiclass,
      "detection_classes": np.full([batch, width], LABEL_MAP[0][0], np.float32),
      "num_detections": counts.astype(np.float32),
    }


class FakeAttentionDetector(FakeDetector):
  """FakeDetector plus seeded attention [b, d, 2 layers, 2 heads, 2, 3, 4] (each map sums to 1)
  and key embeddings [b, 2, 2, 2, 3, 4, 5]."""

  def __init__(self, info=None):
    super().__init__(
      info
      or fake_info(num_frames=8, frame_stride=2, export_attention=True, num_layers=2, num_heads=2)
    )

  def __call__(self, frames, person_boxes=None, num_person_boxes=None):
    outputs = super().__call__(frames, person_boxes, num_person_boxes)
    batch, width = outputs["detection_scores"].shape
    rng = np.random.default_rng(0)
    logits = rng.normal(size=[batch, width, 2, 2, 2 * 3 * 4])
    weights = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    outputs["detection_attention_weights"] = weights.reshape([batch, width, 2, 2, 2, 3, 4]).astype(
      np.float32
    )
    outputs["attention_key_embeddings"] = rng.normal(size=[batch, 2, 2, 2, 3, 4, 5]).astype(
      np.float32
    )
    return outputs
