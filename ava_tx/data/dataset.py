"""The tf.data input pipeline: shards -> decoded, parsed, batched examples.

Training: files shuffled (seeded), read `cycle_length` at a time in parallel (interleave),
examples shuffled in a `shuffle_buffer_size` buffer, repeated, parsed with augmentation; every
example gets the stateless seed [seed, position in the stream], so with a seed the output is
identical on every run whatever `num_parallel_calls`. Evaluation: files in sorted order, each
read once, no augmentation, deterministic order.
"""

import dataclasses
import os
import random
from typing import Optional, Sequence, Union

from ava_tx.core import errors
from ava_tx.core.tf_setup import tf
from ava_tx.data import decoder as decoder_lib
from ava_tx.data import parser as parser_lib
from ava_tx.data import record_reader

AUTOTUNE = -1  # tf.data.AUTOTUNE


def relative_path_hint(path: str) -> str:
  """For error messages: where a relative `path` is resolved from ("" if it is absolute)."""
  if os.path.isabs(path) or "://" in path:
    return ""
  return f" (relative paths start from the current directory, {os.getcwd()})"


def list_files(
  file_pattern: Union[str, Sequence[str]], *, field: str = "input file pattern"
) -> list:
  """Sorted files matching one or more glob patterns (a list, or one string with commas).

  Raises:
    errors.InputError: if a pattern matches no file; the message starts with `field` (e.g. the
      config field the patterns come from) and names the pattern.
  """
  patterns = file_pattern.split(",") if isinstance(file_pattern, str) else list(file_pattern)
  if not patterns:
    raise errors.InputError(f"{field}: required (TFRecord shards or glob patterns)")
  files = []
  for pattern in patterns:
    matched = sorted(tf.io.gfile.glob(pattern.strip()))
    if not matched:
      raise errors.InputError(f"{field}: {pattern} matches no file{relative_path_hint(pattern)}")
    files.extend(matched)
  return files


@dataclasses.dataclass(frozen=True)
class PipelineOptions:
  """How `build_dataset` reads, shards, samples and batches (its keyword options).

  Attributes:
    seed: makes training reproducible; None draws one at random.
    num_parallel_calls: parallel parse calls and interleaved reads (-1: autotune).
    shuffle_buffer_size: examples in the shuffle buffer (training).
    cycle_length: files read concurrently.
    repeat: repeat forever; None: is_training.
    drop_remainder: drop a last partial batch; None: is_training (static batch size).
    prefetch: batches prefetched (-1: autotune).
    num_shards, shard_index: this pipeline reads only its part of the data (multi-worker
      input pipelines): every num_shards-th file from shard_index when there are at least
      num_shards files, else every num_shards-th example.
    sample_1_of_n_examples: keep one example in n (evaluation subsampling), in stream order.
    skip_corrupt_records: a corrupt or truncated shard is skipped from the bad record on,
      with a warning naming it, and counted in `record_reader.SKIPPED`; without it the
      pipeline fails with an error naming the shard and offset (see record_reader).
  """

  seed: Optional[int] = None
  num_parallel_calls: int = AUTOTUNE
  shuffle_buffer_size: int = 256
  cycle_length: int = 8
  repeat: Optional[bool] = None
  drop_remainder: Optional[bool] = None
  prefetch: int = AUTOTUNE
  num_shards: int = 1
  shard_index: int = 0
  sample_1_of_n_examples: int = 1
  skip_corrupt_records: bool = False

  def __post_init__(self):
    if not 0 <= self.shard_index < self.num_shards:
      raise errors.InputError(
        "shard_index must be in [0, %d), got %d" % (self.num_shards, self.shard_index)
      )
    if self.sample_1_of_n_examples < 1:
      raise errors.InputError(
        "sample_1_of_n_examples must be >= 1, got %d" % self.sample_1_of_n_examples
      )


def build_dataset(
  *,
  file_pattern: Union[str, Sequence[str]],
  parser: parser_lib.AvaParser,
  batch_size: int,
  is_training: bool,
  **options,
):
  """Builds the input pipeline over the converter's shards (order and seeds: module docstring).

  Args:
    file_pattern: glob pattern(s) of the shards, e.g. "/data/ava/train-?????-of-?????".
    parser: an AvaParser (holds frame sampling, sizes and augmentation settings).
    batch_size: examples per batch.
    is_training: training (shuffle, repeat, augment) or evaluation.
    **options: fields of `PipelineOptions` (seed, parallelism, sharding, sampling, ...).

  Returns:
    tf.data.Dataset of dicts of InputFields tensors with a leading batch_size dimension, e.g.
    frames float32 [batch_size, num_frames, height, width, 3].

  Raises:
    errors.InputError: a bad batch size, shard or sampling option, or a pattern matching no file.
    TypeError: an option that is not a field of PipelineOptions.
  """
  if batch_size < 1:
    raise errors.InputError("batch_size must be >= 1, got %d" % batch_size)
  options = PipelineOptions(**options)
  seed = random.SystemRandom().randrange(2**31) if options.seed is None else options.seed
  files, shard_files = _files_of_shard(file_pattern, options.num_shards, options.shard_index)
  repeat = is_training if options.repeat is None else options.repeat
  dataset = _read_records(files, options, shuffle_seed=seed if is_training else None, repeat=repeat)
  if options.num_shards > 1 and not shard_files:
    dataset = dataset.shard(options.num_shards, options.shard_index)
  if options.sample_1_of_n_examples > 1:
    dataset = dataset.shard(options.sample_1_of_n_examples, 0)
  if is_training:
    dataset = dataset.shuffle(
      options.shuffle_buffer_size, seed=seed + 1, reshuffle_each_iteration=True
    )
  dataset = _parse_examples(dataset, parser, options, is_training=is_training, seed=seed)
  drop_remainder = is_training if options.drop_remainder is None else options.drop_remainder
  dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
  return dataset.with_options(_deterministic_options()).prefetch(options.prefetch)


def _files_of_shard(file_pattern, num_shards, shard_index):
  """(files this pipeline reads, whether the shards split the data by file): every
  num_shards-th file from shard_index when there are at least num_shards files, else all."""
  files = list_files(file_pattern)
  shard_files = num_shards > 1 and len(files) >= num_shards
  return (files[shard_index::num_shards] if shard_files else files), shard_files


def _read_records(files, options: PipelineOptions, *, shuffle_seed, repeat):
  """Serialized records of `files`, `options.cycle_length` files read at a time. The files are
  read in order, or shuffled with `shuffle_seed` (training); all of them again forever if
  `repeat`."""
  sizes, record_counts = record_reader.shard_metadata(files)
  dataset = tf.data.Dataset.from_tensor_slices(
    (files, tf.constant(sizes, tf.int64), tf.constant(record_counts, tf.int64))
  )
  if shuffle_seed is not None:
    dataset = dataset.shuffle(len(files), seed=shuffle_seed, reshuffle_each_iteration=True)
  if repeat:
    dataset = dataset.repeat()
  cycle_length = max(1, min(options.cycle_length, len(files)))
  read_parallelism = (
    options.num_parallel_calls
    if options.num_parallel_calls == AUTOTUNE
    else min(options.num_parallel_calls, cycle_length)
  )
  return record_reader.read_shards(
    dataset,
    cycle_length=cycle_length,
    num_parallel_calls=read_parallelism,
    skip_corrupt=options.skip_corrupt_records,
  )


def _parse_examples(dataset, parser, options: PipelineOptions, *, is_training, seed):
  """Serialized examples -> decoded and parsed examples, in stream order."""
  decode = decoder_lib.AvaSequenceDecoder()
  # Per-example stateless seeds [seed, shard_index * 2^40 + position]: distinct per pipeline.
  seeds = tf.data.Dataset.counter(dtype=tf.int64).map(
    lambda i: tf.stack([tf.constant(seed, tf.int64), i + options.shard_index * 2**40])
  )
  dataset = tf.data.Dataset.zip((dataset, seeds))

  def parse(serialized, example_seed):
    return parser(decode(serialized), is_training=is_training, seed=example_seed)

  return dataset.map(parse, num_parallel_calls=options.num_parallel_calls, deterministic=True)


def _deterministic_options():
  options = record_reader.external_state_options()
  options.deterministic = True
  return options
