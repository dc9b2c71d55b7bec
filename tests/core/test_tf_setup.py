"""Keras is chosen in one place: legacy tf-keras, so official.vision layers keep their variables."""

import os
from pathlib import Path
import re
import subprocess
import sys

import pytest

from ava_tx.core import tf_setup
from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf


def test_legacy_keras_is_selected_before_tensorflow_loads():
  assert os.environ["TF_USE_LEGACY_KERAS"] == "1"
  assert keras.__name__ == "tf_keras"
  assert keras.__version__.startswith("2.")
  # tf.keras resolves to the same Keras 2 as ava_tx's layers.
  assert isinstance(tf.keras.layers.Dense(1), keras.layers.Layer)


def test_official_vision_layers_inside_an_ava_tx_model_are_fully_tracked(tmp_path):
  from official.vision.modeling.heads import dense_prediction_heads

  class Wrapper(keras.Model):
    """An ava_tx-style Keras model holding an official.vision RPN head."""

    def __init__(self):
      super().__init__()
      self.rpn_head = dense_prediction_heads.RPNHead(
        min_level=4,
        max_level=4,
        num_anchors_per_location=3,
        num_convs=1,
        num_filters=8,
        use_separable_conv=False,
        use_sync_bn=False,
      )

    def call(self, features, training=False):
      return self.rpn_head({"4": features}, training=training)

  model = Wrapper()
  scores, boxes = model(tf.zeros([1, 5, 5, 8]), training=False)
  assert scores["4"].shape == (1, 5, 5, 3) and boxes["4"].shape == (1, 5, 5, 12)
  # 3x3 conv, its batch norm, objectness and box convs: 4 layers x 2 trainable variables each.
  head_trainable = model.rpn_head.trainable_variables
  assert len(head_trainable) == 8
  assert {id(v) for v in head_trainable} <= {id(v) for v in model.trainable_variables}
  assert len(model.trainable_variables) == len(head_trainable)
  assert len(model.variables) == len(model.rpn_head.variables)
  # And the checkpoint sees every one of them.
  checkpointed = {
    name
    for name, _ in tf.train.list_variables(
      tf.train.Checkpoint(model=model).write(str(tmp_path / "tracked"))
    )
  }
  assert sum("rpn_head" in name and "VARIABLE_VALUE" in name for name in checkpointed) == len(
    model.rpn_head.variables
  )


@pytest.mark.parametrize(
  "argv, verbose",
  [
    (["cmd"], False),
    (["cmd", "--verbose"], True),
    (["cmd", "--verbose=true"], True),
    (["cmd", "-verbose"], True),
    (["cmd", "--verbose", "--noverbose"], False),
    (["cmd", "--verbose=false"], False),
    (["cmd", "--verbose_level=3"], False),
    (["cmd", "--", "--verbose"], False),
    (["cmd", "verbose"], False),
  ],
)
def test_verbose_is_read_from_argv_as_absl_would(argv, verbose):
  assert tf_setup.verbose_in_argv(argv) is verbose
  assert tf_setup.tf_cpp_min_log_level(argv) == ("0" if verbose else "3")


# TensorFlow's C++ start-up lines a CPU user would see on every command.
_NOISE = re.compile(
  r"failed call to cuInit|Could not find cuda drivers|oneDNN custom operations|"
  r"cpu_feature_guard|^\S+ \S+: [IWE] (tensorflow|external)/",
  re.M,
)


@pytest.mark.slow  # Two TensorFlow processes side by side: 25 s on the shared 2-core machine.
def test_tensorflow_start_up_logs_are_quiet_unless_verbose():
  """A real command that imports TensorFlow as it loads (--helpshort stops after parsing)."""
  env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
  env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
  command = [sys.executable, "-m", "data_tools.convert_i3d_checkpoint", "--helpshort"]
  runs = [
    subprocess.Popen(
      command + extra, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    for extra in ([], ["--verbose"])
  ]
  (quiet_out, quiet_err), (verbose_out, verbose_err) = [r.communicate(timeout=300) for r in runs]
  # absl's --helpshort prints the flags and exits (with status 1).
  assert "--final_endpoint" in quiet_out and "--final_endpoint" in verbose_out
  assert not _NOISE.search(quiet_err), quiet_err
  # With --verbose TensorFlow logs at every level (on CPU machines: no CUDA driver, CPU features).
  assert _NOISE.search(verbose_err), verbose_err
