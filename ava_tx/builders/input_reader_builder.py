"""Builds the tf.data input pipeline from an `InputReader` proto and the model config."""

from ava_tx.builders import model_builder
from ava_tx.core import errors
from ava_tx.core.tf_setup import tf
from ava_tx.data import dataset as dataset_lib
from ava_tx.data import label_map_util
from ava_tx.data import parser as parser_lib


def check_input_paths(input_config, prefix):
  """Raises InputError naming the field if the label map is missing or an input_path pattern
  matches no file (before anything is built)."""
  path = input_config.label_map_path
  if path and not tf.io.gfile.exists(path):
    raise errors.InputError(
      f"{prefix}.label_map_path: {path} does not exist{dataset_lib.relative_path_hint(path)}"
    )
  dataset_lib.list_files(list(input_config.input_path), field=f"{prefix}.input_path")


def read_label_map_ids(input_config, num_classes, prefix):
  """AVA label ids of the model's classes (index i = i-th id), checked against num_classes."""
  if not input_config.label_map_path:
    raise errors.InputError(f"{prefix}.label_map_path: required (it defines the model's classes)")
  entries = label_map_util.read_label_map(input_config.label_map_path)
  ids = [entry.id for entry in entries]
  if len(ids) != num_classes:
    raise errors.InputError(
      f"{prefix}.label_map_path: {input_config.label_map_path} has {len(ids)} classes but "
      f"model.action_transformer.num_classes is {num_classes}"
    )
  return ids


def build_parser(input_config, model_config, *, is_training, prefix="train_input_reader"):
  """An `AvaParser` for `input_config` and the `ActionTransformer` model config."""
  label_ids = read_label_map_ids(input_config, model_config.num_classes, prefix)
  return parser_lib.AvaParser(
    num_frames=input_config.num_frames or model_config.num_frames,
    frame_stride=input_config.frame_stride,
    output_size=(model_config.image_height, model_config.image_width),
    label_map_ids=label_ids,
    max_num_boxes=input_config.max_num_boxes,
    max_num_proposals=(
      input_config.max_num_proposals
      if model_builder.uses_person_detector_boxes(model_config)
      else 0
    ),
    proposal_min_score=input_config.proposal_min_score,
    random_flip=is_training and input_config.random_horizontal_flip,
    random_crop=is_training and input_config.random_crop,
    min_crop_fraction=input_config.min_crop_fraction,
    min_box_visible_fraction=input_config.min_box_visible_fraction,
  )


def build_dataset_fn(
  input_config,
  model_config,
  *,
  global_batch_size,
  is_training,
  prefix="train_input_reader",
  sample_1_of_n_examples=None,
):
  """Returns `input_context -> tf.data.Dataset` of per-replica batches (InputFields dicts).

  With several input pipelines (multi-worker), each reads its own shard of the examples.
  """
  check_input_paths(input_config, prefix)
  parser = build_parser(input_config, model_config, is_training=is_training, prefix=prefix)
  sample_n = sample_1_of_n_examples or input_config.sample_1_of_n_examples
  seed = input_config.seed or None

  def dataset_fn(input_context=None):
    batch_size, num_shards, shard_index = global_batch_size, 1, 0
    if input_context is not None:
      batch_size = input_context.get_per_replica_batch_size(global_batch_size)
      num_shards = input_context.num_input_pipelines
      shard_index = input_context.input_pipeline_id
    return dataset_lib.build_dataset(
      file_pattern=list(input_config.input_path),
      parser=parser,
      batch_size=batch_size,
      is_training=is_training,
      seed=seed,
      num_parallel_calls=input_config.num_parallel_calls,
      shuffle_buffer_size=input_config.shuffle_buffer_size,
      cycle_length=input_config.cycle_length,
      skip_corrupt_records=input_config.skip_corrupt_records,
      repeat=input_config.repeat if is_training else False,
      num_shards=num_shards,
      shard_index=shard_index,
      sample_1_of_n_examples=sample_n,
    )

  return dataset_fn
