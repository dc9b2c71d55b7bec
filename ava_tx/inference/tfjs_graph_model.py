"""Reading TensorFlow.js graph models (model.json + weight shards) into plain TensorFlow.

A TFJS graph model is a frozen GraphDef written as proto JSON (`modelTopology`), whose Const
nodes carry no values: the values are in binary shards listed by `weightsManifest` (groups of
`paths`, concatenated in order, and `weights` [{name, shape, dtype, quantization?}] laid out in
that order). Quantized weights are stored as uint8 or uint16 (value = q * scale + min) or as
float16, and widened back to their `dtype` here.

The TFJS converter also fuses ops under names of its own: `_FusedConv2D`, `_FusedMatMul` (real
TensorFlow ops) and `FusedDepthwiseConv2dNative` (TFJS's name). All three are expanded here into
the plain ops they stand for (Conv2D / DepthwiseConv2dNative / MatMul, then BiasAdd, then the
activation), so the graph runs on any TensorFlow build and device.

`save_saved_model` writes the result as a SavedModel with one function, `serve`, so later runs
need only TensorFlow (`tf.saved_model.load(dir).serve(images)`). No part of the `tensorflowjs`
package is used.
"""

import json
import posixpath
import re

import numpy as np

from ava_tx.core import errors

_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
_QUANTIZED = {"uint8": np.uint8, "uint16": np.uint16, "float16": np.float16}
_FUSED = {
  "_FusedConv2D": "Conv2D",
  "FusedDepthwiseConv2dNative": "DepthwiseConv2dNative",
  "_FusedDepthwiseConv2dNative": "DepthwiseConv2dNative",
  "_FusedMatMul": "MatMul",
}
# Attributes of the fused ops that the plain op does not take.
_FUSION_ATTRS = ("fused_ops", "num_args", "epsilon", "leakyrelu_alpha", "num_host_args")
_ACTIVATIONS = {"Relu", "Relu6", "Elu", "Sigmoid", "Tanh", "LeakyRelu"}


def read_weights(manifest, read_shard, *, where="weightsManifest") -> dict:
  """{weight name: np.ndarray} from a TFJS weightsManifest.

  Args:
    manifest: the model.json's `weightsManifest` list.
    read_shard: path (as written in `paths`) -> bytes.
    where: what to name in error messages (e.g. the model.json path).

  Raises:
    errors.InputError: an unknown dtype or quantization, or shards shorter or longer than the
      weights they should hold.
  """
  values = {}
  for group_index, group in enumerate(manifest):
    data = b"".join(read_shard(path) for path in group["paths"])
    offset = 0
    for weight in group["weights"]:
      name, shape, dtype = weight["name"], [int(d) for d in weight["shape"]], weight["dtype"]
      if dtype not in _DTYPES:
        raise errors.InputError(
          f"{where}: weight {name!r} has dtype {dtype!r}, not one of {sorted(_DTYPES)}"
        )
      count = int(np.prod(shape, dtype=np.int64))
      quantization = weight.get("quantization")
      stored = np.dtype(_DTYPES[dtype])
      if quantization is not None:
        if quantization.get("dtype") not in _QUANTIZED:
          raise errors.InputError(
            f"{where}: weight {name!r} has quantization dtype {quantization.get('dtype')!r}, "
            f"not one of {sorted(_QUANTIZED)}"
          )
        stored = np.dtype(_QUANTIZED[quantization["dtype"]])
      size = count * stored.itemsize
      if offset + size > len(data):
        raise errors.InputError(
          f"{where}: group {group_index} ({', '.join(group['paths'])}) holds {len(data)} bytes; "
          f"weight {name!r} needs bytes {offset}..{offset + size}"
        )
      raw = np.frombuffer(data, stored, count, offset).reshape(shape)
      offset += size
      if quantization is None:
        value = raw.copy()
      elif quantization["dtype"] == "float16":
        value = raw.astype(_DTYPES[dtype])
      else:
        value = raw.astype(np.float64) * quantization["scale"] + quantization["min"]
        value = value.astype(_DTYPES[dtype])
      values[name] = value
    if offset != len(data):
      raise errors.InputError(
        f"{where}: group {group_index} ({', '.join(group['paths'])}) holds {len(data)} bytes "
        f"but its weights take {offset}"
      )
  return values


def _expand_fused(node, graph_def, where):
  """Appends the plain ops for a fused node; the last one keeps the node's name."""
  from tensorflow.core.framework import node_def_pb2  # pylint: disable=import-outside-toplevel

  fused_ops = [s.decode() for s in node.attr["fused_ops"].list.s]
  num_args = node.attr["num_args"].i
  data_inputs = [i for i in node.input if not i.startswith("^")]
  controls = [i for i in node.input if i.startswith("^")]
  base = node_def_pb2.NodeDef(name=node.name + "/unfused", op=_FUSED[node.op])
  base.input.extend(data_inputs[:2] + controls)
  for key, value in node.attr.items():
    if key not in _FUSION_ATTRS:
      base.attr[key].CopyFrom(value)
  extra = data_inputs[2 : 2 + num_args]
  chain, previous = [base], base.name
  steps = list(fused_ops)
  if steps and steps[0] == "BiasAdd":
    bias = node_def_pb2.NodeDef(name=node.name + "/bias_add", op="BiasAdd")
    bias.input.extend([previous, extra[0]])
    bias.attr["T"].CopyFrom(node.attr["T"])
    if base.op != "MatMul":
      bias.attr["data_format"].CopyFrom(node.attr["data_format"])
    chain.append(bias)
    previous, steps = bias.name, steps[1:]
  if len(steps) > 1 or (steps and steps[0] not in _ACTIVATIONS):
    raise errors.InputError(
      f"{where}: node {node.name!r} ({node.op}) fuses {fused_ops}; only BiasAdd followed by one "
      f"of {sorted(_ACTIVATIONS)} is supported"
    )
  for step in steps:
    out = node_def_pb2.NodeDef(name=node.name + "/" + step.lower(), op=step, input=[previous])
    out.attr["T"].CopyFrom(node.attr["T"])
    if step == "LeakyRelu":
      out.attr["alpha"].f = node.attr["leakyrelu_alpha"].f
    chain.append(out)
  # The last op takes the fused node's name, so consumers stay connected.
  chain[-1].name = node.name
  graph_def.node.extend(chain)


def graph_def_from_json(model: dict, weights: dict, *, where="model.json"):
  """A tf GraphDef of the model's topology, with Const values from `weights` and the fused
  TFJS ops expanded (see the module docstring).

  Raises:
    errors.InputError: a Const without a weight, a weight of the wrong shape, an unsupported
      fusion.
  """
  from google.protobuf import json_format  # pylint: disable=import-outside-toplevel
  from tensorflow.core.framework import graph_pb2  # pylint: disable=import-outside-toplevel

  from ava_tx.core.tf_setup import tf  # pylint: disable=import-outside-toplevel

  topology = dict(model["modelTopology"])
  parsed = json_format.ParseDict(topology, graph_pb2.GraphDef(), ignore_unknown_fields=True)
  graph_def = graph_pb2.GraphDef()
  graph_def.versions.CopyFrom(parsed.versions)
  graph_def.library.CopyFrom(parsed.library)
  for node in parsed.node:
    node.device = ""
    if node.op == "Const":
      if node.name not in weights:
        raise errors.InputError(
          f"{where}: Const node {node.name!r} has no weight in weightsManifest"
        )
      value = weights[node.name]
      declared = node.attr["dtype"].type
      if declared and declared != tf.as_dtype(value.dtype).as_datatype_enum:
        # TFJS has no int64 (nor float64): such constants are stored as int32 (float32).
        value = value.astype(tf.as_dtype(declared).as_numpy_dtype)
      node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
      node.attr["dtype"].type = tf.as_dtype(value.dtype).as_datatype_enum
      graph_def.node.append(node)
    elif node.op in _FUSED:
      _expand_fused(node, graph_def, where)
    else:
      graph_def.node.append(node)
  return graph_def


def _read_from_disk(path: str) -> bytes:
  with open(path, "rb") as f:
    return f.read()


def read_model_json(json_path: str, read_file=_read_from_disk):
  """(model dict, weights dict) of a TFJS graph model's model.json and its shards beside it.

  read_file: path -> bytes; by default the files on disk, or e.g. the members of an archive
    read into memory ({member name: bytes}.__getitem__), so nothing is written to read them.
  """
  try:
    model = json.loads(read_file(json_path))
  except ValueError as error:
    raise errors.InputError(f"{json_path}: not JSON ({error})") from error
  for key in ("modelTopology", "weightsManifest"):
    if key not in model:
      raise errors.InputError(f"{json_path}: no {key!r}; not a TensorFlow.js graph model")
  folder = posixpath.dirname(json_path)

  def read_shard(path):
    return read_file(posixpath.join(folder, path))

  return model, read_weights(model["weightsManifest"], read_shard, where=json_path)


def _tensor_name(name: str) -> str:
  return name if ":" in name else name + ":0"


def output_key(name: str) -> str:
  """The SavedModel output key of a tensor name: 'tower_0/detections' -> 'tower_0_detections'."""
  return re.sub(r"\W", "_", name.split(":")[0])


def signature_names(model: dict, where="model.json"):
  """(input tensor name, {output key: tensor name}) from the model's `signature`."""
  signature = model.get("signature") or {}
  inputs = list((signature.get("inputs") or {}).values())
  outputs = list((signature.get("outputs") or {}).values())
  if len(inputs) != 1 or not outputs:
    raise errors.InputError(
      f"{where}: the signature must name one input and at least one output "
      f"(has {len(inputs)} inputs, {len(outputs)} outputs)"
    )
  return _tensor_name(inputs[0]["name"]), {
    output_key(o["name"]): _tensor_name(o["name"]) for o in outputs
  }


def concrete_function(graph_def, input_name: str, outputs: dict):
  """A tf function images -> {key: tensor} running the GraphDef from input_name to outputs."""
  from ava_tx.core.tf_setup import tf  # pylint: disable=import-outside-toplevel

  def import_graph():
    tf.compat.v1.import_graph_def(graph_def, name="")

  wrapped = tf.compat.v1.wrap_function(import_graph, [])
  graph = wrapped.graph
  return wrapped.prune(
    feeds=graph.get_tensor_by_name(input_name),
    fetches={key: graph.get_tensor_by_name(name) for key, name in outputs.items()},
  )


def load(json_path: str, read_file=_read_from_disk):
  """(function images -> {output key: tensor}, input tf.TensorSpec) of a model.json
  (`read_model_json` says what read_file is)."""
  from ava_tx.core.tf_setup import tf  # pylint: disable=import-outside-toplevel

  model, weights = read_model_json(json_path, read_file)
  graph_def = graph_def_from_json(model, weights, where=json_path)
  input_name, outputs = signature_names(model, where=json_path)
  function = concrete_function(graph_def, input_name, outputs)
  placeholder = function.inputs[0]
  spec = tf.TensorSpec(placeholder.shape, placeholder.dtype, name="images")
  return function, spec


def save_saved_model(json_path: str, export_dir: str, read_file=_read_from_disk) -> dict:
  """Converts a TFJS graph model to a SavedModel at export_dir with the function `serve`
  (images -> {output key: tensor}); returns {"input": [shape, dtype], "outputs": [keys]}."""
  from ava_tx.core.tf_setup import tf  # pylint: disable=import-outside-toplevel

  function, spec = load(json_path, read_file)
  module = tf.Module()
  module.serve = tf.function(lambda images: function(images), input_signature=[spec])
  tf.saved_model.save(module, export_dir, signatures={"serving_default": module.serve})
  return {
    "input": [list(spec.shape.as_list()), spec.dtype.name],
    "outputs": sorted(function.structured_outputs),
  }
