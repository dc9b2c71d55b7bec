r"""The paper's head comparisons (Tables 1-3) on any AVA-format dataset, same data, budget, seeds.

  python -m ava_tx.experiments.compare_heads --data_dir workspace/data/synthetic \
      --output_dir workspace/compare_heads [--rows gt_i3d,gt_tx_highres] [--seeds 1,2,3] \
      [--steps 300] [--tfrecord_dir DIR_WITH_SHARDS] [--base_config CONFIG] \
      [--head_sizes paper|base]

Rows (`--rows`, default the paper's 8): ground-truth boxes (Table 1) gt_i3d, gt_tx_lowres,
gt_tx_highres, gt_tx_highres_noloc, gt_tx_highres_1x1; proposals (Table 3, `--proposals`,
default the detector boxes) prop_i3d, prop_tx_highres, prop_tx_i3d; the ablation
gt_i3d_random_mixed5 (run only when named: the I3D head without its Kinetics Mixed_5 weights);
every row also reports the person
AP@0.5 and @0.75 of its regressed boxes (Table 2). Writes OUTPUT_DIR/comparison.md and
comparison.json; running the same command again skips finished runs and resumes unfinished ones.
Each row is `--base_config` (default configs/tiny_kinetics_demo_cpu.config, the demo's recipe: the
Kinetics-400 I3D fine-tuned, so the weights must have been fetched as the README's setup does)
with the paper's Tx head sizes (`--head_sizes paper`, the default; `base` keeps the config's) and
another head and proposal mode; see docs/COMPARISON.md for the recipe and the results.
"""

import dataclasses
import logging
import os
import platform
from typing import Optional, Sequence

from absl import flags
from google.protobuf import text_format

from ava_tx.core import command_line
from ava_tx.core import errors

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_DEFAULT_BASE = os.path.join(_REPO, "configs", "tiny_kinetics_demo_cpu.config")
_DEFAULT_STEPS = 300

FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class Options:
  """What the flags say (see `_define_flags`); tests build it directly."""

  output_dir: str
  data_dir: Optional[str] = None
  label_map_path: Optional[str] = None
  train_csv: Optional[str] = None
  val_csv: Optional[str] = None
  train_person_boxes: Optional[str] = None
  val_person_boxes: Optional[str] = None
  val_excluded_timestamps: Optional[str] = None
  video_dir: Optional[str] = None
  tfrecord_dir: Optional[str] = None
  segment_start: float = 900
  num_workers: int = 1
  base_config: str = _DEFAULT_BASE
  head_sizes: str = "paper"
  rows: Sequence[str] = ()
  seeds: Sequence[str] = ("1",)
  steps: int = _DEFAULT_STEPS
  proposals: str = "detector"
  interaction_classes: Optional[Sequence[str]] = None
  motion_classes: Optional[Sequence[str]] = None


@command_line.flag_definitions
def define_flags():
  flags.DEFINE_string(
    "data_dir",
    None,
    "AVA-format dataset in the synth_ava layout (videos/, "
    "train.csv, val.csv, label_map.pbtxt, {train,val}_predicted_boxes.csv, "
    "{train,val}_excluded_timestamps.csv); the flags below override its files.",
  )
  flags.DEFINE_string("label_map_path", None, "Label map (default DATA_DIR/label_map.pbtxt).")
  command_line.define_renamed_flag("label_map", "label_map_path")
  flags.DEFINE_string("train_csv", None, "Training ground truth (default DATA_DIR/train.csv).")
  flags.DEFINE_string("val_csv", None, "Validation ground truth (default DATA_DIR/val.csv).")
  flags.DEFINE_string("train_person_boxes", None, "Training detector boxes CSV.")
  flags.DEFINE_string("val_person_boxes", None, "Validation detector boxes CSV.")
  flags.DEFINE_string("val_excluded_timestamps", None, "Validation excluded-timestamps CSV.")
  flags.DEFINE_string("video_dir", None, "Videos (default DATA_DIR/videos); used to convert.")
  flags.DEFINE_string(
    "tfrecord_dir",
    None,
    "Directory of train-?????-of-????? and val-... shards: "
    "used when complete, else written (default OUTPUT_DIR/tfrecords).",
  )
  flags.DEFINE_float("segment_start", 900, "Movie second of each video's first frame (conversion).")
  flags.DEFINE_integer("num_workers", 1, "Conversion worker processes.")
  flags.DEFINE_string("base_config", _DEFAULT_BASE, "Pipeline config every row starts from.")
  flags.DEFINE_enum(
    "head_sizes",
    "paper",
    ["paper", "base"],
    "Tx head sizes: the paper's (D=128, dropout 0.3, defaults) or the base config's.",
  )
  flags.DEFINE_list("rows", [], "Rows to run (default the paper's 8, not the ablations).")
  flags.DEFINE_list("seeds", ["1"], "Training seeds (positive integers).")
  flags.DEFINE_integer("steps", _DEFAULT_STEPS, "Training steps of every run.")
  flags.DEFINE_enum("proposals", "detector", ["detector", "rpn"], "Proposals of the Table 3 rows.")
  flags.DEFINE_list(
    "interaction_classes",
    None,
    "Label-map names of the interaction group "
    "(default: AVA's person-defined interactions present in the label map).",
  )
  flags.DEFINE_list(
    "motion_classes",
    None,
    "Label-map names of the motion group (default: "
    "AVA's PERSON_MOVEMENT classes present in the label map).",
  )
  flags.DEFINE_string("output_dir", None, "Where runs, comparison.md and comparison.json go.")


def _seeds(values):
  try:
    seeds = [int(v) for v in values]
  except ValueError:
    raise errors.InputError(f"--seeds: expected positive integers, got {values}") from None
  if not seeds or min(seeds) <= 0:
    raise errors.InputError(f"--seeds: expected positive integers, got {values}")
  return seeds


def _groups(label_map_path, options):
  from ava_tx.data import label_map_util
  from ava_tx.experiments import comparison_table as table

  names = [entry.name for entry in label_map_util.read_label_map(label_map_path)]
  groups = {}
  for group, given, default in (
    ("interaction", options.interaction_classes, table.DEFAULT_INTERACTION_CLASSES),
    ("motion", options.motion_classes, table.DEFAULT_MOTION_CLASSES),
  ):
    unknown = sorted(set(given or ()) - set(names))
    if unknown:
      raise errors.InputError(f"--{group}_classes: not in {label_map_path}: {unknown}")
    groups[group] = table.present_classes(given or default, names)
  return groups


def _check_pretrained_weights(base, base_config_path):
  """InputError before any conversion or training if the base config starts from Kinetics
  weights that are not there (the README's setup fetches them)."""
  from ava_tx.trunks import i3d_checkpoint

  trunk = base.model.action_transformer.trunk
  if not trunk.fine_tune_checkpoint or trunk.fine_tune_checkpoint_type != "classification":
    return
  try:
    i3d_checkpoint.converted_checkpoint_prefix(trunk.fine_tune_checkpoint)
  except FileNotFoundError as e:
    raise errors.InputError(f"{base_config_path}: trunk.fine_tune_checkpoint: {e}") from None


def _header(settings, seeds_done):
  return (
    f"Head comparison: {settings['steps']} steps per run, base config "
    f"`{settings['base_config']}` with {settings['head_sizes']} Tx head sizes, "
    f"proposals of the Table 3 rows: {settings['proposals']}; "
    f"data `{settings['data']}`; machine {platform.machine()}, {os.cpu_count()} CPUs. "
    f"Cells: mean ± sample sd over the seeds ({', '.join(map(str, seeds_done))}).\n"
  )


def run(options: Options, log=print) -> str:
  """Runs the comparison `options` describe; returns the markdown written to comparison.md."""
  from ava_tx.experiments import comparison_rows  # Protos only: checked before TensorFlow loads.

  rows = comparison_rows.select_rows(options.rows)
  comparison_rows.check_head_sizes(options.head_sizes)
  seeds = _seeds(options.seeds)
  if options.steps <= 0:
    raise errors.InputError(f"--steps: must be positive, got {options.steps}")
  from ava_tx.experiments import comparison_data  # Loads TensorFlow.
  from ava_tx.experiments import head_comparison  # Loads TensorFlow.

  output_dir = os.path.abspath(options.output_dir)
  paths = comparison_data.dataset_paths(
    data_dir=options.data_dir,
    tfrecord_dir=options.tfrecord_dir or os.path.join(output_dir, "tfrecords"),
    label_map=options.label_map_path,
    groundtruth={"train": options.train_csv, "val": options.val_csv},
    person_boxes={"train": options.train_person_boxes, "val": options.val_person_boxes},
    excluded={"val": options.val_excluded_timestamps},
    video_dir=options.video_dir,
  )
  groups = _groups(paths.label_map, options)
  base = head_comparison.base_config(
    options.base_config, paths, steps=options.steps, head_sizes=options.head_sizes
  )
  _check_pretrained_weights(base, options.base_config)
  reader = base.train_input_reader
  comparison_data.ensure_shards(
    paths,
    clip_frames=(reader.num_frames or base.model.action_transformer.num_frames)
    * reader.frame_stride,
    segment_start=options.segment_start,
    num_workers=options.num_workers,
    log=log,
  )
  settings = dict(
    steps=options.steps,
    proposals=options.proposals,
    data=paths.tfrecord_dir,
    base_config=os.path.relpath(options.base_config, _REPO),
    head_sizes=options.head_sizes,
    base_config_text=text_format.MessageToString(base),
  )
  results = head_comparison.run_comparison(
    base=base,
    rows=rows,
    seeds=seeds,
    output_dir=output_dir,
    proposals=options.proposals,
    settings=settings,
    log=log,
  )
  seeds_done = sorted({r["seed"] for rs in results.values() for r in rs})
  return head_comparison.write_outputs(
    output_dir, results, groups, header=_header(settings, seeds_done)
  )


def main(argv):
  del argv
  logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
  names = [field.name for field in dataclasses.fields(Options)]
  print(run(Options(**command_line.flag_values(names))))
  return 0


if __name__ == "__main__":
  command_line.run_program(
    "compare_heads", main, define_flags=define_flags, required_flags=["output_dir"]
  )
