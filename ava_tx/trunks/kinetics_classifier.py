"""The converted Kinetics-400 I3D as a video classifier (DeepMind's evaluate_sample.py).

`load_classifier` restores every endpoint up to Logits from a converted checkpoint;
`classify` returns softmax probabilities; `top_k` pairs them with label names read from a text
file (one class name a line, in the order of the logits; DeepMind's `label_map.txt`).
"""

import os

import numpy as np

from ava_tx.core import errors
from ava_tx.core.tf_setup import tf
from ava_tx.trunks import i3d
from ava_tx.trunks import i3d_checkpoint

LABEL_MAP_NAME = "kinetics400_label_map.txt"


def read_label_names(path: str, num_classes: int = i3d.KINETICS_NUM_CLASSES) -> list[str]:
  """Class names, one a line (blank lines at the end ignored); exactly num_classes of them."""
  if not os.path.isfile(path):
    raise FileNotFoundError(
      f"No Kinetics label file at {path}: pass --label_map_path (DeepMind's kinetics-i3d "
      "data/label_map.txt, 400 names one a line) here or to fetch_kinetics_i3d."
    )
  try:
    with open(path, encoding="utf-8") as f:
      names = [line.strip() for line in f.read().rstrip("\n").split("\n")]
  except UnicodeDecodeError as e:
    raise errors.InputError(
      f"{path}: not a UTF-8 text file of class names ({e.reason} at byte {e.start})"
    ) from None
  if len(names) != num_classes or not all(names):
    raise errors.InputError(
      f"{path}: expected {num_classes} non-empty class names, one a line; "
      f"got {len(names)} lines ({sum(not n for n in names)} empty)."
    )
  return names


def load_classifier(checkpoint: str) -> i3d.InceptionI3D:
  """The full I3D up to Logits (400 classes), restored from a converted checkpoint prefix or
  its directory. Raises InputError if the checkpoint has no Logits (converted up to Mixed_5c)."""
  model = i3d.InceptionI3D(final_endpoint=i3d.LOGITS_ENDPOINT)
  model.build([None, None, None, None, i3d.INPUT_CHANNELS])
  i3d_checkpoint.restore_endpoints(checkpoint, model.endpoint_layers())
  return model


def classify(model: i3d.InceptionI3D, clip: np.ndarray) -> np.ndarray:
  """float32 [num_frames, height, width, 3] in [-1, 1] -> float32 [num_classes] probabilities."""
  logits = model(tf.convert_to_tensor(clip[np.newaxis]), training=False)[i3d.LOGITS_ENDPOINT]
  return tf.nn.softmax(logits[0]).numpy()


def top_k(probabilities: np.ndarray, names: list[str], k: int = 5) -> list[tuple[str, float]]:
  """The k most probable (name, probability), most probable first."""
  order = np.argsort(-probabilities, kind="stable")[:k]
  return [(names[i], float(probabilities[i])) for i in order]
