"""The report of benchmarks.paper_size_forward: the workers' stage times, memory, the share of
the second stage, FLOP rates and the machine's load, printed as text."""

import os
import statistics
import time


def print_report(results, start_loadavg, *, title, matmul_size):
  """Prints the report of the workers' `results` (their JSON dicts); `title` says what was run,
  `matmul_size` is the side of the workers' reference tf.matmul."""
  stages = {s["name"]: s for r in results for s in r["stages"]}
  _print_header(results, start_loadavg, title)
  _print_stage_table(stages)
  _print_worker_notes(results, matmul_size)
  _print_second_stage_share({name: s["warm_median_s"] for name, s in stages.items()})
  _print_interleaved(results)
  _print_flops(stages, results, matmul_size)


def _print_header(results, start_loadavg, title):
  """What was run, on which machine and under which load; failed workers."""
  print(f"== {title} ==")
  print(
    f"{time.strftime('%Y-%m-%d %H:%M')}, {os.uname().nodename}: {os.cpu_count()} CPUs; load "
    f"average (1, 5, 15 min) at start {start_loadavg}, at end {os.getloadavg()}"
  )
  for r in results:
    if "error" in r:
      print(f"worker {r['worker']}: FAILED ({r['error']}; out of memory if -9)")


def _print_stage_table(stages):
  print(f"{'stage':<16}{'first call s':>13}{'warm median s':>15}{'peak MiB':>10}{'load avg':>13}")
  for s in stages.values():
    load = "{:.1f}->{:.1f}".format(*s["loadavg"])
    print(
      f"{s['name']:<16}{s['first_s']:>13.2f}{s['warm_median_s']:>15.2f}"
      f"{s['peak_mib']:>10.0f}{load:>13}"
    )


def _print_worker_notes(results, matmul_size):
  """Proposal counts, and each worker's peak memory and matmul speed."""
  for r in results:
    if "num_proposals" in r:
      print(f"proposals: {r['num_proposals']} ({r['num_valid_proposals']} valid boxes)")
    if "process_peak_mib" in r:
      print(
        f"worker {r['worker']}: whole-process peak RSS {r['process_peak_mib']:.0f} MiB; "
        f"tf.matmul {matmul_size}^3 {r['matmul_gflops']:.1f} GFLOP/s before its stages, "
        f"{r['matmul_gflops_after']:.1f} after"
      )


def _print_second_stage_share(warm):
  """The share of RPN, head and post-processing in the sum of stages and in the whole model."""
  parts = ["preprocess", "trunk", "rpn", "head", "postprocess"]
  if not all(p in warm for p in parts):
    return
  total = sum(warm[p] for p in parts)
  second = warm["rpn"] + warm["head"] + warm["postprocess"]
  print(
    f"sum of stages (warm): {total:.2f} s; head + RPN (+ post-processing): {second:.2f} s = "
    f"{100 * second / total:.1f}% (target <= 10%)"
  )
  if "model(frames)" in warm:
    whole = warm["model(frames)"]
    print(
      f"whole model(frames) warm: {whole:.2f} s (sum of stages / whole = "
      f"{total / whole:.2f}); head + RPN (+ post) / whole = {100 * second / whole:.1f}%"
    )


def _print_interleaved(results):
  for r in results:
    if "interleaved" in r:
      trunk, whole = (statistics.median(r["interleaved"][k]) for k in ("trunk", "whole"))
      print(
        f"model worker, trunk alone and model(frames) alternately: trunk {trunk:.2f} s, whole "
        f"{whole:.2f} s (medians of {r['interleaved']}); everything but the trunk "
        f"(preprocess, RPN, head, post) = {100 * (whole - trunk) / whole:.1f}% of the whole"
      )


def _print_flops(stages, results, matmul_size):
  """GFLOP and GFLOP/s of each stage; the trunk's speed against tf.matmul in its process."""
  for s in stages.values():
    if s.get("flops"):
      flops = sum(s["flops"].values())
      split = ", ".join(f"{op} {value / 1e9:.1f}" for op, value in sorted(s["flops"].items()))
      print(
        f"{s['name']}: {flops / 1e9:.1f} GFLOP ({split}) -> "
        f"{flops / s['warm_median_s'] / 1e9:.1f} GFLOP/s warm"
      )
  trunk_result = next((r for r in results if r["worker"] == "trunk" and "error" not in r), None)
  if trunk_result:
    achieved = sum(stages["trunk"]["flops"].values()) / stages["trunk"]["warm_median_s"] / 1e9
    reference = statistics.mean(
      [trunk_result["matmul_gflops"], trunk_result["matmul_gflops_after"]]
    )
    print(
      f"trunk {achieved:.1f} GFLOP/s = {100 * achieved / reference:.0f}% of tf.matmul "
      f"{matmul_size}^3 in the same process ({reference:.1f} GFLOP/s, mean of before/after)"
    )
