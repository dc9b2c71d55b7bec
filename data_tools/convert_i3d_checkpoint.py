r"""Converts DeepMind's kinetics-i3d TF1 checkpoint into a TF2 checkpoint for ava_tx.

  python -m data_tools.convert_i3d_checkpoint \
      --checkpoint DIR/rgb_imagenet/model.ckpt --output_dir OUT [--final_endpoint Mixed_5c]

Writes OUT/i3d.{index,data-00000-of-00001}, an object-based checkpoint with one key per I3D
endpoint (see ava_tx.trunks.i3d_checkpoint), which a pipeline config's fine-tune checkpoint
points at. Prints what was converted, renamed, reshaped and ignored.
"""

import sys

from absl import app
from absl import flags

from ava_tx.core import command_line
from ava_tx.core import errors
from ava_tx.trunks import i3d
from ava_tx.trunks import i3d_checkpoint

_CHECKPOINT = flags.DEFINE_string(
    "checkpoint", None, "DeepMind TF1 checkpoint prefix (e.g. data/checkpoints/rgb_imagenet/"
    "model.ckpt) or the directory holding it.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Directory for the TF2 checkpoint.")
_FINAL_ENDPOINT = flags.DEFINE_enum(
    "final_endpoint", "Mixed_5c", list(i3d.ENDPOINTS),
    "Last I3D endpoint to convert (Mixed_5c serves both the trunk and the I3D head).")
_SCOPE = flags.DEFINE_string("scope", i3d_checkpoint.DEEPMIND_SCOPE,
                             "Variable scope of the I3D inside the checkpoint.")


def run(*, checkpoint: str, output_dir: str, final_endpoint: str = "Mixed_5c",
        scope: str = i3d_checkpoint.DEEPMIND_SCOPE) -> i3d_checkpoint.ConversionResult:
  """Converts and prints a summary; returns the ConversionResult."""
  result = i3d_checkpoint.convert_checkpoint(checkpoint, output_dir,
                                             final_endpoint=final_endpoint, scope=scope)
  mapping = result.mapping
  print(f"Converted {len(mapping.checkpoint_to_trunk)} variables "
        f"({result.num_parameters:,} values) of {checkpoint} up to {final_endpoint}.")
  for name in mapping.renamed:
    print(f"  renamed (release naming quirk): {name} -> {mapping.checkpoint_to_trunk[name]}")
  for name in mapping.reshaped:
    print(f"  reshaped to a vector: {name}")
  for name in mapping.ignored:
    print(f"  ignored (not a trunk variable): {name}")
  print(f"Wrote {result.output_path}")
  return result


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  try:
    run(checkpoint=_CHECKPOINT.value, output_dir=_OUTPUT_DIR.value,
        final_endpoint=_FINAL_ENDPOINT.value, scope=_SCOPE.value)
  except errors.USER_ERRORS as e:
    sys.exit(f"convert_i3d_checkpoint: error: {e}")


if __name__ == "__main__":
  flags.mark_flags_as_required(["checkpoint", "output_dir"])
  app.run(command_line.guarded("convert_i3d_checkpoint", main))
