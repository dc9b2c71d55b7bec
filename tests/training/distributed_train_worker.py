"""Training runs of the fake model in a fresh process, for the multi-process tests.

    python -m tests.training.distributed_train_worker MODE MODEL_DIR [NUM_STEPS] [SLEEP]

MODE:
  mirrored  two logical CPU devices (set before TensorFlow creates its devices); trains with a
            2-replica and a 1-replica MirroredStrategy at the same global batch and prints
            `RESULT {"two": {...}, "one": {...}}`, each with the per-step total losses, the
            final variables and the clips/s over steps/s ratio of every scalar summary.
  train     trains with the default strategy (MultiWorkerMirrored when TF_CONFIG names
            several workers), printing `STEP n` after each step (sleeping SLEEP seconds, to
            give the caller time to kill it) and finally `RESULT {...}`.
"""

import json
import sys
import time

from ava_tx.core.standard_fields import LossFields
from ava_tx.core.tf_setup import tf
from ava_tx.training import optimizer as optimizer_lib
from ava_tx.training import strategy as strategy_lib
from ava_tx.training import train_loop
from tests.training import fake_detection_model as fake
from tests.training import summary_events

GLOBAL_BATCH = 4


def run_training(strategy, model_dir, num_steps, *, hooks=(), checkpoint_every_n=3):
  """Trains the fake model; returns (TrainResult, {variable name: list})."""
  holder = {}

  def model_fn():
    holder["model"] = fake.FakeDetectionModel()
    return holder["model"]

  result = train_loop.train_loop(
    strategy=strategy,
    model_fn=model_fn,
    optimizer_fn=lambda: optimizer_lib.build_optimizer(
      learning_rate=optimizer_lib.WarmupCosineDecay(
        base_learning_rate=0.5, warmup_learning_rate=0.05, warmup_steps=3, total_steps=num_steps
      )
    ),
    dataset_fn=fake.make_dataset_fn(GLOBAL_BATCH),
    config=train_loop.TrainLoopConfig(
      model_dir=model_dir,
      num_steps=num_steps,
      checkpoint_every_n=checkpoint_every_n,
      summary_every_n=2,
      l2_weight_decay=1e-3,
      gradient_clip_norm=2.0,
    ),
    step_hooks=hooks,
  )
  variables = {v.name: v.numpy().tolist() for v in holder["model"].trainable_variables}
  return result, variables


def _clips_per_step(model_dir):
  """clips_per_sec / steps_per_sec of each scalar summary the run wrote, in step order."""
  summaries = summary_events.read_summaries(model_dir)
  clips, steps = summaries["clips_per_sec"], summaries["steps_per_sec"]
  return [summary_events.scalar(clips[s]) / summary_events.scalar(steps[s]) for s in sorted(clips)]


def _print(*args):
  print(*args, flush=True)


def main(argv):
  mode, model_dir = argv[1], argv[2]
  num_steps = int(argv[3]) if len(argv) > 3 else 6
  sleep = float(argv[4]) if len(argv) > 4 else 0.0
  if mode == "mirrored":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    output = {}
    for name, devices in (("two", ["/cpu:0", "/cpu:1"]), ("one", ["/cpu:0"])):
      strategy = strategy_lib.build_strategy(devices=devices)
      assert strategy.num_replicas_in_sync == len(devices)
      losses = []
      _, variables = run_training(
        strategy,
        f"{model_dir}/{name}",
        num_steps,
        hooks=[
          lambda step, step_losses, out=losses: out.append(step_losses[LossFields.total_loss])
        ],
      )
      output[name] = dict(
        losses=losses, variables=variables, clips_per_step=_clips_per_step(f"{model_dir}/{name}")
      )
    _print("RESULT", json.dumps(output))
  elif mode == "train":
    strategy = strategy_lib.build_strategy()
    steps, losses = [], []

    def hook(step, step_losses):
      steps.append(step)
      losses.append(step_losses[LossFields.total_loss])
      _print("STEP", step)
      time.sleep(sleep)

    result, variables = run_training(strategy, model_dir, num_steps, hooks=[hook])
    _print(
      "RESULT",
      json.dumps(
        dict(
          steps=steps,
          losses=losses,
          variables=variables,
          global_step=result.global_step,
          num_replicas=strategy.num_replicas_in_sync,
          multi_worker=isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy),
          chief=strategy_lib.is_chief(strategy),
        )
      ),
    )
  else:
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
  main(sys.argv)
