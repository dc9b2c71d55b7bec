"""A small graph written in TensorFlow.js graph-model format, as the TFJS converter writes it.

`write_tfjs_model(folder)` writes folder/model.json and folder/group1-shard1of1.bin for the
graph

  images [1, 8, 8, 3] float32
  -> _FusedConv2D 3x3x3x4, stride 1, SAME, + bias, Relu            (float32 weights)
  -> FusedDepthwiseConv2dNative 3x3x4x1, stride 2, SAME, + bias, Relu6   (uint8-quantized kernel)
  -> Reshape [1, 64] (an int64 Const stored as int32, as TFJS stores them)
  -> _FusedMatMul 64x5 + bias                                     (float16 kernel) -> Identity

and returns the weights the loader must reconstruct (the quantized ones as stored, i.e. after
dequantization) and the float32 originals. `reference(images, weights)` computes the graph
with plain tf.nn ops.
"""

import json
import os

from google.protobuf import json_format
import numpy as np

from ava_tx.core.tf_setup import tf

WEIGHTS_FILE = "group1-shard1of1.bin"


def original_weights(seed=0) -> dict:
  rng = np.random.default_rng(seed)
  return {
    "conv/kernel": rng.normal(size=[3, 3, 3, 4]).astype(np.float32),
    "conv/bias": rng.normal(size=[4]).astype(np.float32),
    "dw/kernel": rng.normal(size=[3, 3, 4, 1]).astype(np.float32),
    "dw/bias": rng.normal(size=[4]).astype(np.float32),
    "reshape/shape": np.array([1, -1], np.int32),
    "fc/kernel": rng.normal(size=[64, 5]).astype(np.float32) * 0.1,
    "fc/bias": rng.normal(size=[5]).astype(np.float32),
  }


def _node(graph_def, name, op, inputs=(), **attrs):
  node = graph_def.node.add(name=name, op=op)
  node.input.extend(inputs)
  for key, value in attrs.items():
    node.attr[key].CopyFrom(value)
  return node


def _attr(**kwargs):
  return tf.compat.v1.AttrValue(**kwargs)


def _list_ints(values):
  return _attr(list=tf.compat.v1.AttrValue.ListValue(i=values))


def _fused_ops(*names):
  return _attr(list=tf.compat.v1.AttrValue.ListValue(s=[n.encode() for n in names]))


def tfjs_graph_def(weights: dict):
  """The GraphDef in TFJS's form: Consts with dtype and shape but no values, fused ops."""
  graph = tf.compat.v1.GraphDef()
  f32 = _attr(type=tf.float32.as_datatype_enum)
  _node(
    graph,
    "images",
    "Placeholder",
    dtype=f32,
    shape=_attr(shape=tf.TensorShape([1, 8, 8, 3]).as_proto()),
  )
  for name, value in weights.items():
    if name == "reshape/shape":
      value = value.astype(np.int64)  # TFJS stores int64 constants as int32 weights.
    empty = tf.make_tensor_proto(value)
    empty.ClearField("tensor_content")
    empty.ClearField("float_val")
    empty.ClearField("int_val")
    _node(
      graph,
      name,
      "Const",
      dtype=_attr(type=tf.as_dtype(value.dtype).as_datatype_enum),
      value=_attr(tensor=empty),
    )
  conv_attrs = dict(
    T=f32,
    data_format=_attr(s=b"NHWC"),
    padding=_attr(s=b"SAME"),
    dilations=_list_ints([1, 1, 1, 1]),
    num_args=_attr(i=1),
    epsilon=_attr(f=0.0),
    explicit_paddings=_list_ints([]),
  )
  _node(
    graph,
    "conv/Relu",
    "_FusedConv2D",
    ["images", "conv/kernel", "conv/bias"],
    strides=_list_ints([1, 1, 1, 1]),
    fused_ops=_fused_ops("BiasAdd", "Relu"),
    use_cudnn_on_gpu=_attr(b=True),
    **conv_attrs,
  )
  _node(
    graph,
    "dw/Relu6",
    "FusedDepthwiseConv2dNative",
    ["conv/Relu", "dw/kernel", "dw/bias"],
    strides=_list_ints([1, 2, 2, 1]),
    fused_ops=_fused_ops("BiasAdd", "Relu6"),
    **conv_attrs,
  )
  _node(
    graph,
    "reshape",
    "Reshape",
    ["dw/Relu6", "reshape/shape"],
    T=f32,
    Tshape=_attr(type=tf.int64.as_datatype_enum),
  )
  _node(
    graph,
    "fc/BiasAdd",
    "_FusedMatMul",
    ["reshape", "fc/kernel", "fc/bias"],
    T=f32,
    transpose_a=_attr(b=False),
    transpose_b=_attr(b=False),
    fused_ops=_fused_ops("BiasAdd"),
    num_args=_attr(i=1),
    epsilon=_attr(f=0.0),
  )
  _node(graph, "Identity", "Identity", ["fc/BiasAdd"], T=f32)
  graph.versions.producer = 1286
  return graph


def _uint8(value):
  low, high = float(value.min()), float(value.max())
  scale = (high - low) / 255.0
  codes = np.round((value - low) / scale).astype(np.uint8)
  return codes, {"dtype": "uint8", "min": low, "scale": scale}, (codes * scale + low)


def write_tfjs_model(folder, seed=0):
  """Writes the model (module docstring); returns (stored weights, original weights, step of the
  uint8 kernel)."""
  originals = original_weights(seed)
  stored, entries, chunks = {}, [], []
  step = None
  for name, value in originals.items():
    entry = {"name": name, "shape": list(value.shape), "dtype": str(value.dtype)}
    if name == "dw/kernel":
      codes, entry["quantization"], dequantized = _uint8(value)
      chunks.append(codes.tobytes())
      stored[name] = dequantized.astype(np.float32)
      step = entry["quantization"]["scale"]
    elif name == "fc/kernel":
      entry["quantization"] = {"dtype": "float16", "original_dtype": "float32"}
      half = value.astype(np.float16)
      chunks.append(half.tobytes())
      stored[name] = half.astype(np.float32)
    else:
      chunks.append(value.tobytes())
      stored[name] = value
    entries.append(entry)
  model = {
    "format": "graph-model",
    "generatedBy": "tests/inference/tfjs_files.py",
    "modelTopology": json_format.MessageToDict(tfjs_graph_def(originals)),
    "weightsManifest": [{"paths": [WEIGHTS_FILE], "weights": entries}],
    "signature": {
      "inputs": {"images": {"name": "images:0", "dtype": "DT_FLOAT"}},
      "outputs": {"Identity:0": {"name": "Identity:0", "dtype": "DT_FLOAT"}},
    },
  }
  os.makedirs(folder, exist_ok=True)
  with open(os.path.join(folder, "model.json"), "w") as f:
    json.dump(model, f)
  with open(os.path.join(folder, WEIGHTS_FILE), "wb") as f:
    f.write(b"".join(chunks))
  return stored, originals, step


def reference(images, weights):
  """The graph's output computed with tf.nn ops."""
  x = tf.nn.conv2d(images, weights["conv/kernel"], 1, "SAME") + weights["conv/bias"]
  x = tf.nn.relu(x)
  x = tf.nn.depthwise_conv2d(x, weights["dw/kernel"], [1, 2, 2, 1], "SAME") + weights["dw/bias"]
  x = tf.nn.relu6(x)
  x = tf.reshape(x, [1, -1])
  return (tf.matmul(x, weights["fc/kernel"]) + weights["fc/bias"]).numpy()
