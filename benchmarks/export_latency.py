r"""Latency per clip of the exported SavedModel against the in-process model, in one run.

  python -m benchmarks.export_latency [--sizes tiny,paper] [--repeats 5]

For each size a randomly initialised model of the config (tiny: configs/tiny_synthetic_cpu.config,
16x112x112, person-detector boxes; paper: configs/ava_tx_highres_64f_400.config, 64x400x400,
RPN with 300 proposals) is saved to a checkpoint and exported (video_tensor). Then the
in-process model (the serving module's tf.function, same graph) and the reloaded SavedModel's
`serving_default` signature run the same uint8 clip at the model's size, alternately; the median
seconds per clip of each and their ratio are printed, with the export time.
"""

import argparse
import statistics
import tempfile
import time

import numpy as np

from ava_tx.builders import export_builder
from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf
from ava_tx.export import exporter_lib

SIZES = {
  "tiny": ("configs/tiny_synthetic_cpu.config", ""),
  "paper": (
    "configs/ava_tx_highres_64f_400.config",
    'model { action_transformer { trunk { fine_tune_checkpoint: "" } } }',
  ),
}


def _clip_inputs(module, seed=0):
  rng = np.random.default_rng(seed)
  clip = rng.integers(0, 256, size=[1, module.num_frames, *module.image_size, 3], dtype=np.uint8)
  inputs = {"input_tensor": tf.constant(clip)}
  if module.takes_person_boxes:
    inputs["person_boxes"] = tf.constant(
      [[[0.1, 0.1, 0.8, 0.5], [0.2, 0.5, 0.9, 0.9], [0.3, 0.3, 0.6, 0.6]]], tf.float32
    )
    inputs["num_person_boxes"] = tf.constant([3], tf.int32)
  return inputs


def _export(config_path, override, directory):
  """Random model -> checkpoint -> export. Returns (module, seconds of the export)."""
  config = exporter_lib.load_config(config_path, override)
  keras.utils.set_random_seed(0)
  module = export_builder.build_inference_module(config, input_type="video_tensor")
  exporter_lib.build_variables(module)
  tf.train.Checkpoint(model=module.model).write(f"{directory}/train/ckpt-1")
  start = time.perf_counter()
  exporter_lib.export_inference_graph(
    input_type="video_tensor",
    pipeline_config_path=config_path,
    trained_checkpoint_dir=f"{directory}/train/ckpt-1",
    output_directory=f"{directory}/export",
    config_override=override,
  )
  return module, time.perf_counter() - start


def measure(size, repeats):
  config_path, override = SIZES[size]
  with tempfile.TemporaryDirectory() as directory:
    module, export_seconds = _export(config_path, override, directory)
    exporter_lib.restore_model(module, f"{directory}/train/ckpt-1")
    in_process = module.serving_function().get_concrete_function()
    saved = tf.saved_model.load(f"{directory}/export/saved_model").signatures["serving_default"]
    inputs = _clip_inputs(module)
    runners = {"in_process": in_process, "saved_model": saved}
    outputs = {name: run(**inputs) for name, run in runners.items()}  # warm-up
    difference = float(
      np.max(
        np.abs(
          outputs["in_process"]["detection_multiclass_scores"]
          - outputs["saved_model"]["detection_multiclass_scores"]
        )
      )
    )
    times = {name: [] for name in runners}
    for _ in range(repeats):
      for name, run in runners.items():
        start = time.perf_counter()
        run(**inputs)["num_detections"].numpy()
        times[name].append(time.perf_counter() - start)
  medians = {name: statistics.median(values) for name, values in times.items()}
  return dict(
    size=size,
    clip=f"{module.num_frames}x{module.image_size[0]}x{module.image_size[1]}",
    export_seconds=export_seconds,
    max_score_difference=difference,
    **medians,
  )


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sizes", default="tiny,paper")
  parser.add_argument("--repeats", type=int, default=5)
  args = parser.parse_args()
  print(
    "| model | clip | in-process s/clip | SavedModel s/clip | ratio | export s | max |score diff| |"
  )
  print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
  for size in args.sizes.split(","):
    r = measure(size, args.repeats)
    print(
      f"| {r['size']} | {r['clip']} | {r['in_process']:.4f} | {r['saved_model']:.4f} | "
      f"{r['saved_model'] / r['in_process']:.2f} | {r['export_seconds']:.1f} | "
      f"{r['max_score_difference']:.1e} |",
      flush=True,
    )


if __name__ == "__main__":
  main()
