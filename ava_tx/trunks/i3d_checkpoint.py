"""Import of DeepMind's kinetics-i3d TF1 checkpoints into `InceptionI3D`, and restoring them.

DeepMind's release (rgb_imagenet, rgb_scratch) stores, under the scope `RGB/inception_i3d/`,
for each Unit3D `<unit>/conv_3d/w` and `<unit>/batch_norm/{beta,moving_mean,moving_variance}`
(no gamma: sonnet batch norm without scale), plus `Logits/Conv3d_0c_1x1/conv_3d/{w,b}`.
`InceptionI3D.named_variables()` uses the same relative names, so the mapping is the identity
except for:
  * the release's one naming irregularity, `Mixed_5b/Branch_2/Conv3d_0a_3x3` (every other
    block calls that unit Conv3d_0b_3x3), mapped explicitly by NAME_QUIRKS;
  * batch-norm vectors, which some sonnet versions store with leading unit dimensions
    ([1, 1, 1, 1, C]); the real rgb_imagenet index stores [C]. Both are accepted, reshaped
    to [C], and reported.
The logits and any endpoint after `final_endpoint` are ignored and reported by name.

The converted checkpoint is object-based: `tf.train.Checkpoint(**i3d.endpoint_layers())`, one
key per endpoint, so the trunk (up to Mixed_4f) and an I3D head's tail (Mixed_5b, Mixed_5c)
restore from the same file with `restore_endpoints`.
"""

import dataclasses
import os

import numpy as np

from ava_tx.core import errors
from ava_tx.core.tf_setup import tf
from ava_tx.trunks import i3d

DEEPMIND_SCOPE = "RGB/inception_i3d"
# checkpoint name (relative to the scope) -> InceptionI3D name.
NAME_QUIRKS = {
    "Mixed_5b/Branch_2/Conv3d_0a_3x3": "Mixed_5b/Branch_2/Conv3d_0b_3x3",
}
# Relative names that are not trunk variables (the Kinetics classifier).
IGNORED_PREFIXES = ("Logits/",)
CONVERTED_CHECKPOINT_NAME = "i3d"


@dataclasses.dataclass(frozen=True)
class VariableMapping:
  """How a DeepMind checkpoint's variables map onto an InceptionI3D.

  Attributes:
    checkpoint_to_trunk: full checkpoint variable name -> InceptionI3D.named_variables() name.
    reshaped: checkpoint names whose stored layout differs and is reshaped (e.g. [1,1,1,1,C] -> [C]).
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


def _trunk_name(relative_name: str) -> str:
  for old, new in NAME_QUIRKS.items():
    if relative_name.startswith(old + "/"):
      return new + relative_name[len(old):]
  return relative_name


def _is_unit_vector_layout(checkpoint_shape, trunk_shape) -> bool:
  """True if checkpoint_shape is trunk_shape [C] with extra leading size-1 dimensions."""
  return (len(trunk_shape) == 1 and len(checkpoint_shape) > 1
          and list(checkpoint_shape[-1:]) == list(trunk_shape)
          and all(d == 1 for d in checkpoint_shape[:-1]))


def map_deepmind_variables(checkpoint_shapes: dict[str, list[int]],
                           trunk_shapes: dict[str, list[int]], *,
                           scope: str = DEEPMIND_SCOPE,
                           final_endpoint: str = "Mixed_5c") -> VariableMapping:
  """Maps every checkpoint variable up to `final_endpoint` to exactly one trunk variable.

  Args:
    checkpoint_shapes: checkpoint variable name -> shape (as from tf.train.list_variables).
    trunk_shapes: InceptionI3D.named_variables() name -> shape, of an I3D from the stem to
      `final_endpoint`.
    scope: variable scope of the I3D in the checkpoint.
    final_endpoint: variables of later endpoints are ignored.

  Returns:
    A VariableMapping.

  Raises:
    ValueError: naming every checkpoint variable with no trunk counterpart, every trunk
      variable missing from the checkpoint or mapped twice, and every shape mismatch.
  """
  last = i3d.ENDPOINTS.index(final_endpoint)
  later_endpoints = set(i3d.ENDPOINTS[last + 1:])
  prefix = scope.rstrip("/") + "/"
  if not any(name.startswith(prefix) for name in checkpoint_shapes):
    raise errors.InputError(f"No variable of the checkpoint is under the scope {prefix!r}; "
                            f"first names: {sorted(checkpoint_shapes)[:5]}.")
  mapping, reshaped, renamed, ignored, problems = {}, [], [], [], []
  claimed_by = {}
  for name in sorted(checkpoint_shapes):
    if not name.startswith(prefix):
      ignored.append(name)
      continue
    relative = name[len(prefix):]
    if relative.startswith(IGNORED_PREFIXES) or relative.split("/")[0] in later_endpoints:
      ignored.append(name)
      continue
    target = _trunk_name(relative)
    if target not in trunk_shapes:
      problems.append(f"checkpoint variable {name} {list(checkpoint_shapes[name])} has no "
                      f"InceptionI3D counterpart (looked for {target!r}).")
      continue
    if target in claimed_by:
      problems.append(f"checkpoint variables {claimed_by[target]} and {name} both map to "
                      f"trunk variable {target!r}.")
      continue
    ckpt_shape, trunk_shape = list(checkpoint_shapes[name]), list(trunk_shapes[target])
    if ckpt_shape != trunk_shape:
      if "/batch_norm/" in target and _is_unit_vector_layout(ckpt_shape, trunk_shape):
        reshaped.append(name)
      else:
        problems.append(f"checkpoint variable {name} has shape {ckpt_shape} but trunk variable "
                        f"{target!r} has shape {trunk_shape}.")
        continue
    if target != relative:
      renamed.append(name)
    claimed_by[target] = name
    mapping[name] = target
  for target in sorted(set(trunk_shapes) - set(claimed_by)):
    problems.append(f"trunk variable {target!r} {list(trunk_shapes[target])} is missing from "
                    f"the checkpoint (expected {prefix}{target}).")
  if problems:
    raise errors.InputError(f"{len(problems)} problem(s) mapping the I3D checkpoint:\n  "
                            + "\n  ".join(problems))
  return VariableMapping(mapping, tuple(reshaped), tuple(renamed), tuple(ignored))


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
      raise FileNotFoundError(f"Directory {path} holds no TF checkpoint (no 'checkpoint' file "
                              "and no model.ckpt.index); pass the prefix, e.g. DIR/model.ckpt.")
    path = found[0]
  if not tf.io.gfile.exists(path + ".index"):
    raise FileNotFoundError(f"No TF checkpoint at {path}: {path}.index does not exist "
                            "(pass the prefix, e.g. DIR/model.ckpt, not a file inside it).")
  if not tf.io.gfile.glob(path + ".data-*"):
    raise FileNotFoundError(f"Checkpoint {path} has an index but no data shard "
                            f"({path}.data-*): the values are missing.")
  return path


def build_full_i3d(final_endpoint: str = "Mixed_5c") -> i3d.InceptionI3D:
  """Returns a built InceptionI3D from the stem to `final_endpoint`, depth_multiplier 1."""
  model = i3d.InceptionI3D(final_endpoint=final_endpoint)
  model.build([None, None, None, None, i3d.INPUT_CHANNELS])
  return model


def convert_checkpoint(checkpoint: str, output_dir: str, *, final_endpoint: str = "Mixed_5c",
                       scope: str = DEEPMIND_SCOPE) -> ConversionResult:
  """Converts a DeepMind TF1 I3D checkpoint into a TF2 object-based one under `output_dir`.

  Args:
    checkpoint: TF1 checkpoint prefix (DIR/model.ckpt) or a directory holding one.
    output_dir: directory to write `<output_dir>/i3d.{index,data-*}` into (created).
    final_endpoint: last endpoint converted (Mixed_5c to serve both trunk and I3D head).
    scope: the I3D's variable scope in the checkpoint.

  Returns:
    A ConversionResult.

  Raises:
    FileNotFoundError: no checkpoint at `checkpoint`.
    ValueError: the checkpoint does not map one-to-one onto the I3D (names every variable).
  """
  prefix = resolve_checkpoint_prefix(checkpoint)
  try:
    reader = tf.train.load_checkpoint(prefix)
  except tf.errors.OpError as e:  # Not a checkpoint: an empty or foreign file.
    raise errors.InputError(f"{prefix}: not a readable TensorFlow checkpoint ({e.message})"
                            ) from None
  checkpoint_shapes = reader.get_variable_to_shape_map()
  model = build_full_i3d(final_endpoint)
  trunk_variables = model.named_variables()
  mapping = map_deepmind_variables(
      checkpoint_shapes, {k: v.shape.as_list() for k, v in trunk_variables.items()},
      scope=scope, final_endpoint=final_endpoint)
  num_parameters = 0
  for checkpoint_name, trunk_name in mapping.checkpoint_to_trunk.items():
    variable = trunk_variables[trunk_name]
    value = np.asarray(reader.get_tensor(checkpoint_name), dtype=np.float32)
    variable.assign(value.reshape(variable.shape))
    num_parameters += value.size
  tf.io.gfile.makedirs(output_dir)
  saver = tf.train.Checkpoint(**model.endpoint_layers())
  output_path = saver.write(os.path.join(output_dir, CONVERTED_CHECKPOINT_NAME))
  return ConversionResult(output_path, mapping, num_parameters)


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
  if tf.io.gfile.isdir(checkpoint_path):
    latest = tf.train.latest_checkpoint(checkpoint_path)
    default = os.path.join(checkpoint_path, CONVERTED_CHECKPOINT_NAME)
    checkpoint_path = latest or default
  if not tf.io.gfile.exists(checkpoint_path + ".index"):
    raise FileNotFoundError(f"No converted I3D checkpoint at {checkpoint_path} "
                            f"({checkpoint_path}.index does not exist).")
  stored = dict(tf.train.list_variables(checkpoint_path))
  stored_endpoints = {name.split("/")[0] for name in stored} - {"_CHECKPOINTABLE_OBJECT_GRAPH"}
  to_restore = {}
  for endpoint, layer in layers_by_endpoint.items():
    if not layer.built:
      raise ValueError(f"Layer for endpoint {endpoint!r} is not built; build it before "
                       "restoring so that every variable is checked.")
    if not layer.weights:  # max pools
      continue
    if endpoint not in stored_endpoints:
      raise errors.InputError(f"Checkpoint {checkpoint_path} has no endpoint {endpoint!r}; it "
                              f"holds {sorted(stored_endpoints)}.")
    # Check every variable by name and shape first, so that errors name the variable.
    problems = []
    for path, variable in _object_paths(layer, endpoint + "/", {}, set()).items():
      stored_shape = stored.get(path + _VALUE_SUFFIX)
      if stored_shape is None:
        problems.append(f"{path} {variable.shape.as_list()} is not in the checkpoint")
      elif list(stored_shape) != variable.shape.as_list():
        problems.append(f"{path} has shape {variable.shape.as_list()} but the checkpoint has "
                        f"{list(stored_shape)}")
    if problems:
      raise errors.InputError(f"Cannot restore endpoint {endpoint!r} from {checkpoint_path} "
                              "(different depth_multiplier or layout?):\n  "
                              + "\n  ".join(problems))
    to_restore[endpoint] = layer
  status = tf.train.Checkpoint(**to_restore).read(checkpoint_path)
  status.expect_partial()  # The checkpoint's other endpoints are not ours to restore.
  status.assert_existing_objects_matched()  # Safeguard; the checks above should catch all.
  return list(to_restore)
