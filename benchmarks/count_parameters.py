"""Prints parameter counts of the model's parts (no computation, variables only).

  python -m benchmarks.count_parameters

Each section is a function returning rows (label, trainable, total); add a section by
appending to SECTIONS. "total" includes non-trainable variables (batch-norm moving statistics).
"""

from typing import Callable, Iterable

from ava_tx.trunks import i3d

Row = tuple[str, int, int]


def _count(layer) -> tuple[int, int]:
  trainable = sum(int(v.shape.num_elements()) for v in layer.trainable_weights)
  total = sum(int(v.shape.num_elements()) for v in layer.weights)
  return trainable, total


def trunk_rows() -> Iterable[Row]:
  """The I3D trunk (stem..Mixed_4f), the full I3D (stem..Mixed_5c) and the head's tail."""
  for label, first, final, channels in [
      ("I3D trunk, Conv3d_1a_7x7..Mixed_4f", i3d.ENDPOINTS[0], "Mixed_4f", 3),
      ("I3D, Conv3d_1a_7x7..Mixed_5c", i3d.ENDPOINTS[0], "Mixed_5c", 3),
      ("I3D tail, MaxPool3d_5a_2x2..Mixed_5c", "MaxPool3d_5a_2x2", "Mixed_5c", 832),
  ]:
    model = i3d.InceptionI3D(first_endpoint=first, final_endpoint=final)
    model.build([None, None, None, None, channels])
    yield (label, *_count(model))
  shape = i3d.InceptionI3D().compute_output_shape([1, 64, 400, 400, 3])["Mixed_4f"]
  print(f"  (Mixed_4f for a 64x400x400 clip: {shape.as_list()})")


SECTIONS: list[tuple[str, Callable[[], Iterable[Row]]]] = [
    ("Trunk", trunk_rows),
]


def main():
  print(f"{'part':<44} {'trainable':>12} {'total':>12}")
  for title, rows in SECTIONS:
    print(f"[{title}]")
    for label, trainable, total in rows():
      print(f"{label:<44} {trainable:>12,} {total:>12,}")


if __name__ == "__main__":
  main()
