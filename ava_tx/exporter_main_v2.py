r"""Exports a trained checkpoint as a SavedModel (the Object Detection API's exporter flags).

  python -m ava_tx.exporter_main_v2 --input_type video_tensor \
      --pipeline_config_path workspace/models/tiny_synthetic/pipeline.config \
      --trained_checkpoint_dir workspace/models/tiny_synthetic \
      --output_directory workspace/exported/tiny_synthetic [--export_attention] \
      [--config_override 'model { action_transformer { post_processing { max_detections: 8 } } }']

Writes OUTPUT_DIRECTORY/saved_model (signature `serving_default`, and
assets.extra/export_info.json), OUTPUT_DIRECTORY/checkpoint and OUTPUT_DIRECTORY/pipeline.config.
Input types: video_tensor (uint8 [batch, T, H, W, 3], any H and W), encoded_frames (string
[batch, T] JPEG/PNG frames), tf_example (serialized SequenceExamples [batch]). See docs/EXPORT.md.
"""

import json
import logging

from absl import flags

from ava_tx.core import command_line

FLAGS = flags.FLAGS


@command_line.flag_definitions
def define_flags():
  flags.DEFINE_enum(
    "input_type",
    "video_tensor",
    ["video_tensor", "encoded_frames", "tf_example"],
    "What the signature's input_tensor holds.",
  )
  flags.DEFINE_string("pipeline_config_path", None, "Path to the pipeline.config of the model.")
  flags.DEFINE_string(
    "trained_checkpoint_dir",
    None,
    "Training directory (its latest checkpoint is exported) or a ckpt-N prefix.",
  )
  flags.DEFINE_string(
    "output_directory", None, "Where saved_model/, checkpoint/ and pipeline.config are written."
  )
  flags.DEFINE_string(
    "config_override",
    "",
    "Text-format pipeline config merged into "
    "--pipeline_config_path's (e.g. post-processing settings).",
  )
  flags.DEFINE_bool(
    "export_attention",
    False,
    "Also output the Action Transformer's attention "
    "weights and keys (detection_attention_weights, attention_key_embeddings).",
  )


def main(argv):
  del argv
  logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
  from ava_tx.export import exporter_lib  # After flag parsing: loading TensorFlow is slow.

  info = exporter_lib.export_inference_graph(
    input_type=FLAGS.input_type,
    pipeline_config_path=FLAGS.pipeline_config_path,
    trained_checkpoint_dir=FLAGS.trained_checkpoint_dir,
    output_directory=FLAGS.output_directory,
    config_override=FLAGS.config_override,
    export_attention=FLAGS.export_attention,
  )
  summary = {
    k: info[k]
    for k in (
      "input_type",
      "num_frames",
      "image_height",
      "image_width",
      "uses_person_boxes",
      "export_attention",
      "checkpoint_step",
    )
  }
  print(f"exported to {FLAGS.output_directory}: {json.dumps(summary)}")
  return 0


def run():
  command_line.run_program(
    "exporter_main_v2",
    main,
    define_flags=define_flags,
    required_flags=["pipeline_config_path", "trained_checkpoint_dir", "output_directory"],
  )


if __name__ == "__main__":
  run()
