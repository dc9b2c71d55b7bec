"""Keras is chosen in one place: legacy tf-keras, so official.vision layers keep their variables."""

import os

from ava_tx.core.tf_setup import keras, tf


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
          min_level=4, max_level=4, num_anchors_per_location=3, num_convs=1, num_filters=8,
          use_separable_conv=False, use_sync_bn=False)

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
  checkpointed = {name for name, _ in tf.train.list_variables(
      tf.train.Checkpoint(model=model).write(str(tmp_path / "tracked")))}
  assert sum("rpn_head" in name and "VARIABLE_VALUE" in name for name in checkpointed) == len(
      model.rpn_head.variables)
