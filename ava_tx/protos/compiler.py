"""Compiles the pipeline-config .proto sources into importable `ava_tx.protos.*_pb2` modules.

The sources live in the top-level `protos/` folder and import each other as
`ava_tx/protos/<name>.proto`, so they are staged under that path before protoc runs. The
generated modules are build products (not committed): `pip install .` and `pip install -e .`
run this through setup.py. Pure Python; needs grpcio-tools, not TensorFlow.
"""

import glob
import os
import shutil
import subprocess
import sys
import tempfile

PACKAGE_PATH = os.path.join("ava_tx", "protos")


def proto_sources(proto_dir):
  """Returns the sorted .proto files of `proto_dir`; raises if there are none."""
  sources = sorted(glob.glob(os.path.join(proto_dir, "*.proto")))
  if not sources:
    raise FileNotFoundError(f"no .proto files in {proto_dir!r}")
  return sources


def compile_protos(proto_dir, output_root):
  """Compiles every `proto_dir/*.proto` to `output_root/ava_tx/protos/<name>_pb2.py`.

  Args:
    proto_dir: folder holding the .proto sources.
    output_root: folder that holds (or will hold) the `ava_tx` package.

  Returns:
    The list of generated file paths.

  Raises:
    RuntimeError: protoc failed; the message has protoc's exit code and says which sources.
  """
  sources = proto_sources(proto_dir)
  with tempfile.TemporaryDirectory() as stage:
    staged_dir = os.path.join(stage, PACKAGE_PATH)
    os.makedirs(staged_dir)
    staged = []
    for source in sources:
      target = os.path.join(staged_dir, os.path.basename(source))
      shutil.copyfile(source, target)
      staged.append(target)
    out_dir = os.path.join(output_root, PACKAGE_PATH)
    os.makedirs(out_dir, exist_ok=True)
    # protoc runs in its own process: loading grpc_tools' compiler into a process that has
    # already loaded TensorFlow crashes (two protobuf runtimes in one address space).
    result = subprocess.run(
      [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{stage}",
        f"--python_out={output_root}",
        *staged,
      ],
      capture_output=True,
      text=True,
      check=False,
    )
    if result.returncode != 0:
      raise RuntimeError(
        f"protoc exited with {result.returncode} compiling {', '.join(sources)}:\n{result.stderr}"
      )
  return [
    os.path.join(output_root, PACKAGE_PATH, os.path.basename(s)[: -len(".proto")] + "_pb2.py")
    for s in sources
  ]
