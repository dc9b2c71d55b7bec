r"""Prints parameter counts of the paper-size second-stage heads (no big compute).

  python -m benchmarks.count_head_parameters [--sections=heads]

Section `heads`: Tx HighRes, Tx LowRes and I3D heads (and Tx+I3D) for the paper's trunk map,
I3D Mixed_4f [batch_size, 16, 25, 25, 832], 80 classes + 1 background logit, class-agnostic
boxes, 300 proposals. Each head is built by tracing its call on TensorSpecs
(tf.function.get_concrete_function): variables get created, nothing is computed.
"""

from absl import app
from absl import flags

from ava_tx.core.tf_setup import tf
from ava_tx.layers import action_transformer
from ava_tx.layers import i3d_head
from ava_tx.layers import tx_i3d_head
from ava_tx.trunks import i3d

FLAGS = flags.FLAGS
flags.DEFINE_list("sections", ["heads"], "Sections to print: heads.")

PAPER_FEATURES = tf.TensorSpec([1, 16, 25, 25, 832], tf.float32)
PAPER_BOXES = tf.TensorSpec([1, 300, 4], tf.float32)
PAPER_NUM_LOGITS = 80 + 1


def _count(variables):
  return sum(int(v.shape.num_elements()) for v in variables)


def build_symbolically(head, features_spec=PAPER_FEATURES, boxes_spec=PAPER_BOXES):
  """Traces head(features, boxes, training=False) on specs; returns the output specs."""
  function = tf.function(lambda f, b: head(f, b, training=False))
  concrete = function.get_concrete_function(features_spec, boxes_spec)
  return {k: v.shape.as_list() for k, v in concrete.structured_outputs.items()}


def paper_heads():
  """Returns name -> paper-size head (unbuilt)."""
  def mixed5():
    return i3d.InceptionI3D(first_endpoint="MaxPool3d_5a_2x2", final_endpoint="Mixed_5c")
  return {
      "Tx HighRes": action_transformer.ActionTransformerHead(
          num_logits=PAPER_NUM_LOGITS, query_preprocessor=action_transformer.HIGHRES),
      "Tx LowRes": action_transformer.ActionTransformerHead(
          num_logits=PAPER_NUM_LOGITS, query_preprocessor=action_transformer.LOWRES),
      "I3D": i3d_head.I3DHead(num_logits=PAPER_NUM_LOGITS, mixed5_block=mixed5()),
      "Tx+I3D (HighRes)": tx_i3d_head.TxI3DHead(
          num_logits=PAPER_NUM_LOGITS, mixed5_block=mixed5()),
  }


def _breakdown(head):
  """Trainable parameters per direct sub-layer group of a head."""
  groups = {}
  for var in head.trainable_variables:
    # Variable names look like "<head>/<sublayer>/.../kernel:0".
    parts = var.name.split("/")
    key = parts[1] if len(parts) > 2 else parts[0]
    if key.startswith("tx_layer"):
      key = "tx_units (K,V,Q projections, FFN, LayerNorms)"
    groups[key] = groups.get(key, 0) + int(var.shape.num_elements())
  return groups


def print_heads():
  """Prints the `heads` section."""
  print("== heads: trunk map [1, 16, 25, 25, 832], 300 proposals, 81 logits, class-agnostic ==")
  totals = {}
  for name, head in paper_heads().items():
    outputs = build_symbolically(head)
    trainable = _count(head.trainable_variables)
    frozen = _count(head.non_trainable_variables)
    totals[name] = trainable
    print(f"{name}: trainable {trainable:,}  non-trainable (BN moving statistics) {frozen:,}")
    for group, count in sorted(_breakdown(head).items()):
      print(f"    {group:50s} {count:>10,}")
    print(f"    outputs: {outputs}")
  gap = totals["I3D"] - totals["Tx LowRes"]
  print(f"I3D - Tx LowRes = {gap:,} trainable parameters ({gap / 1e6:.2f}M; the paper: 2.3M)")
  print(f"Tx HighRes - Tx LowRes = {totals['Tx HighRes'] - totals['Tx LowRes']:,}")


def main(argv):
  del argv
  sections = {"heads": print_heads}
  for section in FLAGS.sections:
    if section not in sections:
      raise app.UsageError(f"--sections: unknown section {section!r}; known: {list(sections)}.")
    sections[section]()


if __name__ == "__main__":
  app.run(main)
