"""Static shape checks made at layer and loss entry, with errors that say what was expected."""

from ava_tx.core.tf_setup import tf


def check_rank(name: str, tensor: tf.Tensor, rank: int, expected: str) -> None:
  """Raises ValueError unless `tensor` has rank `rank` (an unknown static rank passes).

  Args:
    name: the argument's name, e.g. "boxes".
    tensor: the tensor checked.
    rank: the rank required.
    expected: the documented shape, e.g. "[batch_size, num_proposals, 4]".

  Raises:
    ValueError: "{name} must be {expected} (rank {rank}), got shape {tensor.shape}."
  """
  if tensor.shape.rank is not None and tensor.shape.rank != rank:
    raise ValueError(f"{name} must be {expected} (rank {rank}), got shape {tensor.shape}.")
