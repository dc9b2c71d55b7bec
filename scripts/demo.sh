#!/usr/bin/env bash
# The main job on the embedded default data (provisional: runs the I3D trunk on a random clip
# and prints its endpoint shapes; becomes generate -> convert -> train -> evaluate).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python - <<'PY'
from ava_tx.core.tf_setup import tf
from ava_tx.trunks.i3d import InceptionI3D
trunk = InceptionI3D(final_endpoint="Mixed_4f", depth_multiplier=0.25)
clip = tf.random.uniform([1, 16, 112, 112, 3], -1.0, 1.0, seed=0)
for name, value in trunk(clip, training=False).items():
  print(f"{name:18s} {value.shape}")
PY
