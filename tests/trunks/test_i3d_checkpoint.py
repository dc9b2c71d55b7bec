"""Tests of the DeepMind I3D checkpoint import (ava_tx.trunks.i3d_checkpoint and its CLI)."""

import contextlib
import io
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest

from ava_tx.core.tf_setup import tf
from ava_tx.trunks import i3d
from ava_tx.trunks import i3d_checkpoint
from data_tools import convert_i3d_checkpoint

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT / ".." / "shared"
REAL_PREFIX = SHARED / "data" / "i3d" / "rgb_imagenet" / "model.ckpt"
SCOPE = "RGB/inception_i3d/"
QUIRK = SCOPE + "Mixed_5b/Branch_2/Conv3d_0a_3x3"
LOGITS = [SCOPE + "Logits/Conv3d_0c_1x1/conv_3d/b", SCOPE + "Logits/Conv3d_0c_1x1/conv_3d/w"]


@pytest.fixture(scope="module")
def real_shapes():
  """Variable name -> shape of DeepMind's real rgb_imagenet checkpoint index."""
  if not Path(str(REAL_PREFIX) + ".index").exists():
    pytest.skip(
      f"real I3D checkpoint index not available at {REAL_PREFIX}.index "
      "(../shared is absent outside the project workspace)"
    )
  return dict(tf.train.list_variables(str(REAL_PREFIX)))


@pytest.fixture(scope="module")
def full_i3d():
  return i3d_checkpoint.build_full_i3d("Mixed_5c")


def _trunk_shapes(model):
  return {k: v.shape.as_list() for k, v in model.named_variables().items()}


def _synthetic_shapes(model):
  """DeepMind-style names and shapes generated from the trunk, with the release quirk."""
  inverse = {v: k for k, v in i3d_checkpoint.NAME_QUIRKS.items()}
  shapes = {}
  for name, shape in _trunk_shapes(model).items():
    for new, old in inverse.items():
      if name.startswith(new + "/"):
        name = old + name[len(new) :]
    shapes[SCOPE + name] = shape
  shapes[LOGITS[0]] = [400]
  shapes[LOGITS[1]] = [1, 1, 1, 1024, 400]
  return shapes


def test_real_index_maps_one_to_one_up_to_mixed_5c(real_shapes, full_i3d):
  assert len(real_shapes) == 230
  assert sum(int(np.prod(s)) for s in real_shapes.values()) == 12_704_544
  trunk_shapes = _trunk_shapes(full_i3d)
  mapping = i3d_checkpoint.map_deepmind_variables(real_shapes, trunk_shapes)
  # Every checkpoint variable except the logits maps; every trunk variable is hit exactly once.
  assert sorted(mapping.ignored) == LOGITS
  assert set(mapping.checkpoint_to_trunk) == set(real_shapes) - set(LOGITS)
  targets = list(mapping.checkpoint_to_trunk.values())
  assert len(targets) == len(set(targets)) == len(trunk_shapes) == 228
  assert set(targets) == set(trunk_shapes)
  for name, target in mapping.checkpoint_to_trunk.items():
    assert list(real_shapes[name]) == trunk_shapes[target], name
  # The real index's naming quirk is present and mapped explicitly; no reshapes are needed.
  assert sorted(mapping.renamed) == sorted(
    QUIRK + s
    for s in [
      "/batch_norm/beta",
      "/batch_norm/moving_mean",
      "/batch_norm/moving_variance",
      "/conv_3d/w",
    ]
  )
  assert (
    mapping.checkpoint_to_trunk[QUIRK + "/conv_3d/w"] == "Mixed_5b/Branch_2/Conv3d_0b_3x3/conv_3d/w"
  )
  assert mapping.reshaped == ()
  assert sum(int(np.prod(trunk_shapes[t])) for t in targets) == 12_704_544 - 1024 * 400 - 400


def test_real_index_up_to_mixed_4f_ignores_later_endpoints(real_shapes):
  trunk = i3d_checkpoint.build_full_i3d("Mixed_4f")
  mapping = i3d_checkpoint.map_deepmind_variables(
    real_shapes, _trunk_shapes(trunk), final_endpoint="Mixed_4f"
  )
  assert len(mapping.checkpoint_to_trunk) == 3 * 4 + 7 * 24
  assert len(mapping.ignored) == 2 + 2 * 24
  assert all(n in LOGITS or "/Mixed_5" in n for n in mapping.ignored)
  assert mapping.renamed == ()


def test_real_index_without_values_is_rejected_clearly(tmp_path, real_shapes):
  del real_shapes  # only needed for the skip
  with pytest.raises(FileNotFoundError, match="index but no data shard"):
    i3d_checkpoint.convert_checkpoint(str(REAL_PREFIX), str(tmp_path))


def test_mapping_errors_name_each_variable(full_i3d):
  trunk_shapes = _trunk_shapes(full_i3d)
  shapes = _synthetic_shapes(full_i3d)
  assert len(i3d_checkpoint.map_deepmind_variables(shapes, trunk_shapes).checkpoint_to_trunk) == 228
  missing = dict(shapes)
  del missing[SCOPE + "Mixed_4c/Branch_1/Conv3d_0b_3x3/batch_norm/moving_mean"]
  with pytest.raises(
    ValueError,
    match=r"'Mixed_4c/Branch_1/Conv3d_0b_3x3/batch_norm/moving_mean'"
    r" \[224\] is missing",
  ):
    i3d_checkpoint.map_deepmind_variables(missing, trunk_shapes)
  extra = dict(shapes, **{SCOPE + "Mixed_4c/Branch_1/Conv3d_0b_3x3/batch_norm/gamma": [224]})
  with pytest.raises(ValueError, match="Conv3d_0b_3x3/batch_norm/gamma .* has no InceptionI3D"):
    i3d_checkpoint.map_deepmind_variables(extra, trunk_shapes)
  wrong = dict(shapes, **{SCOPE + "Conv3d_1a_7x7/conv_3d/w": [7, 7, 7, 2, 64]})
  with pytest.raises(ValueError, match=r"Conv3d_1a_7x7/conv_3d/w has shape \[7, 7, 7, 2, 64\]"):
    i3d_checkpoint.map_deepmind_variables(wrong, trunk_shapes)
  both = dict(shapes, **{SCOPE + "Mixed_5b/Branch_2/Conv3d_0b_3x3/conv_3d/w": [3, 3, 3, 32, 128]})
  with pytest.raises(ValueError, match="both map to"):
    i3d_checkpoint.map_deepmind_variables(both, trunk_shapes)
  with pytest.raises(ValueError, match="under the scope 'Flow/inception_i3d/'"):
    i3d_checkpoint.map_deepmind_variables(shapes, trunk_shapes, scope="Flow/inception_i3d")


def test_batch_norm_vectors_with_unit_dims_are_reshaped(full_i3d):
  shapes = _synthetic_shapes(full_i3d)
  name = SCOPE + "Mixed_3b/Branch_0/Conv3d_0a_1x1/batch_norm/moving_variance"
  shapes[name] = [1, 1, 1, 1, 64]
  mapping = i3d_checkpoint.map_deepmind_variables(shapes, _trunk_shapes(full_i3d))
  assert mapping.reshaped == (name,)


def _write_fake_tf1_checkpoint(prefix, shapes):
  """Writes a TF1-format (V2 bundle) checkpoint with random values; returns name -> array."""
  rng = np.random.default_rng(0)
  values = {}
  for name, shape in sorted(shapes.items()):
    value = rng.standard_normal(shape).astype(np.float32)
    if name.endswith("moving_variance"):
      value = np.abs(value) + 0.5
    values[name] = value
  names = sorted(values)
  tf.raw_ops.SaveV2(
    prefix=prefix,
    tensor_names=names,
    shape_and_slices=[""] * len(names),
    tensors=[tf.constant(values[n]) for n in names],
  )
  return values


@pytest.fixture(scope="module")
def converted(tmp_path_factory, full_i3d):
  """Fake checkpoint with the real names and shapes, converted by the CLI's run().

  Outside the workspace (no ../shared) the names come from the trunk with the release quirk
  re-applied, so the conversion is still tested; test_real_index_* pin them to the real index.
  """
  if Path(str(REAL_PREFIX) + ".index").exists():
    shapes = dict(tf.train.list_variables(str(REAL_PREFIX)))
  else:
    shapes = _synthetic_shapes(full_i3d)
  tmp = tmp_path_factory.mktemp("i3d_ckpt")
  prefix = str(tmp / "rgb_fake" / "model.ckpt")
  values = _write_fake_tf1_checkpoint(prefix, shapes)
  summary = io.StringIO()
  with contextlib.redirect_stdout(summary):
    result = convert_i3d_checkpoint.run(checkpoint=prefix, output_dir=str(tmp / "converted"))
  return values, result, summary.getvalue()


def _unit_reference(x, raw, name, strides=(1, 1, 1)):
  """conv (SAME, no bias) -> (y - mean) / sqrt(var + 1e-3) + beta -> relu, from raw arrays."""
  y = tf.nn.conv3d(x, raw[f"{name}/conv_3d/w"], strides=[1, *strides, 1], padding="SAME")
  y = (y - raw[f"{name}/batch_norm/moving_mean"]) / np.sqrt(
    raw[f"{name}/batch_norm/moving_variance"] + 1e-3
  ) + raw[f"{name}/batch_norm/beta"]
  return tf.nn.relu(y)


def test_converted_values_arrive_in_place_for_trunk_and_head_tail(converted):
  values, result, summary = converted
  assert result.num_parameters == 12_704_544  # The Kinetics Logits are kept by default.
  assert Path(result.output_path + ".index").exists()
  trunk = i3d.InceptionI3D(final_endpoint="Mixed_4f")
  trunk.build([None, None, None, None, 3])
  tail = i3d.InceptionI3D(first_endpoint="MaxPool3d_5a_2x2", final_endpoint="Mixed_5c")
  tail.build([None, None, None, None, 832])
  restored_trunk = i3d_checkpoint.restore_endpoints(result.output_path, trunk.endpoint_layers())
  restored_tail = i3d_checkpoint.restore_endpoints(result.output_path, tail.endpoint_layers())
  assert restored_trunk == [n for n in trunk.endpoints if not n.startswith("MaxPool")]
  assert restored_tail == ["Mixed_5b", "Mixed_5c"]
  checkpoint_name = {v: k for k, v in result.mapping.checkpoint_to_trunk.items()}
  checked = 0
  for model in (trunk, tail):
    for name, variable in model.named_variables().items():
      np.testing.assert_array_equal(variable.numpy(), values[checkpoint_name[name]], err_msg=name)
      checked += 1
  assert checked == 228
  classifier = i3d.KineticsLogits()
  classifier.build([None, 2, 7, 7, 1024])
  assert i3d_checkpoint.restore_endpoints(result.output_path, {"Logits": classifier}) == ["Logits"]
  for name, variable in classifier.named_variables().items():
    np.testing.assert_array_equal(variable.numpy(), values[f"{SCOPE}Logits/{name}"], err_msg=name)
  # The quirky release name lands in the uniformly named unit.
  np.testing.assert_array_equal(
    tail.named_variables()["Mixed_5b/Branch_2/Conv3d_0b_3x3/conv_3d/w"].numpy(),
    values[QUIRK + "/conv_3d/w"],
  )
  assert "Converted 230 arrays (12,704,544 values)" in summary
  assert "(deepmind_tf1) up to Logits" in summary
  assert f"renamed (release naming quirk): {QUIRK}/conv_3d/w" in summary
  assert "ignored" not in summary
  assert f"Wrote {result.output_path}" in summary


def test_forward_pass_agrees_with_raw_arrays(converted):
  values, result, _ = converted
  raw = {k[len(SCOPE) :]: v for k, v in values.items()}
  trunk = i3d.InceptionI3D(final_endpoint="Conv3d_1a_7x7")
  trunk.build([None, None, None, None, 3])
  i3d_checkpoint.restore_endpoints(result.output_path, trunk.endpoint_layers())
  clip = tf.random.stateless_uniform([1, 5, 9, 9, 3], seed=[5, 6], minval=-1.0, maxval=1.0)
  expected = _unit_reference(clip, raw, "Conv3d_1a_7x7", strides=(2, 2, 2))
  got = trunk(clip, training=False)["Conv3d_1a_7x7"]
  assert got.shape.as_list() == [1, 3, 5, 5, 64]
  np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-4, atol=1e-4)
  got_training = trunk(clip, training=True)["Conv3d_1a_7x7"]  # BN not frozen: batch statistics.
  assert not np.allclose(got_training.numpy(), expected.numpy(), atol=1e-3)
  # Mixed_5b, whose Branch_2 carries the release's naming quirk, with frozen batch norm.
  tail = i3d.InceptionI3D(
    first_endpoint="MaxPool3d_5a_2x2", final_endpoint="Mixed_5b", freeze_batch_norm=True
  )
  tail.build([None, None, None, None, 832])
  i3d_checkpoint.restore_endpoints(result.output_path, tail.endpoint_layers())
  features = tf.random.stateless_uniform([1, 4, 6, 6, 832], seed=[7, 8])
  got = tail(features, training=True)["Mixed_5b"]
  pooled = tf.nn.max_pool3d(features, ksize=2, strides=2, padding="SAME")
  branch_0 = _unit_reference(pooled, raw, "Mixed_5b/Branch_0/Conv3d_0a_1x1")
  branch_1 = _unit_reference(
    _unit_reference(pooled, raw, "Mixed_5b/Branch_1/Conv3d_0a_1x1"),
    raw,
    "Mixed_5b/Branch_1/Conv3d_0b_3x3",
  )
  branch_2 = _unit_reference(
    _unit_reference(pooled, raw, "Mixed_5b/Branch_2/Conv3d_0a_1x1"),
    raw,
    "Mixed_5b/Branch_2/Conv3d_0a_3x3",
  )
  branch_3 = _unit_reference(
    tf.nn.max_pool3d(pooled, ksize=3, strides=1, padding="SAME"),
    raw,
    "Mixed_5b/Branch_3/Conv3d_0b_1x1",
  )
  expected = tf.concat([branch_0, branch_1, branch_2, branch_3], axis=-1)
  assert got.shape.as_list() == [1, 2, 3, 3, 832]
  np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-4, atol=1e-3)


def test_restore_errors_are_clear(converted, tmp_path):
  _, result, _ = converted
  unbuilt = i3d.InceptionI3D(final_endpoint="Conv3d_2b_1x1")
  with pytest.raises(ValueError, match="'Conv3d_1a_7x7' is not built"):
    i3d_checkpoint.restore_endpoints(result.output_path, unbuilt.endpoint_layers())
  small = i3d.InceptionI3D(final_endpoint="Conv3d_1a_7x7", depth_multiplier=0.5)
  small.build([None, None, None, None, 3])
  with pytest.raises(
    ValueError,
    match=r"endpoint 'Conv3d_1a_7x7'(.|\n)*Conv3d_1a_7x7/conv_3d/"
    r"kernel has shape \[7, 7, 7, 3, 32\] but the checkpoint "
    r"has \[7, 7, 7, 3, 64\]",
  ):
    i3d_checkpoint.restore_endpoints(result.output_path, small.endpoint_layers())
  # The endpoint is present but one of its variables (the batch norm) is not.
  conv_only = tf.Module()
  unit = i3d.Unit3D(filters=64, kernel_size=(7, 7, 7), strides=(2, 2, 2))
  unit.build([None, None, None, None, 3])
  conv_only.conv_3d = unit.conv_3d
  no_bn = tf.train.Checkpoint(Conv3d_1a_7x7=conv_only).write(str(tmp_path / "no_bn"))
  stem = i3d.InceptionI3D(final_endpoint="Conv3d_1a_7x7")
  stem.build([None, None, None, None, 3])
  with pytest.raises(ValueError, match=r"Conv3d_1a_7x7/batch_norm/beta \[64\] is not in the "):
    i3d_checkpoint.restore_endpoints(no_bn, stem.endpoint_layers())
  trunk_only = i3d_checkpoint.build_full_i3d("Mixed_4f")
  partial = tf.train.Checkpoint(**trunk_only.endpoint_layers()).write(str(tmp_path / "trunk"))
  tail = i3d.InceptionI3D(first_endpoint="Mixed_5b", final_endpoint="Mixed_5b")
  tail.build([None, None, None, None, 832])
  with pytest.raises(ValueError, match="has no endpoint 'Mixed_5b'"):
    i3d_checkpoint.restore_endpoints(partial, tail.endpoint_layers())
  with pytest.raises(FileNotFoundError, match="does not exist"):
    i3d_checkpoint.restore_endpoints(str(tmp_path / "nothing"), tail.endpoint_layers())


def test_cli_reports_missing_checkpoint_without_traceback(tmp_path):
  missing = tmp_path / "rgb_imagenet" / "model.ckpt"
  proc = subprocess.run(
    [
      sys.executable,
      "-m",
      "data_tools.convert_i3d_checkpoint",
      f"--checkpoint={missing}",
      f"--output_dir={tmp_path / 'out'}",
    ],
    cwd=REPO_ROOT,
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert proc.returncode != 0
  assert f"{missing}.index does not exist" in proc.stderr
  assert "Traceback" not in proc.stderr
  assert not (tmp_path / "out").exists()
