"""Reads back the TensorBoard summaries a training run wrote (for the training tests)."""

import os

from ava_tx.core.tf_setup import tf
from ava_tx.training import train_loop


def read_summaries(model_dir):
  """{tag: {step: the summary Value proto}} of everything under MODEL_DIR/train."""
  values = {}
  train_dir = os.path.join(str(model_dir), train_loop.TRAIN_SUMMARY_SUBDIR)
  for name in os.listdir(train_dir):
    for event in tf.compat.v1.train.summary_iterator(os.path.join(train_dir, name)):
      for value in event.summary.value:
        values.setdefault(value.tag, {})[event.step] = value
  return values


def scalar(value) -> float:
  """The float of a scalar summary Value."""
  return float(tf.make_ndarray(value.tensor))
