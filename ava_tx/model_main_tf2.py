r"""Trains or evaluates an ava_tx model from a pipeline config (the Object Detection API's flags).

Training (resumes from the latest checkpoint in --model_dir when there is one):
  python -m ava_tx.model_main_tf2 --pipeline_config_path=configs/tiny_synthetic_cpu.config \
      --model_dir=workspace/models/tiny [--num_train_steps=N] [--checkpoint_every_n=N]

Evaluation of the checkpoints in --checkpoint_dir (once, or each new one until --eval_timeout):
  python -m ava_tx.model_main_tf2 --pipeline_config_path=... --model_dir=workspace/models/tiny \
      --checkpoint_dir=workspace/models/tiny [--wait_for_checkpoints --eval_timeout=3600]

Multi-worker: set TF_CONFIG on every worker; MultiWorkerMirroredStrategy is then selected.
"""

import json
import logging

from absl import app
from absl import flags

from ava_tx.core import command_line

flags.DEFINE_string("pipeline_config_path", None, "Path to the pipeline.config file.")
flags.DEFINE_string("model_dir", None, "Where checkpoints, summaries and eval output are written.")
flags.DEFINE_integer("num_train_steps", None, "Training steps (overrides train_config.num_steps).")
flags.DEFINE_string("checkpoint_dir", None, "If set, evaluate the checkpoints in this directory "
                    "instead of training.")
flags.DEFINE_bool("wait_for_checkpoints", False, "With --checkpoint_dir: keep evaluating new "
                  "checkpoints as they appear (until --eval_timeout without one).")
flags.DEFINE_integer("eval_timeout", 3600, "Seconds to wait for a new checkpoint.")
flags.DEFINE_integer("sample_1_of_n_eval_examples", None, "Evaluate one example in N.")
flags.DEFINE_integer("checkpoint_every_n", None, "Checkpoint every N steps (overrides the config).")
flags.DEFINE_bool("record_summaries", True, "Write TensorBoard summaries during training.")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
  from ava_tx import model_lib  # Imported after flag parsing: loading TensorFlow is slow.
  if FLAGS.checkpoint_dir:
    results = model_lib.evaluate(
        pipeline_config_path=FLAGS.pipeline_config_path, model_dir=FLAGS.model_dir,
        checkpoint_dir=FLAGS.checkpoint_dir,
        sample_1_of_n_examples=FLAGS.sample_1_of_n_eval_examples,
        wait=FLAGS.wait_for_checkpoints, eval_timeout=FLAGS.eval_timeout)
    for step, metrics in results:
      summary = {k: round(v, 4) for k, v in metrics.items()
                 if "mAP" in k or "Localization" in k or "max_detections" in k}
      print(f"step {step}: {json.dumps(summary, sort_keys=True)}")
    return 0
  result = model_lib.train(
      pipeline_config_path=FLAGS.pipeline_config_path, model_dir=FLAGS.model_dir,
      num_train_steps=FLAGS.num_train_steps, checkpoint_every_n=FLAGS.checkpoint_every_n,
      record_summaries=FLAGS.record_summaries)
  print(f"trained to step {result.global_step}: total loss "
        f"{result.losses.get('Loss/total_loss', float('nan')):.4f}, "
        f"{result.steps_per_sec:.2f} steps/s, checkpoint {result.checkpoint_path}")
  return 0


def run_guarded(argv, main_fn=main) -> int:
  """Runs `main_fn(argv)`; errors in the user's input become one stderr line and exit 1
  (`command_line.run_guarded`; --verbose adds the traceback)."""
  return command_line.run_guarded("model_main_tf2", main_fn, argv)


def run():
  """Console-script entry point; errors in the user's input exit 1 with a one-line message."""
  flags.mark_flags_as_required(["pipeline_config_path", "model_dir"])
  app.run(run_guarded)


if __name__ == "__main__":
  run()
