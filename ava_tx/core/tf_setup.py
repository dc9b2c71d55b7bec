"""The one place that decides which Keras ava_tx uses.

tf-models-official (official.vision) is written for Keras 2 (`tf_keras`). Placing its layers
inside a Keras 3 model silently drops their variables, so ava_tx uses legacy Keras 2
everywhere. `TF_USE_LEGACY_KERAS=1` must be set before TensorFlow is first imported; every
ava_tx module imports TensorFlow and Keras from here:

    from ava_tx.core.tf_setup import tf, keras
"""

import os

if "tensorflow" in __import__("sys").modules and os.environ.get("TF_USE_LEGACY_KERAS") != "1":
  # TensorFlow was imported before us without the flag: tf.keras may already be Keras 3.
  # We still use tf_keras directly below, so ava_tx stays consistent; warn the caller.
  import warnings
  warnings.warn(
      "TensorFlow was imported before ava_tx without TF_USE_LEGACY_KERAS=1; ava_tx uses "
      "tf_keras (Keras 2) directly, but tf.keras in your code may be Keras 3.",
      stacklevel=2)
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

__all__ = ["tf", "keras"]
