r"""Prints parameter counts of the model's parts (variables only, no big computation).

  python -m benchmarks.count_parameters [--sections=trunk,heads]

Section `trunk`: the I3D stem..Mixed_4f (the paper's trunk), stem..Mixed_5c (the whole I3D) and
the tail MaxPool3d_5a_2x2..Mixed_5c (what the I3D head adds).

Section `heads`: the second-stage heads exactly as the paper-size configs build them
(ava_tx.builders.model_builder.build_head on configs/ava_tx_highres_64f_400.config, ..._lowres_...,
ava_i3d_head_... and ava_tx_plus_i3d_...): trunk map [1, 16, 25, 25, 832], 80 classes + 1
background logit, class-agnostic boxes, 300 proposals. Each head is built by tracing its call on
TensorSpecs (tf.function.get_concrete_function): variables are created, nothing is computed.
Then the Tx LowRes vs I3D head gap (the paper, Sec. 4.1: the LowRes Tx head has 2.3M fewer
parameters than the I3D head).

"trainable" excludes batch-norm moving statistics; "total" includes them.
"""

import os
from typing import Callable, Iterable

from absl import app
from absl import flags

from ava_tx.builders import config_util
from ava_tx.builders import model_builder
from ava_tx.core import command_line
from ava_tx.core.tf_setup import tf
from ava_tx.trunks import i3d

FLAGS = flags.FLAGS


@command_line.flag_definitions
def define_flags():
  flags.DEFINE_list("sections", ["trunk", "heads"], "Sections to print: trunk, heads.")


Row = tuple[str, int, int]

_CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
PAPER_HEAD_CONFIGS = {
  "Tx HighRes": "ava_tx_highres_64f_400.config",
  "Tx LowRes": "ava_tx_lowres_64f_400.config",
  "I3D head": "ava_i3d_head_64f_400.config",
  "Tx+I3D": "ava_tx_plus_i3d_64f_400.config",
}
PAPER_FEATURES = tf.TensorSpec([1, 16, 25, 25, 832], tf.float32)
PAPER_BOXES = tf.TensorSpec([1, 300, 4], tf.float32)


def count(layer) -> tuple[int, int]:
  """(trainable, total) parameter counts of a built layer."""
  trainable = sum(int(v.shape.num_elements()) for v in layer.trainable_weights)
  total = sum(int(v.shape.num_elements()) for v in layer.weights)
  return trainable, total


def trunk_rows() -> Iterable[Row]:
  """The I3D trunk (stem..Mixed_4f), the full I3D (stem..Mixed_5c) and its tail."""
  for label, first, final, channels in [
    ("I3D trunk, Conv3d_1a_7x7..Mixed_4f", i3d.ENDPOINTS[0], "Mixed_4f", 3),
    ("I3D, Conv3d_1a_7x7..Mixed_5c", i3d.ENDPOINTS[0], "Mixed_5c", 3),
    ("I3D tail, MaxPool3d_5a_2x2..Mixed_5c", "MaxPool3d_5a_2x2", "Mixed_5c", 832),
  ]:
    model = i3d.InceptionI3D(first_endpoint=first, final_endpoint=final)
    model.build([None, None, None, None, channels])
    yield (label, *count(model))
  shape = i3d.InceptionI3D().compute_output_shape([1, 64, 400, 400, 3])["Mixed_4f"]
  print(f"  (Mixed_4f for a 64x400x400 clip: {shape.as_list()})")


def build_paper_head(config_name):
  """The second-stage head of configs/<config_name>, built on the paper-size specs."""
  config = config_util.load_pipeline_config(os.path.join(_CONFIG_DIR, config_name))
  head = model_builder.build_head(config.model.action_transformer)
  function = tf.function(lambda f, b: head(f, b, training=False))
  function.get_concrete_function(PAPER_FEATURES, PAPER_BOXES)
  return head


def breakdown(head) -> dict[str, int]:
  """Trainable parameters per direct sub-layer of a head (Tx units grouped)."""
  groups = {}
  for var in head.trainable_variables:
    # Variable names look like "<head>/<sublayer>/.../kernel:0".
    parts = var.name.split("/")
    key = parts[1] if len(parts) > 2 else parts[0]
    if key.startswith("tx_layer"):
      key = "tx_units (Q, K, V projections, FFN, LayerNorms)"
    groups[key] = groups.get(key, 0) + int(var.shape.num_elements())
  return groups


_head_totals: dict[str, int] = {}


def head_rows() -> Iterable[Row]:
  """The paper-size heads of the four paper configs, with a per-sub-layer breakdown."""
  print(
    f"  (heads on trunk map {PAPER_FEATURES.shape.as_list()}, boxes "
    f"{PAPER_BOXES.shape.as_list()}, 81 logits, class-agnostic boxes)"
  )
  for label, config_name in PAPER_HEAD_CONFIGS.items():
    head = build_paper_head(config_name)
    trainable, total = count(head)
    _head_totals[label] = trainable
    yield (f"{label} ({config_name})", trainable, total)
    for group, value in sorted(breakdown(head).items()):
      print(f"      {group:<50} {value:>12,}")


def head_gap_rows() -> Iterable[Row]:
  """I3D head - Tx LowRes and Tx HighRes - Tx LowRes (trainable), from the `heads` section."""
  if "I3D head" not in _head_totals:
    _head_totals.update(
      {label: count(build_paper_head(name))[0] for label, name in PAPER_HEAD_CONFIGS.items()}
    )
  gap = _head_totals["I3D head"] - _head_totals["Tx LowRes"]
  print(f"  I3D head - Tx LowRes = {gap:,} trainable ({gap / 1e6:.2f}M; the paper says 2.3M)")
  yield ("I3D head - Tx LowRes", gap, gap)
  yield (
    "Tx HighRes - Tx LowRes",
    _head_totals["Tx HighRes"] - _head_totals["Tx LowRes"],
    _head_totals["Tx HighRes"] - _head_totals["Tx LowRes"],
  )


SECTIONS: dict[str, list[tuple[str, Callable[[], Iterable[Row]]]]] = {
  "trunk": [("Trunk", trunk_rows)],
  "heads": [("Paper-size heads", head_rows), ("Head gaps", head_gap_rows)],
}


def main(argv):
  del argv
  for section in FLAGS.sections:
    if section not in SECTIONS:
      raise app.UsageError(f"--sections: unknown section {section!r}; known: {list(SECTIONS)}.")
  print(f"{'part':<52} {'trainable':>12} {'total':>12}")
  for section in FLAGS.sections:
    for title, rows in SECTIONS[section]:
      print(f"[{title}]")
      for label, trainable, total in rows():
        print(f"{label:<52} {trainable:>12,} {total:>12,}")


if __name__ == "__main__":
  define_flags()
  app.run(main)
