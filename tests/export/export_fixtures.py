"""Inputs for the export tests: a tiny model config, a label map, clips and SequenceExamples."""

import numpy as np

from ava_tx.core import standard_fields
from ava_tx.core.tf_setup import tf

KEYS = standard_fields.SequenceExampleKeys
# The tiny config shrunk further: 8 frames of 64x64, I3D at 1/8 width (Mixed_4f: 2x4x4).
TINY_OVERRIDE = """
model { action_transformer {
  num_frames: 8 image_height: 64 image_width: 64
  trunk { depth_multiplier: 0.125 min_depth: 8 }
} }
eval_input_reader { label_map_path: "%s" }
"""
# Label-map ids of the tiny model's 11 classes (not 1..11, so the id mapping is tested).
CLASS_IDS = [1, 3, 5, 8, 11, 12, 14, 17, 20, 49, 80]
BOXES = np.array(
  [
    [[0.1, 0.1, 0.8, 0.5], [0.2, 0.55, 0.9, 0.95], [0.0, 0.0, 0.0, 0.0]],
    [[0.3, 0.2, 0.7, 0.6], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]],
  ],
  np.float32,
)
NUM_BOXES = np.array([2, 1], np.int32)


def write_label_map(path):
  path.write_text("".join(f'item {{ name: "action {i}" id: {i} }}\n' for i in CLASS_IDS))
  return [[i, f"action {i}"] for i in CLASS_IDS]


def video(num_frames=8, height=40, width=56, seed=0):
  """uint8 [2, num_frames, height, width, 3], smooth random content."""
  rng = np.random.default_rng(seed)
  coarse = rng.integers(0, 256, size=[2, num_frames, 5, 7, 3]).astype(np.float32)
  smooth = tf.image.resize(coarse.reshape(-1, 5, 7, 3), [height, width]).numpy()
  return np.clip(smooth, 0, 255).astype(np.uint8).reshape(2, num_frames, height, width, 3)


def encode_png(frames):
  """uint8 [..., h, w, 3] -> object array [...] of PNG bytes."""
  flat = frames.reshape(-1, *frames.shape[-3:])
  encoded = np.array([tf.io.encode_png(f).numpy() for f in flat], dtype=object)
  return encoded.reshape(frames.shape[:-3])


def sequence_example(stored_frames, keyframe_index, proposals, video_id="v"):
  """A SequenceExample as the converter writes it (PNG frames, detector boxes, no labels)."""
  example = tf.train.SequenceExample()
  context = example.context.feature

  def put(key, kind, values):
    getattr(context[key], kind).value.extend(values)

  put(KEYS.example_id, "bytes_list", [f"{video_id},0902".encode()])
  put(KEYS.clip_media_id, "bytes_list", [video_id.encode()])
  put(KEYS.clip_keyframe_timestamp, "int64_list", [902])
  put(KEYS.clip_keyframe_index, "int64_list", [keyframe_index])
  put(KEYS.clip_frame_rate, "float_list", [30.0])
  put(KEYS.image_height, "int64_list", [stored_frames.shape[1]])
  put(KEYS.image_width, "int64_list", [stored_frames.shape[2]])
  for i, key in enumerate(
    (
      KEYS.proposal_bbox_ymin,
      KEYS.proposal_bbox_xmin,
      KEYS.proposal_bbox_ymax,
      KEYS.proposal_bbox_xmax,
    )
  ):
    put(key, "float_list", [float(b[i]) for b in proposals])
  put(KEYS.proposal_score, "float_list", [0.9] * len(proposals))
  frames = example.feature_lists.feature_list[KEYS.image_encoded]
  for data in encode_png(stored_frames):
    frames.feature.add().bytes_list.value.append(data)
  return example.SerializeToString()
