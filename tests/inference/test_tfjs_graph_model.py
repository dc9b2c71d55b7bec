"""Tests of reading TensorFlow.js graph models (ava_tx.inference.tfjs_graph_model): weights and
their quantization, the fused ops, the SavedModel written from them."""

import json

import numpy as np
import pytest

from ava_tx.core import errors
from ava_tx.core.tf_setup import tf
from ava_tx.inference import tfjs_graph_model
from tests.inference import tfjs_files


def _images(seed=1):
  return np.random.default_rng(seed).normal(size=[1, 8, 8, 3]).astype(np.float32)


def test_weights_are_read_in_order_and_dequantized():
  manifest = [
    {
      "paths": ["a.bin", "b.bin"],
      "weights": [
        {"name": "f", "shape": [2], "dtype": "float32"},
        {
          "name": "q",
          "shape": [3],
          "dtype": "float32",
          "quantization": {"dtype": "uint8", "min": -1.0, "scale": 0.5},
        },
        {"name": "h", "shape": [1], "dtype": "float32", "quantization": {"dtype": "float16"}},
        {"name": "i", "shape": [], "dtype": "int32"},
        {
          "name": "w",
          "shape": [2],
          "dtype": "float32",
          "quantization": {"dtype": "uint16", "min": 2.0, "scale": 0.25},
        },
      ],
    }
  ]
  data = (
    np.array([1.5, -2.0], np.float32).tobytes()
    + np.array([0, 2, 255], np.uint8).tobytes()
    + np.array([0.75], np.float16).tobytes()
    + np.array(7, np.int32).tobytes()
    + np.array([4, 1000], np.uint16).tobytes()
  )
  shards = {"a.bin": data[:5], "b.bin": data[5:]}  # A weight may span two shards.
  got = tfjs_graph_model.read_weights(manifest, shards.__getitem__)
  assert got["f"].tolist() == [1.5, -2.0]
  assert got["q"].tolist() == [-1.0, 0.0, 126.5] and got["q"].dtype == np.float32
  assert got["h"].tolist() == [0.75] and got["h"].dtype == np.float32
  assert got["i"].shape == () and int(got["i"]) == 7 and got["i"].dtype == np.int32
  assert got["w"].tolist() == [3.0, 252.0]
  with pytest.raises(
    errors.InputError,
    match=r"m.json: group 0 \(a.bin, b.bin\) holds 20 bytes; weight 'w' needs bytes 17..21",
  ):
    tfjs_graph_model.read_weights(
      manifest, {"a.bin": data[:5], "b.bin": data[5:-1]}.__getitem__, where="m.json"
    )
  with pytest.raises(
    errors.InputError, match="m.json: group 0 .* holds 22 bytes but its weights take 21"
  ):
    tfjs_graph_model.read_weights(
      manifest, {"a.bin": data[:5], "b.bin": data[5:] + b"x"}.__getitem__, where="m.json"
    )
  manifest[0]["weights"][0]["dtype"] = "string"
  with pytest.raises(errors.InputError, match="m.json: weight 'f' has dtype 'string'"):
    tfjs_graph_model.read_weights(manifest, shards.__getitem__, where="m.json")


def test_the_loaded_graph_computes_what_tensorflow_computes(tmp_path):
  stored, originals, step = tfjs_files.write_tfjs_model(tmp_path / "m")
  function, spec = tfjs_graph_model.load(str(tmp_path / "m" / "model.json"))
  assert spec.shape.as_list() == [1, 8, 8, 3] and spec.dtype == tf.float32
  images = _images()
  got = function(tf.constant(images))["Identity"].numpy()
  # Against the same (dequantized) weights: the same ops, so equal up to float rounding.
  np.testing.assert_allclose(got, tfjs_files.reference(images, stored), rtol=0, atol=1e-5)
  # The quantized weights are within half a step of the originals.
  assert np.abs(stored["dw/kernel"] - originals["dw/kernel"]).max() <= step / 2 + 1e-7
  assert 0 < step < 0.05
  np.testing.assert_allclose(stored["fc/kernel"], originals["fc/kernel"], rtol=1e-3, atol=1e-4)
  # And the output is near the unquantized graph's.
  assert np.abs(got - tfjs_files.reference(images, originals)).max() < 0.1


def test_the_saved_model_serves_the_same_outputs(tmp_path):
  stored, _, _ = tfjs_files.write_tfjs_model(tmp_path / "m")
  info = tfjs_graph_model.save_saved_model(str(tmp_path / "m" / "model.json"), str(tmp_path / "sm"))
  assert info == {"input": [[1, 8, 8, 3], "float32"], "outputs": ["Identity"]}
  loaded = tf.saved_model.load(str(tmp_path / "sm"))
  images = _images(2)
  got = loaded.serve(tf.constant(images))["Identity"].numpy()
  np.testing.assert_allclose(got, tfjs_files.reference(images, stored), rtol=0, atol=1e-5)
  served = loaded.signatures["serving_default"](images=tf.constant(images))["Identity"].numpy()
  np.testing.assert_array_equal(served, got)


def test_files_read_from_memory_give_the_same_model(tmp_path):
  stored, _, _ = tfjs_files.write_tfjs_model(tmp_path / "m")
  # As the fetch reads an archive's members: {member name: bytes}, nothing written to disk.
  members = {"pkg/models/" + p.name: p.read_bytes() for p in (tmp_path / "m").iterdir()}
  assert len(members) >= 2  # model.json and its weight shard(s).
  function, _ = tfjs_graph_model.load("pkg/models/model.json", read_file=members.__getitem__)
  images = _images(3)
  got = function(tf.constant(images))["Identity"].numpy()
  np.testing.assert_allclose(got, tfjs_files.reference(images, stored), rtol=0, atol=1e-5)
  with pytest.raises(KeyError, match="pkg/models/model.json"):
    tfjs_graph_model.load("pkg/models/model.json", read_file={}.__getitem__)


def test_other_fused_activations(tmp_path):
  stored, _, _ = tfjs_files.write_tfjs_model(tmp_path / "m")
  path = tmp_path / "m" / "model.json"
  model = json.loads(path.read_text())
  nodes = {n["name"]: n for n in model["modelTopology"]["node"]}
  # The convolution's Relu becomes LeakyRelu (alpha 0.25), the matmul gets a Sigmoid.
  nodes["conv/Relu"]["attr"]["fused_ops"]["list"]["s"] = ["Qmlhc0FkZA==", "TGVha3lSZWx1"]
  nodes["conv/Relu"]["attr"]["leakyrelu_alpha"] = {"f": 0.25}
  nodes["fc/BiasAdd"]["attr"]["fused_ops"]["list"]["s"] = ["Qmlhc0FkZA==", "U2lnbW9pZA=="]
  path.write_text(json.dumps(model))
  function, _ = tfjs_graph_model.load(str(path))
  images = _images(4)
  x = tf.nn.conv2d(images, stored["conv/kernel"], 1, "SAME") + stored["conv/bias"]
  x = tf.nn.leaky_relu(x, alpha=0.25)
  x = tf.nn.depthwise_conv2d(x, stored["dw/kernel"], [1, 2, 2, 1], "SAME") + stored["dw/bias"]
  x = tf.reshape(tf.nn.relu6(x), [1, -1])
  expected = tf.sigmoid(tf.matmul(x, stored["fc/kernel"]) + stored["fc/bias"]).numpy()
  got = function(tf.constant(images))["Identity"].numpy()
  np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


def test_unsupported_fusions_and_missing_weights_are_named(tmp_path):
  tfjs_files.write_tfjs_model(tmp_path / "m")
  path = tmp_path / "m" / "model.json"
  model = json.loads(path.read_text())
  [conv] = [n for n in model["modelTopology"]["node"] if n["name"] == "conv/Relu"]
  conv["attr"]["fused_ops"]["list"]["s"] = ["RnVzZWRCYXRjaE5vcm0="]  # FusedBatchNorm
  path.write_text(json.dumps(model))
  with pytest.raises(
    errors.InputError,
    match=r"model.json: node 'conv/Relu' \(_FusedConv2D\) fuses \['FusedBatchNorm'\]",
  ):
    tfjs_graph_model.load(str(path))
  model["weightsManifest"][0]["weights"] = model["weightsManifest"][0]["weights"][:1]
  model["weightsManifest"][0]["paths"] = ["short.bin"]
  (tmp_path / "m" / "short.bin").write_bytes(np.zeros([3, 3, 3, 4], np.float32).tobytes())
  path.write_text(json.dumps(model))
  with pytest.raises(errors.InputError, match="model.json: Const node 'conv/bias' has no weight"):
    tfjs_graph_model.load(str(path))
  path.write_text(json.dumps({"modelTopology": {}}))
  with pytest.raises(
    errors.InputError, match="no 'weightsManifest'; not a TensorFlow.js graph model"
  ):
    tfjs_graph_model.load(str(path))


def test_output_keys():
  assert tfjs_graph_model.output_key("tower_0/detections") == "tower_0_detections"
  assert tfjs_graph_model.output_key("Identity:0") == "Identity"
