"""Analytic FLOP counts of the model: forward, and a training step by a stated rule.

What is counted: the multiply-adds of convolutions (Conv2D, Conv3D), dense layers and matrix
products (MatMul, BatchMatMul, Einsum: the attention of the Tx head), as 2 FLOPs each. Batch
norm, activations, pooling, softmax, RoIAlign and NMS are not counted (memory-bound, a few
percent of the total): "achieved GFLOP/s" figures are conv + matmul FLOPs over wall time.

How: the function is traced (tf.function, no execution), and every such op of the traced graph
is counted from its static shapes, so the count follows the model as built (widths, frozen
blocks, R, T) and sees matrix products that are not Keras layers. Ops inside nested function
bodies (tf.map_fn, tf.while_loop) are not seen; the model has none there (RoI pooling's map_fn
holds no matrix product).

Training rule (`training_flops`): a product Y = f(X, W) of forward cost F needs, in the
backward pass, F for dL/dX when X depends on a trainable variable and F for dL/dW when W does
(for the attention's Q.K^T both operands are activations). So a trained layer in the middle of
the network costs 3F, the first trained layer (its input is frames or a frozen block's output)
2F, and a frozen prefix (e.g. the tiny config's stem) F. "Depends on a trainable variable" is
found by following the traced graph forward from the trainable variables' reads (a
StopGradient cuts it). `gradient_graph_flops` counts the ops of a traced gradient instead; the
two agree (tested).
"""

import dataclasses
import math
from typing import Callable, Iterable, Mapping, Sequence

from ava_tx.core.tf_setup import tf

_CONV_OPS = ("Conv2D", "Conv3D")
_MATMUL_OPS = ("MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum")
_BACKPROP_OPS = (
  "Conv2DBackpropInput",
  "Conv2DBackpropFilter",
  "Conv3DBackpropInputV2",
  "Conv3DBackpropFilterV2",
  "Conv2DBackpropInputV2",
  "Conv2DBackpropFilterV2",
)
_NO_GRADIENT_OPS = (
  "StopGradient",
  "Shape",
  "ShapeN",
  "Size",
  "Rank",
  "ZerosLike",
  "OnesLike",
  "Fill",
  "RandomUniform",
  "StatelessRandomUniformV2",
)


def conv_flops(output_shape: Sequence[int], kernel_shape: Sequence[int]) -> int:
  """2 x outputs x (kernel volume x input channels); kernel [k..., in_channels, out_channels]."""
  return 2 * math.prod(output_shape) * math.prod(kernel_shape[:-1])


def matmul_flops(
  a_shape: Sequence[int], output_shape: Sequence[int], *, contract_first: bool = False
) -> int:
  """2 x outputs x contracted size; a is [..., m, k] ([..., k, m] if contract_first)."""
  contracted = a_shape[-2] if contract_first else a_shape[-1]
  return 2 * math.prod(output_shape) * contracted


def einsum_flops(equation: str, shapes: Sequence[Sequence[int]]) -> int:
  """2 x the product of every index's size (each index of the inputs counted once)."""
  inputs = equation.replace(" ", "").split("->")[0].split(",")
  sizes = {}
  for letters, shape in zip(inputs, shapes):
    if "." in letters:
      raise ValueError(f"einsum_flops: ellipsis not supported ({equation!r})")
    sizes.update(zip(letters, shape))
  return 2 * math.prod(sizes.values())


def _shape(tensor, unknown_dim: int):
  if tensor.shape.rank is None:
    raise ValueError(f"{tensor.name}: unknown rank, cannot count FLOPs")
  return [d if d is not None else unknown_dim for d in tensor.shape.as_list()]


def op_flops(op, unknown_dim: int = 1) -> int:
  """FLOPs of one graph op (0 for ops that are not convolutions or matrix products).

  Backprop ops of convolutions count as their forward op. Unknown dimensions are taken as
  `unknown_dim`.
  """
  shape = lambda t: _shape(t, unknown_dim)  # noqa: E731
  if op.type in _CONV_OPS:
    return conv_flops(shape(op.outputs[0]), shape(op.inputs[1]))
  if op.type in ("Conv2DBackpropFilter", "Conv3DBackpropFilterV2", "Conv2DBackpropFilterV2"):
    return conv_flops(shape(op.inputs[2]), shape(op.outputs[0]))
  if op.type in ("Conv2DBackpropInput", "Conv3DBackpropInputV2", "Conv2DBackpropInputV2"):
    return conv_flops(shape(op.inputs[2]), shape(op.inputs[1]))
  if op.type == "MatMul":
    return matmul_flops(
      shape(op.inputs[0]), shape(op.outputs[0]), contract_first=op.get_attr("transpose_a")
    )
  if op.type in ("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"):
    return matmul_flops(
      shape(op.inputs[0]), shape(op.outputs[0]), contract_first=op.get_attr("adj_x")
    )
  if op.type == "Einsum":
    return einsum_flops(op.get_attr("equation").decode(), [shape(t) for t in op.inputs])
  return 0


@dataclasses.dataclass(frozen=True)
class OpCost:
  """One counted op: its name (scoped by the Keras layers that made it), type, forward FLOPs
  and the number of its operands (0, 1 or 2) whose gradient a training step computes."""

  name: str
  type: str
  forward: int
  gradient_operands: int

  @property
  def training(self) -> int:
    return self.forward * (1 + self.gradient_operands)


@dataclasses.dataclass(frozen=True)
class FlopCount:
  """Per-op costs of a traced function, with totals and per-scope sums."""

  ops: tuple

  @property
  def forward(self) -> int:
    return sum(op.forward for op in self.ops)

  @property
  def training(self) -> int:
    return sum(op.training for op in self.ops)

  def by_scope(self, depth: int = 2, training: bool = False) -> Mapping[str, int]:
    """FLOPs summed by the first `depth` components of the op names (e.g. 'model/trunk')."""
    totals = {}
    for op in self.ops:
      scope = "/".join(op.name.split("/")[:depth])
      totals[scope] = totals.get(scope, 0) + (op.training if training else op.forward)
    return totals


def _trainable_placeholders(graph, trainable_variables: Iterable[tf.Variable]):
  handles = {id(v.handle) for v in trainable_variables}
  return {internal.ref() for external, internal in graph.captures if id(external) in handles}


def _gradient_tensors(graph, trainable_variables):
  """Refs of the graph tensors that depend on a trainable variable (graph order is topological)."""
  needs = _trainable_placeholders(graph, trainable_variables)
  for op in graph.get_operations():
    if op.type in _NO_GRADIENT_OPS:
      continue
    if any(t.ref() in needs for t in op.inputs):
      needs.update(t.ref() for t in op.outputs if t.dtype.is_floating or t.dtype == tf.resource)
  return needs


def _differentiated_ops(graph, stop_ops=_NO_GRADIENT_OPS):
  """Names of the ops whose outputs reach the graph's outputs (not through `stop_ops`)."""
  live = {t.op.name for t in graph.outputs}
  for op in reversed(graph.get_operations()):
    if op.name in live and op.type not in stop_ops:
      live.update(t.op.name for t in op.inputs)
  return live


def graph_flops(
  graph, *, trainable_variables: Iterable[tf.Variable] = (), unknown_dim: int = 1
) -> FlopCount:
  """Counts the convolutions and matrix products of a traced graph (see the module doc).

  Gradients are counted for the operands of ops that feed the graph's outputs (its loss).
  """
  needs = _gradient_tensors(graph, trainable_variables)
  live = _differentiated_ops(graph)
  ops = []
  for op in graph.get_operations():
    forward = op_flops(op, unknown_dim)
    if not forward:
      continue
    operands = op.inputs[:2] if op.type != "Einsum" else op.inputs
    gradients = sum(t.ref() in needs for t in operands) if op.name in live else 0
    ops.append(OpCost(op.name, op.type, forward, gradients))
  return FlopCount(tuple(ops))


def function_flops(
  fn: Callable, *input_specs, trainable_variables=None, unknown_dim: int = 1
) -> FlopCount:
  """Traces `fn(*input_specs)` (tf.TensorSpecs or tensors) and counts its FLOPs.

  Args:
    fn: a Python callable or tf.function; variables are created by the trace if needed.
    trainable_variables: variables a training step differentiates, or a callable returning
      them after the trace (which may create them), e.g. `lambda: model.trainable_variables`
      (default: the variables the traced function reads whose
      tf.Variable.trainable is set; that flag ignores Keras `layer.trainable = False`).
  """
  function = fn if hasattr(fn, "get_concrete_function") else tf.function(fn)
  concrete = function.get_concrete_function(*input_specs)
  if trainable_variables is None:
    trainable_variables = concrete.trainable_variables
  elif callable(trainable_variables):
    trainable_variables = trainable_variables()
  return graph_flops(
    concrete.graph, trainable_variables=trainable_variables, unknown_dim=unknown_dim
  )


def gradient_graph_flops(
  loss_fn: Callable, variables_fn: Callable, *input_specs, unknown_dim: int = 1
) -> int:
  """FLOPs of the ops (forward and backward) of a traced `tape.gradient(loss_fn(x), vars)`.

  `variables_fn()` returns the variables to differentiate (called after a first trace, so that
  they exist). Counts the same op types as `graph_flops` plus convolution backprop ops, among
  the ops the gradients depend on: the tape also emits backprop ops for frozen Keras layers
  (their tf.Variables stay `trainable`), which nothing reads and tf.function prunes.
  """
  function_flops(loss_fn, *input_specs)  # Creates the variables.

  def gradient(*inputs):
    with tf.GradientTape() as tape:
      loss = loss_fn(*inputs)
    return tape.gradient(loss, variables_fn())

  graph = tf.function(gradient).get_concrete_function(*input_specs).graph
  live = _differentiated_ops(graph, stop_ops=())
  return sum(op_flops(op, unknown_dim) for op in graph.get_operations() if op.name in live)
