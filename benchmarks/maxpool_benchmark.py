r"""Keras MaxPool3D against the trunk's SeparableMaxPool3D on this CPU, in one run.

  python -m benchmarks.maxpool_benchmark [--repeats 5] [--sections pool,trunk]

pool:  each pool shape the I3D trunk has, alone: forward, and forward + gradient of a weighted
       sum with respect to the input (tf.function, median of --repeats warm calls).
trunk: a training step's forward + backward of the I3D trunk (to Mixed_4f) in the tiny CPU
       config's shape (4 clips of 16x112x112, depth_multiplier 0.25, min_depth 16, stem frozen
       as the config freezes it) and at the paper's size (1 clip of 64x400x400, forward only
       unless --paper_backward), once built with keras MaxPool3D and once with the separable
       pool; the two variants alternate call by call so a change of load hits both.
"""

import os
import statistics
import time

from absl import app
from absl import flags

from ava_tx.core import command_line
from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf
from ava_tx.trunks import i3d

FLAGS = flags.FLAGS


@command_line.flag_definitions
def define_flags():
  flags.DEFINE_integer("repeats", 5, "Warm calls per measurement (the median is reported).")
  flags.DEFINE_list("sections", ["pool", "trunk"], "What to time: pool, trunk.")
  flags.DEFINE_boolean(
    "paper_backward", False, "Also time the paper-size trunk's backward pass (minutes on 2 cores)."
  )


# (name, input shape, pool_size, strides): the pools of the tiny config's and the paper's trunk.
POOLS = [
  ("tiny Branch_3 at Mixed_3b", (4, 8, 14, 14, 48), (3, 3, 3), (1, 1, 1)),
  ("tiny Branch_3 at Mixed_4b", (4, 4, 7, 7, 120), (3, 3, 3), (1, 1, 1)),
  ("paper MaxPool3d_2a_3x3", (1, 32, 200, 200, 64), (1, 3, 3), (1, 2, 2)),
  ("paper Branch_3 at Mixed_3b", (1, 32, 50, 50, 192), (3, 3, 3), (1, 1, 1)),
  ("paper MaxPool3d_4a_3x3", (1, 32, 50, 50, 480), (3, 3, 3), (2, 2, 2)),
  ("paper Branch_3 at Mixed_4b", (1, 16, 25, 25, 480), (3, 3, 3), (1, 1, 1)),
]


def _median_seconds(functions, args, repeats):
  """Calls each function once (warm-up), then `repeats` rounds calling each in turn."""
  for fn in functions:
    fn(*args)
  times = [[] for _ in functions]
  for _ in range(repeats):
    for i, fn in enumerate(functions):
      start = time.perf_counter()
      result = fn(*args)
      tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, result)
      times[i].append(time.perf_counter() - start)
  return [statistics.median(t) for t in times]


def _pool_functions(pool):
  forward = tf.function(pool)

  @tf.function
  def forward_backward(x):
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = pool(x)
      loss = tf.reduce_sum(y * y)
    return tape.gradient(loss, x)

  return forward, forward_backward


def time_pools(repeats):
  print(
    "%-28s %-22s %10s %10s %7s | %10s %10s %7s"
    % ("pool", "input", "3-D fwd", "sep fwd", "ratio", "3-D f+b", "sep f+b", "ratio")
  )
  for name, shape, size, strides in POOLS:
    x = tf.random.normal(shape)
    ref_fwd, ref_fb = _pool_functions(keras.layers.MaxPool3D(size, strides, padding="same"))
    sep_fwd, sep_fb = _pool_functions(i3d.SeparableMaxPool3D(size, strides, padding="same"))
    if not bool(tf.reduce_all(ref_fwd(x) == sep_fwd(x))):
      raise AssertionError(f"{name}: the separable pool's values differ")
    t_ref, t_sep = _median_seconds([ref_fwd, sep_fwd], (x,), repeats)
    b_ref, b_sep = _median_seconds([ref_fb, sep_fb], (x,), repeats)
    print(
      "%-28s %-22s %8.1fms %8.1fms %6.2fx | %8.1fms %8.1fms %6.2fx"
      % (
        name,
        "x".join(map(str, shape)),
        t_ref * 1e3,
        t_sep * 1e3,
        t_ref / t_sep,
        b_ref * 1e3,
        b_sep * 1e3,
        b_ref / b_sep,
      ),
      flush=True,
    )


def _build_trunk(separable, frames, **kwargs):
  """An I3D trunk to Mixed_4f whose pools are SeparableMaxPool3D or keras MaxPool3D."""
  trunk = i3d.InceptionI3D(final_endpoint="Mixed_4f", separable_max_pool=separable, **kwargs)
  trunk(frames, training=True)  # Creates the variables.
  return trunk


def _train_step_fn(trunk, frozen_prefix):
  variables = [v for v in trunk.trainable_variables if frozen_prefix not in v.name]

  @tf.function
  def step(frames):
    with tf.GradientTape() as tape:
      features = trunk(frames, training=True)["Mixed_4f"]
      loss = tf.reduce_mean(tf.square(features))
    return tape.gradient(loss, variables)

  return step


def time_trunks(repeats, paper_backward):
  cases = [
    (
      "tiny config, train step (fwd+bwd)",
      (4, 16, 112, 112, 3),
      dict(depth_multiplier=0.25, min_depth=16),
      True,
      repeats,
    )
  ]
  cases.append(("paper size, forward", (1, 64, 400, 400, 3), {}, False, max(2, repeats // 2)))
  if paper_backward:
    cases.append(("paper size, train step (fwd+bwd)", (1, 64, 400, 400, 3), {}, True, 2))
  print("\n%-36s %12s %12s %7s" % ("trunk to Mixed_4f", "MaxPool3D", "separable", "ratio"))
  for name, shape, kwargs, backward, calls in cases:
    frames = tf.random.uniform(shape, -1.0, 1.0, seed=0)
    trunks = [_build_trunk(separable, frames, **kwargs) for separable in (False, True)]
    trunks[1].set_weights(trunks[0].get_weights())
    if backward:
      functions = [_train_step_fn(t, "Conv3d_1a_7x7") for t in trunks]
    else:
      functions = [tf.function(lambda x, t=t: t(x, training=False)["Mixed_4f"]) for t in trunks]
    # Forward values must agree; gradients may not where a window has tied maxima (MaxPool3D's
    # gradient goes to every tied element, the separable pool's stride-1 axes to one).
    features = [t(frames, training=backward)["Mixed_4f"] for t in trunks]
    tf.debugging.assert_near(*features, rtol=1e-4, atol=1e-5, message=f"{name}: outputs differ")
    t_ref, t_sep = _median_seconds(functions, (frames,), calls)
    print("%-36s %10.3f s %10.3f s %6.2fx" % (name, t_ref, t_sep, t_ref / t_sep), flush=True)


def main(argv):
  del argv
  unknown = set(FLAGS.sections) - {"pool", "trunk"}
  if unknown:
    raise app.UsageError(f"--sections: unknown {sorted(unknown)}; choose from pool, trunk")
  print("TensorFlow %s, %d CPU cores" % (tf.__version__, os.cpu_count()))
  if "pool" in FLAGS.sections:
    time_pools(FLAGS.repeats)
  if "trunk" in FLAGS.sections:
    time_trunks(FLAGS.repeats, FLAGS.paper_backward)


if __name__ == "__main__":
  define_flags()
  app.run(main)
