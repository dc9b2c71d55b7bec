"""Inference figures: per-clip time split trunk / RPN / head / post-processing (tiny and mid in
this process, paper size through benchmarks.paper_size_forward's workers), peak memory, and how
the cost grows with R (proposals) and T (frames)."""

import dataclasses

from ava_tx.core import flops
from ava_tx.core import precision
from ava_tx.core.standard_fields import InputFields
from ava_tx.core.standard_fields import PredictionFields
from ava_tx.core.tf_setup import tf
from ava_tx.meta_architectures import action_transformer_meta_arch as meta_arch
from ava_tx.training import train_loop
from benchmarks import paper_size_forward
from benchmarks import workers
from benchmarks.suite import common
from benchmarks.suite import models


def _stage_functions(model, config, batch):
  """tf.functions of each inference stage on one batch, and the whole detection (without
  autograph, as models.train_step)."""
  frames, _ = model.preprocess(batch[InputFields.frames])
  endpoint = config.trunk.final_endpoint
  trunk = tf.function(lambda x: model.trunk(x, training=False)[endpoint], autograph=False)
  features = trunk(frames)
  stages = {"trunk": lambda: trunk(frames)}
  if model.rpn is not None:
    centre = tf.gather(features, features.shape[1] // 2, axis=1)
    rpn = tf.function(lambda f: model.rpn(f, training=False), autograph=False)
    stages["rpn"] = lambda: rpn(centre)
    rpn_out = rpn(centre)
    boxes, mask = rpn_out.proposal_boxes, tf.cast(rpn_out.proposal_mask, tf.float32)
  else:
    boxes = batch[InputFields.proposal_boxes]
    mask = tf.cast(
      tf.sequence_mask(batch[InputFields.num_proposal_boxes], boxes.shape[1]), tf.float32
    )
  head = tf.function(lambda f, b: model.second_stage_head(f, b, training=False), autograph=False)
  predictions = dict(head(features, boxes))
  predictions[PredictionFields.proposal_boxes] = boxes
  predictions[meta_arch.TargetFields.proposal_mask] = mask
  post = tf.function(model.postprocess, autograph=False)
  stages["head"] = lambda: head(features, boxes)
  stages["post-processing"] = lambda: post(predictions)
  detect = tf.function(lambda b: train_loop.compute_detections(model, b), autograph=False)
  stages["whole detection"] = lambda: detect(batch)
  return stages


def split_rows(size, repeats, with_bf16=False):
  """Per-clip seconds of each stage, beside the whole detection's; `with_bf16`: also the whole
  detection of the same model built under mixed_bfloat16, beside the float32 one."""
  model, config = models.build(size)
  batch = models.synthetic_batch(dataclasses.replace(size, batch_size=1), config.num_classes)
  functions = _stage_functions(model, config, batch)
  if with_bf16:
    bf16_model, _ = models.build(size, precision.MIXED_BFLOAT16)
    bf16_detect = tf.function(
      lambda b: train_loop.compute_detections(bf16_model, b), autograph=False
    )
    functions["bfloat16"] = lambda: bf16_detect(batch)
  seconds = common.alternate_seconds(functions, repeats)
  whole = seconds.pop("whole detection")
  bf16_whole = seconds.pop("bfloat16", None)
  section = f"inference per clip, {size.name}"
  rows = [
    common.row(
      section, "whole detection", whole, "s/clip", note=f"1x{size.num_frames}x{size.image_size}^2"
    )
  ]
  for stage, value in seconds.items():
    rows.append(common.row(section, stage, value, "s/clip", "whole detection", whole))
  if bf16_whole is not None:
    rows.append(
      common.row(
        section, "mixed_bfloat16 whole detection", bf16_whole, "s/clip", "whole detection", whole
      )
    )
  return rows


def _spawn_paper_worker(worker, repeats):
  args = [f"--worker={worker}", f"--repeats={repeats}"]
  return workers.run("benchmarks.paper_size_forward", args, paper_size_forward.RESULT_PREFIX)


def paper_rows(rates, repeats):
  """Paper size (64x400x400, R=300), each stage group in a fresh process (memory apart)."""
  section = "inference per clip, paper size"
  results = {w: _spawn_paper_worker(w, repeats) for w in ("trunk", "rpn", "head", "model")}
  stages = {s["name"]: s for r in results.values() for s in r["stages"]}
  whole = stages["model(frames)"]["warm_median_s"]
  rows = [
    common.row(
      section, "whole model(frames)", whole, "s/clip", note="each stage group in its own process"
    )
  ]
  for name in ("preprocess", "trunk", "rpn", "head", "postprocess"):
    rows.append(
      common.row(
        section, name, stages[name]["warm_median_s"], "s/clip", "whole model(frames)", whole
      )
    )
  trunk = stages["trunk"]
  gflops = sum(trunk["flops"].values()) / trunk["warm_median_s"] / 1e9
  reference = results["trunk"]["matmul_gflops"]
  rows.append(
    common.row(
      section, "trunk achieved", gflops, "GFLOP/s", "float32 matmul (trunk worker)", reference
    )
  )
  rows.append(
    common.row(
      section,
      "peak memory, whole model(frames)",
      stages["model(frames)"]["peak_mib"],
      "MiB",
      note=f"process peak {results['model']['process_peak_mib']:.0f} MiB",
    )
  )
  del rates
  return rows


def _forward_cost(size, repeats):
  model, config = models.build(size)
  batch = models.synthetic_batch(dataclasses.replace(size, batch_size=1), config.num_classes)
  detect = tf.function(lambda b: train_loop.compute_detections(model, b), autograph=False)
  seconds = common.median_seconds(detect, batch, repeats=repeats)
  return seconds, flops.function_flops(detect, batch).forward


def scaling_rows(quick, repeats, trunk_final_endpoint=None):
  """Inference cost of the mid model as R goes 16 -> 64 -> 300 and T 16 -> 32 -> 64.
  `trunk_final_endpoint`: see models.sizes."""
  _, mid = models.sizes(quick, trunk_final_endpoint)
  rows = []
  frames = (8, 16, 32) if quick else (16, 32, 64)
  costs = {}  # The mid size itself is on both axes: measured (built, traced) once.
  for axis, values in (("R", (16, 64, 300)), ("T", frames)):
    reference = None
    for value in values:
      size = (
        dataclasses.replace(mid, num_proposals=value)
        if axis == "R"
        else dataclasses.replace(mid, num_frames=value)
      )
      if size not in costs:
        costs[size] = _forward_cost(size, repeats)
      seconds, forward = costs[size]
      if reference is None:
        reference = (value, seconds)
      rows.append(
        common.row(
          f"inference scaling in {axis}",
          f"{axis}={value}",
          seconds,
          "s/clip",
          f"{axis}={reference[0]}",
          reference[1],
          note=f"{forward / 1e9:.1f} GFLOP; {size.num_frames}x{size.image_size}^2, "
          f"R={size.num_proposals}",
        )
      )
  return rows
