"""A training command for the kill tests: the real training loop and checkpointing with the tiny
fake model of tests/training (TensorFlow's import dominates its start-up), under the same error
policy as model_main_tf2.

  python -m tests.reliability.kill_worker MODEL_DIR NUM_STEPS

Prints `step N` after every step (so a test can time its signals) and sleeps STEP_SECS per step.
"""

import sys
import time

STEP_SECS = 0.04


def main(argv):
  model_dir, num_steps = argv[1], int(argv[2])
  from ava_tx.training import optimizer as optimizer_lib  # pylint: disable=import-outside-toplevel
  from ava_tx.training import strategy as strategy_lib  # pylint: disable=import-outside-toplevel
  from ava_tx.training import train_loop  # pylint: disable=import-outside-toplevel
  from tests.training import fake_detection_model as fake  # pylint: disable=import-outside-toplevel

  def report(step, losses):
    del losses
    print(f"step {step}", flush=True)
    time.sleep(STEP_SECS)

  result = train_loop.train_loop(
    strategy=strategy_lib.build_strategy(strategy_name=strategy_lib.ONE_DEVICE),
    model_fn=fake.FakeDetectionModel,
    optimizer_fn=lambda: optimizer_lib.build_optimizer(learning_rate=0.1),
    dataset_fn=fake.make_dataset_fn(4),
    config=train_loop.TrainLoopConfig(
      model_dir=model_dir,
      num_steps=num_steps,
      checkpoint_every_n=3,
      max_checkpoints_to_keep=3,
      summary_every_n=5,
      log_every_n=1000,
    ),
    step_hooks=[report],
  )
  print(f"trained to step {result.global_step}", flush=True)
  return 0


if __name__ == "__main__":
  from ava_tx.core import command_line  # pylint: disable=import-outside-toplevel

  sys.exit(command_line.run_guarded("kill_worker", main, sys.argv))
