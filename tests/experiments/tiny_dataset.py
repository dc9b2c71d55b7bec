"""A tiny AVA-format dataset and a tiny pipeline config for the comparison and seeding tests."""

from google.protobuf import text_format

from ava_tx.builders import config_util
from ava_tx.data import ava_clips
from ava_tx.data import ava_conversion
from ava_tx.data.synthetic import writer
from tests import run_cache
from tests.experiments import REPO

CLIP_FRAMES = 16


def _generate(directory):
  writer.generate_dataset(
    writer.SynthConfig(num_videos=4, seconds=5, seed=3, width=96, height=72), str(directory)
  )


def write_dataset(directory, cache_dir=None):
  """4 synthetic videos x 5 s at 96x72 in the synth_ava layout; returns the directory.

  With `cache_dir` (the `run_cache_dir` fixture) the videos are generated once per test run
  and copied (the generator is seeded: the same files either way)."""
  if cache_dir is None:
    _generate(directory)
    return directory
  return run_cache.copy_of(cache_dir, "tiny_dataset", _generate, directory)


def convert(data_dir, shard_dir, cache_dir=None):
  """Both splits of `write_dataset`'s output as 2 shards each, `CLIP_FRAMES` frames a clip,
  written to `shard_dir` as `{train,val}-0000N-of-00002`; returns `shard_dir`.

  With `cache_dir` (the `run_cache_dir` fixture) the conversion runs once per test run and is
  copied (`data_dir` must then be `write_dataset(..., cache_dir)`'s: the same files each time)."""
  if cache_dir is not None:
    return run_cache.copy_of(
      cache_dir, "tiny_shards", lambda target: convert(data_dir, target), shard_dir
    )
  for split in ("train", "val"):
    ava_conversion.convert(
      annotations_csv=str(data_dir / f"{split}.csv"),
      video_dir=str(data_dir / "videos"),
      output_prefix=str(shard_dir / split),
      num_shards=2,
      settings=ava_clips.ClipSettings(clip_frames=CLIP_FRAMES),
      label_map=str(data_dir / "label_map.pbtxt"),
      person_boxes_csv=str(data_dir / f"{split}_predicted_boxes.csv"),
      log=lambda *args, **kwargs: None,
    )
  return shard_dir


def tiny_config():
  """configs/tiny_synthetic_cpu.config shrunk: 8 frames at 64x64, 1/8-width trunk to Mixed_3c
  (the cheapest trunk the Tx rows run on), batch 2. Input paths are left to the caller."""
  config = config_util.load_pipeline_config(str(REPO / "configs" / "tiny_synthetic_cpu.config"))
  model = config.model.action_transformer
  model.num_frames, model.image_height, model.image_width = 8, 64, 64
  model.trunk.depth_multiplier = 0.125
  model.trunk.final_endpoint = "Mixed_3c"
  config.train_config.batch_size = 2
  config.train_config.image_summary_every_n_steps = 0
  for reader in (config.train_input_reader, config.eval_input_reader):
    reader.frame_stride = 2
  return config


def write_config(config, path):
  path.write_text(text_format.MessageToString(config))
  return path
