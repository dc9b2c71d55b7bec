r"""Trains or evaluates an ava_tx model from a pipeline config (the Object Detection API's flags).

Training (resumes from the latest checkpoint in --model_dir when there is one):
  python -m ava_tx.model_main_tf2 --pipeline_config_path=configs/tiny_synthetic_cpu.config \
      --model_dir=workspace/models/tiny [--num_train_steps=N] [--checkpoint_every_n=N]

Evaluation of the checkpoints in --checkpoint_dir, as the Object Detection API does: each new
checkpoint as it appears, until --eval_timeout seconds pass without one or the checkpoint of the
config's last training step was evaluated; --eval_once evaluates the latest checkpoint and stops:
  python -m ava_tx.model_main_tf2 --pipeline_config_path=... --model_dir=workspace/models/tiny \
      --checkpoint_dir=workspace/models/tiny [--eval_once | --eval_timeout=3600]

Multi-worker: set TF_CONFIG on every worker; MultiWorkerMirroredStrategy is then selected.
"""

import json
import logging
from typing import Optional

from absl import flags

from ava_tx.core import command_line
from ava_tx.core import errors

FLAGS = flags.FLAGS


@command_line.flag_definitions
def define_flags():
  flags.DEFINE_string("pipeline_config_path", None, "Path to the pipeline.config file.")
  flags.DEFINE_string(
    "model_dir", None, "Where checkpoints, summaries and eval output are written."
  )
  flags.DEFINE_integer(
    "num_train_steps", None, "Training steps (overrides train_config.num_steps)."
  )
  flags.DEFINE_string(
    "checkpoint_dir",
    None,
    "If set, evaluate the checkpoints in this directory instead of training.",
  )
  flags.DEFINE_bool(
    "eval_once",
    False,
    "With --checkpoint_dir: evaluate the latest checkpoint "
    "once and stop (default: each new checkpoint until --eval_timeout).",
  )
  flags.DEFINE_integer(
    "eval_timeout",
    3600,
    "With --checkpoint_dir: stop after this many seconds without a new checkpoint.",
  )
  flags.DEFINE_bool(
    "wait_for_checkpoints",
    None,
    "Deprecated: continuous evaluation is now the "
    "default; --nowait_for_checkpoints is --eval_once.",
  )
  flags.DEFINE_integer("sample_1_of_n_eval_examples", None, "Evaluate one example in N.")
  flags.DEFINE_integer(
    "checkpoint_every_n", None, "Checkpoint every N steps (overrides the config)."
  )
  flags.DEFINE_bool("record_summaries", True, "Write TensorBoard summaries during training.")


def continuous_evaluation(*, eval_once: bool, wait_for_checkpoints: Optional[bool]) -> bool:
  """Whether --checkpoint_dir follows new checkpoints (the default) or evaluates once.

  The old flag still works: --wait_for_checkpoints is the default, --nowait_for_checkpoints
  means --eval_once (a warning names the new flag).
  """
  if wait_for_checkpoints is None:
    return not eval_once
  replacement = "--eval_once" if not wait_for_checkpoints else "nothing (the default)"
  if eval_once and wait_for_checkpoints:
    raise errors.InputError(
      "--eval_once and --wait_for_checkpoints contradict each other; "
      "--wait_for_checkpoints is deprecated (continuous evaluation is "
      "the default): drop it"
    )
  logging.warning(
    "--%swait_for_checkpoints is deprecated: use %s",
    "" if wait_for_checkpoints else "no",
    replacement,
  )
  return bool(wait_for_checkpoints) and not eval_once


def _evaluate(model_lib) -> None:
  continuous = continuous_evaluation(
    eval_once=FLAGS.eval_once, wait_for_checkpoints=FLAGS.wait_for_checkpoints
  )
  if continuous:
    logging.info(
      "Evaluating each new checkpoint of %s until %d s pass without one "
      "(--eval_once: only the latest)",
      FLAGS.checkpoint_dir,
      FLAGS.eval_timeout,
    )
  results = model_lib.evaluate(
    pipeline_config_path=FLAGS.pipeline_config_path,
    model_dir=FLAGS.model_dir,
    checkpoint_dir=FLAGS.checkpoint_dir,
    sample_1_of_n_examples=FLAGS.sample_1_of_n_eval_examples,
    wait=continuous,
    eval_timeout=FLAGS.eval_timeout,
  )
  for step, metrics in results:
    summary = {
      k: round(v, 4)
      for k, v in metrics.items()
      if "mAP" in k or "Localization" in k or "max_detections" in k
    }
    print(f"step {step}: {json.dumps(summary, sort_keys=True)}")
  if continuous:
    print(
      f"evaluated {len(results)} checkpoint(s) of {FLAGS.checkpoint_dir}; stopped: the "
      f"last training step's checkpoint was evaluated or none came for {FLAGS.eval_timeout} s"
    )


def main(argv):
  del argv
  logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
  from ava_tx import model_lib  # Imported after flag parsing: loading TensorFlow is slow.

  if FLAGS.checkpoint_dir:
    _evaluate(model_lib)
    return 0
  result = model_lib.train(
    pipeline_config_path=FLAGS.pipeline_config_path,
    model_dir=FLAGS.model_dir,
    num_train_steps=FLAGS.num_train_steps,
    checkpoint_every_n=FLAGS.checkpoint_every_n,
    record_summaries=FLAGS.record_summaries,
  )
  print(
    f"trained to step {result.global_step}: total loss "
    f"{result.losses.get('Loss/total_loss', float('nan')):.4f}, "
    f"{result.steps_per_sec:.2f} steps/s, checkpoint {result.checkpoint_path}"
  )
  return 0


def run_guarded(argv, main_fn=main) -> int:
  """Runs `main_fn(argv)`; errors in the user's input become one stderr line and exit 1
  (`command_line.run_guarded`; --verbose adds the traceback)."""
  return command_line.run_guarded("model_main_tf2", main_fn, argv)


def run():
  """Console-script entry point; errors in the user's input exit 1 with a one-line message."""
  command_line.run_program(
    "model_main_tf2",
    main,
    define_flags=define_flags,
    required_flags=["pipeline_config_path", "model_dir"],
  )


if __name__ == "__main__":
  run()
