r"""One inference forward pass at the paper size on this CPU: wall time and peak memory per stage.

  python -m benchmarks.paper_size_forward [--config configs/ava_tx_highres_64f_400.config]
      [--repeats 2] [--num_proposals 300] [--workers trunk,rpn,head,model]

The model is built from the pipeline config (fine_tune_checkpoint cleared: random weights, the
timing does not depend on them) for 1 clip of 64x400x400 and R proposals (the config's
rpn.num_proposals_test unless --num_proposals is given). Each group of stages runs in a fresh
Python subprocess (a "worker"), so that one stage's memory does not hide the next one's:

  trunk: the machine's tf.matmul 2048^3 GFLOP/s, preprocess, trunk (I3D to Mixed_4f) on random
         frames in [-1, 1]; trunk FLOPs counted from the traced graph's Conv3D ops.
  rpn:   the RPN (head convs, proposal decoding, NMS) on random features [1, 25, 25, 832].
  head:  the second-stage head on random features [1, 16, 25, 25, 832] and the RPN's R
         proposals for them, then post-processing (NMS, top-K) on the head's outputs.
  model: the whole `model(frames)` (preprocess, predict, postprocess).

Every stage runs under tf.function: a first call (tracing, variable creation, execution), then
--repeats warm calls whose median is reported. Peak memory: the stage's peak resident set size
above the resident size just before it, from /proc/self/status (VmHWM - VmRSS; VmHWM is reset
before each stage by writing 5 to /proc/self/clear_refs). tf.config.experimental.get_memory_info
does not work on CPU ("Allocator stats not available for device 'CPU:0'").
"""

import os
import re
import statistics
import sys
import time

from absl import app
from absl import flags

from ava_tx.core import command_line
from benchmarks import paper_size_report
from benchmarks import workers

FLAGS = flags.FLAGS


@command_line.flag_definitions
def define_flags():
  flags.DEFINE_string("config", "configs/ava_tx_highres_64f_400.config", "Pipeline config.")
  flags.DEFINE_integer("repeats", 2, "Warm calls per stage (the median is reported).")
  flags.DEFINE_integer("num_proposals", None, "R; default: the config's rpn.num_proposals_test.")
  flags.DEFINE_list(
    "workers",
    ["trunk", "rpn", "head", "model"],
    "Stage groups to run (also: trunk_blocks, each I3D block of the trunk timed "
    "alone, for a per-block breakdown).",
  )
  flags.DEFINE_string("worker", None, "Internal: run one worker and print its JSON result.")


NUM_FRAMES, HEIGHT, WIDTH = 64, 400, 400
MATMUL_SIZE = 2048
RESULT_PREFIX = "RESULT_JSON "


# ----------------------------------------------------------------------------- memory helpers
def _status_kib(field):
  with open("/proc/self/status") as status:
    return int(re.search(rf"^{field}:\s+(\d+) kB", status.read(), re.M).group(1))


_process_peak_kib = 0


def _reset_peak():
  """Resets VmHWM to the current VmRSS (Linux >= 4.0), remembering the process's peak."""
  global _process_peak_kib
  _process_peak_kib = max(_process_peak_kib, _status_kib("VmHWM"))
  with open("/proc/self/clear_refs", "w") as clear_refs:
    clear_refs.write("5")


# ------------------------------------------------------------------------------------- timing
def _run_stage(name, function, args, repeats):
  """Calls function(*args) once cold and `repeats` times warm; returns (outputs, stats)."""
  from ava_tx.core.tf_setup import tf

  fetch = lambda out: tf.nest.map_structure(lambda t: t.numpy(), out)  # noqa: E731
  _reset_peak()
  rss_before = _status_kib("VmRSS")
  load_before = os.getloadavg()[0]
  start = time.perf_counter()
  outputs = function(*args)
  fetch(outputs)
  first = time.perf_counter() - start
  warm = []
  for _ in range(repeats):
    start = time.perf_counter()
    fetch(function(*args))
    warm.append(time.perf_counter() - start)
  stats = dict(
    name=name,
    first_s=first,
    warm_s=warm,
    warm_median_s=statistics.median(warm) if warm else first,
    peak_mib=(_status_kib("VmHWM") - rss_before) / 1024.0,
    rss_before_mib=rss_before / 1024.0,
    loadavg=[load_before, os.getloadavg()[0]],
  )
  print(
    f"  [{name}] first {first:.2f} s, warm {[round(w, 2) for w in warm]} s, "
    f"peak +{stats['peak_mib']:.0f} MiB",
    file=sys.stderr,
    flush=True,
  )
  return outputs, stats


def _product(values):
  result = 1
  for value in values:
    result *= value
  return result


def graph_flops(concrete_function, unknown_dim=1):
  """FLOPs (2 x multiply-adds) of the convolutions and matrix products of a traced function.

  Counts Conv2D, Conv3D, MatMul, BatchMatMulV2 and Einsum ops from their static shapes (ops in
  nested function bodies, e.g. tf.map_fn, are not seen: the RoI pooling has none). Unknown
  dimensions (e.g. batch_size * num_proposals inside a head) are taken as `unknown_dim`.

  Returns:
    dict op type -> FLOPs.
  """

  def shape(tensor):
    return [d if d is not None else unknown_dim for d in tensor.shape.as_list()]

  totals = {}
  for op in concrete_function.graph.get_operations():
    if op.type in ("Conv2D", "Conv3D"):
      # kernel [k..., in_channels, out_channels]: 2 x (outputs) x (k... x in_channels).
      flops = 2 * _product(shape(op.outputs[0])) * _product(shape(op.inputs[1])[:-1])
    elif op.type == "MatMul":
      a = shape(op.inputs[0])
      contracted = a[0] if op.get_attr("transpose_a") else a[1]
      flops = 2 * _product(shape(op.outputs[0])) * contracted
    elif op.type in ("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"):
      a = shape(op.inputs[0])
      contracted = a[-2] if op.get_attr("adj_x") else a[-1]
      flops = 2 * _product(shape(op.outputs[0])) * contracted
    elif op.type == "Einsum":
      inputs = op.get_attr("equation").decode().split("->")[0].split(",")
      sizes = {}
      for letters, tensor in zip(inputs, op.inputs):
        sizes.update(zip(letters, shape(tensor)))
      flops = 2 * _product(sizes.values())
    else:
      continue
    totals[op.type] = totals.get(op.type, 0) + flops
  return totals


def matmul_gflops(repeats=5):
  """The machine's float32 tf.matmul speed on 2048^3 (median of `repeats` warm calls)."""
  from ava_tx.core.tf_setup import tf

  a = tf.random.stateless_normal([MATMUL_SIZE] * 2, seed=[1, 2])
  b = tf.random.stateless_normal([MATMUL_SIZE] * 2, seed=[3, 4])
  matmul = tf.function(tf.matmul)
  matmul(a, b).numpy()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    matmul(a, b).numpy()
    times.append(time.perf_counter() - start)
  return 2 * MATMUL_SIZE**3 / statistics.median(times) / 1e9


# ------------------------------------------------------------------------------------ workers
def _build_model(config_path, num_proposals):
  from ava_tx.builders import config_util
  from ava_tx.builders import model_builder

  config = config_util.load_pipeline_config(config_path)
  model_config = config.model.action_transformer
  model_config.trunk.fine_tune_checkpoint = ""
  if num_proposals is not None:
    model_config.rpn.num_proposals_test = num_proposals
  return model_builder.build(config.model), model_config


def _random_features(model_config):
  from ava_tx.core.tf_setup import tf
  from ava_tx.trunks import i3d

  shape = i3d.InceptionI3D(final_endpoint=model_config.trunk.final_endpoint).compute_output_shape(
    [1, NUM_FRAMES, HEIGHT, WIDTH, 3]
  )[model_config.trunk.final_endpoint]
  # Non-negative like the trunk's ReLU outputs.
  return tf.random.stateless_uniform(shape, seed=[5, 6], maxval=2.0)


def _time_trunk(model, model_config, frames, repeats):
  """Preprocess, then the trunk to its final endpoint (with its Conv3D FLOPs)."""
  from ava_tx.core.tf_setup import tf

  endpoint = model_config.trunk.final_endpoint
  preprocess = tf.function(lambda x: model.preprocess(x)[0])
  preprocessed, preprocess_stats = _run_stage("preprocess", preprocess, [frames], repeats)
  trunk = tf.function(lambda x: model.trunk(x, training=False)[endpoint])
  _, trunk_stats = _run_stage("trunk", trunk, [preprocessed], repeats)
  trunk_stats["flops"] = graph_flops(
    trunk.get_concrete_function(tf.TensorSpec(frames.shape, tf.float32))
  )
  return dict(stages=[preprocess_stats, trunk_stats])


def _rpn_function(model):
  """The RPN on the middle time step of trunk features, as a tf.function."""
  from ava_tx.core.tf_setup import tf

  return tf.function(
    lambda features: model.rpn(
      tf.gather(features, tf.shape(features)[1] // 2, axis=1), training=False
    )
  )


def _time_rpn(model, model_config, frames, repeats):
  """The RPN alone on random trunk features."""
  del frames  # The RPN runs on random features of the trunk's output shape.
  features = _random_features(model_config)
  rpn = _rpn_function(model)
  _, stats = _run_stage("rpn", rpn, [features], repeats)
  stats["flops"] = graph_flops(rpn.get_concrete_function(features))
  return dict(stages=[stats])


def _time_head(model, model_config, frames, repeats):
  """The second-stage head on the RPN's proposals for random features, then post-processing."""
  from ava_tx.core import standard_fields
  from ava_tx.core.tf_setup import tf
  from ava_tx.meta_architectures import action_transformer_meta_arch as meta_arch

  del frames  # The head runs on random features of the trunk's output shape.
  features = _random_features(model_config)
  rpn_out = _rpn_function(model)(features)
  boxes = rpn_out.proposal_boxes
  mask = tf.cast(rpn_out.proposal_mask, tf.float32)
  head = tf.function(lambda f, b: model.second_stage_head(f, b, training=False))
  head_out, head_stats = _run_stage("head", head, [features, boxes], repeats)
  head_stats["flops"] = graph_flops(
    head.get_concrete_function(features, boxes), unknown_dim=int(boxes.shape[1])
  )
  predictions = dict(head_out)
  predictions[standard_fields.PredictionFields.proposal_boxes] = boxes
  predictions[meta_arch.TargetFields.proposal_mask] = mask
  _, post_stats = _run_stage("postprocess", tf.function(model.postprocess), [predictions], repeats)
  return dict(
    stages=[head_stats, post_stats],
    num_proposals=int(boxes.shape[1]),
    num_valid_proposals=int(tf.reduce_sum(mask)),
  )


def _time_trunk_blocks(model, model_config, frames, repeats):
  """Each I3D block of the trunk alone, on the previous block's output."""
  from ava_tx.core.tf_setup import keras
  from ava_tx.core.tf_setup import tf

  del model_config
  model.trunk.build(frames.shape)
  stages = []
  net = frames
  for block_name, block in model.trunk.endpoint_layers().items():
    if isinstance(block, keras.layers.MaxPool3D):
      function = tf.function(block)
    else:
      function = tf.function(lambda x, block=block: block(x, training=False))
    spec = tf.TensorSpec(net.shape, tf.float32)
    output, stats = _run_stage(block_name, function, [net], repeats)
    stats["flops"] = graph_flops(function.get_concrete_function(spec))
    stats["output_shape"] = output.shape.as_list()
    stages.append(stats)
    net = output
  return dict(stages=stages)


def _time_whole_model(model, model_config, frames, repeats):
  """`model(frames)`, then the trunk and the whole model timed alternately."""
  from ava_tx.core.tf_setup import tf

  endpoint = model_config.trunk.final_endpoint
  whole = tf.function(lambda x: model(x, training=False))
  _, stats = _run_stage("model(frames)", whole, [frames], repeats)
  # Load from other users drifts between workers: time the trunk alone and the whole model
  # alternately in this process for a drift-robust share of everything after the trunk.
  trunk = tf.function(lambda x: model.trunk(x, training=False)[endpoint])
  trunk(frames).numpy()
  interleaved = dict(trunk=[], whole=[])
  for _ in range(max(repeats, 1)):
    for key, function in (("trunk", trunk), ("whole", whole)):
      start = time.perf_counter()
      tf.nest.map_structure(lambda t: t.numpy(), function(frames))
      interleaved[key].append(time.perf_counter() - start)
  return dict(stages=[stats], interleaved=interleaved)


_WORKERS = {
  "trunk": _time_trunk,
  "rpn": _time_rpn,
  "head": _time_head,
  "trunk_blocks": _time_trunk_blocks,
  "model": _time_whole_model,
}


def run_worker(name, config_path, repeats, num_proposals):
  """Runs one group of stages in this process; returns a JSON-able dict."""
  if name not in _WORKERS:
    raise app.UsageError(f"--worker: unknown worker {name!r}.")
  from ava_tx.core.tf_setup import tf

  model, model_config = _build_model(config_path, num_proposals)
  frames = tf.random.stateless_uniform(
    [1, NUM_FRAMES, HEIGHT, WIDTH, 3], seed=[7, 8], minval=-1.0, maxval=1.0
  )
  result = dict(worker=name, stages=[])
  # The machine's speed right now (other users share the cores): before and after the stages.
  result["matmul_gflops"] = matmul_gflops()
  result.update(_WORKERS[name](model, model_config, frames, repeats))
  result["matmul_gflops_after"] = matmul_gflops()
  result["process_peak_mib"] = max(_process_peak_kib, _status_kib("VmHWM")) / 1024.0
  return result


# ------------------------------------------------------------------------------------- driver
def _spawn(worker):
  args = [
    f"--worker={worker}",
    f"--config={os.path.abspath(FLAGS.config)}",
    f"--repeats={FLAGS.repeats}",
  ]
  if FLAGS.num_proposals is not None:
    args.append(f"--num_proposals={FLAGS.num_proposals}")
  print(f"running worker {worker} ...", file=sys.stderr, flush=True)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
  try:
    return workers.run(
      "benchmarks.paper_size_forward", args, RESULT_PREFIX, show_stderr=True, env=env
    )
  except workers.WorkerError as error:
    return dict(worker=worker, error=f"exit code {error.returncode}", stages=[])


def main(argv):
  del argv
  if FLAGS.worker:
    result = run_worker(FLAGS.worker, FLAGS.config, FLAGS.repeats, FLAGS.num_proposals)
    workers.emit(RESULT_PREFIX, result)
    return
  start_loadavg = os.getloadavg()
  results = [_spawn(worker) for worker in FLAGS.workers]
  paper_size_report.print_report(
    results,
    start_loadavg,
    matmul_size=MATMUL_SIZE,
    title=f"paper-size inference: {FLAGS.config}, 1 x {NUM_FRAMES}x{HEIGHT}x{WIDTH}, "
    f"R={FLAGS.num_proposals or 'config'}, {FLAGS.repeats} warm repeats",
  )


if __name__ == "__main__":
  define_flags()
  app.run(main)
