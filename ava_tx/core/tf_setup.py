"""The one place that decides which Keras ava_tx uses.

tf-models-official (official.vision) is written for Keras 2 (`tf_keras`). Placing its layers
inside a Keras 3 model silently drops their variables, so ava_tx uses legacy Keras 2
everywhere. `TF_USE_LEGACY_KERAS=1` must be set before TensorFlow is first imported; every
ava_tx module imports TensorFlow and Keras from here:

    from ava_tx.core.tf_setup import tf, keras

It also quiets TensorFlow's C++ start-up logs, which a CPU user otherwise sees on every command
("failed call to cuInit", "Could not find cuda drivers", oneDNN and cpu_feature_guard notices):
TF_CPP_MIN_LOG_LEVEL, read once when TensorFlow loads, defaults to 3 (none) here, or to 0 (all)
when the command line holds `--verbose` (the flag of `ava_tx.core.command_line`; absl has not
parsed it yet, so sys.argv is read). A TF_CPP_MIN_LOG_LEVEL set in the environment wins.
"""

import os
import sys
from typing import Sequence

_TRUE = ("", "1", "t", "true", "y", "yes")


def verbose_in_argv(argv: Sequence[str]) -> bool:
  """Whether absl would set --verbose from argv (--verbose, --verbose=true, -verbose, ...; the
  last one wins; nothing after `--`)."""
  verbose = False
  for arg in argv[1:]:
    if arg == "--":
      break
    name, _, value = arg.lstrip("-").partition("=")
    if not arg.startswith("-"):
      continue
    if name == "verbose":
      verbose = value.lower() in _TRUE
    elif name == "noverbose" and not value:
      verbose = False
  return verbose


def tf_cpp_min_log_level(argv: Sequence[str]) -> str:
  """TF_CPP_MIN_LOG_LEVEL for a command run with argv: "0" with --verbose, else "3"."""
  return "0" if verbose_in_argv(argv) else "3"


if "tensorflow" in sys.modules and os.environ.get("TF_USE_LEGACY_KERAS") != "1":
  # TensorFlow was imported before us without the flag: tf.keras may already be Keras 3.
  # We still use tf_keras directly below, so ava_tx stays consistent; warn the caller.
  import warnings

  warnings.warn(
    "TensorFlow was imported before ava_tx without TF_USE_LEGACY_KERAS=1; ava_tx uses "
    "tf_keras (Keras 2) directly, but tf.keras in your code may be Keras 3.",
    stacklevel=2,
  )
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", tf_cpp_min_log_level(sys.argv))

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

__all__ = ["tf", "keras"]
