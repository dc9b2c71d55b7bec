"""Installs ava_tx; compiles protos/*.proto into ava_tx/protos/*_pb2.py on every build."""

import importlib.util
import os

import setuptools
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def _compile_protos():
  spec = importlib.util.spec_from_file_location(
    "ava_tx_proto_compiler", os.path.join(HERE, "ava_tx", "protos", "compiler.py")
  )
  compiler = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(compiler)
  return compiler.compile_protos(os.path.join(HERE, "protos"), HERE)


class BuildPyWithProtos(build_py):
  """build_py that first regenerates the _pb2 modules (used by both wheel and editable builds)."""

  def run(self):
    for path in _compile_protos():
      print(f"generated {os.path.relpath(path, HERE)}")
    super().run()


class BuildProtos(setuptools.Command):
  """`python setup.py build_protos`: regenerate the _pb2 modules in the source tree."""

  user_options = []

  def initialize_options(self):
    pass

  def finalize_options(self):
    pass

  def run(self):
    for path in _compile_protos():
      print(f"generated {os.path.relpath(path, HERE)}")


# Pinned, tested versions (see ../shared/FACTS.md). tensorflow-io is deliberately absent:
# video decoding uses PyAV and remote storage tf.io.gfile.
INSTALL_REQUIRES = [
  "tensorflow==2.20.0",
  "tf-keras==2.20.1",
  "tf-models-official==2.20.0",
  "numpy>=2.0,<3",
  "absl-py>=1.4,<3",
  "pycocotools==2.0.11",
  "av==18.1.0",
  "opencv-python-headless==5.1.0.95",  # training crops' resize (tf-models-official needs it too)
  "protobuf>=5.28",
  "setuptools<81",  # tensorflow_hub (via tf-models-official) needs pkg_resources
]

setuptools.setup(
  name="ava_tx",
  version="0.1.0",
  description="Video Action Transformer Network (Girdhar et al., CVPR 2019) in TensorFlow 2",
  python_requires=">=3.10,<3.13",
  packages=setuptools.find_packages(include=["ava_tx", "ava_tx.*", "data_tools", "data_tools.*"]),
  install_requires=INSTALL_REQUIRES,
  extras_require={
    "test": [
      "pytest==9.2.0",
      "pytest-xdist==3.8.0",
      "grpcio-tools==1.81.1",
      "hypothesis==6.170.15",
      "ruff==0.17.6",
    ],
    # Beam conversion (docs/BEAM.md); moves protobuf 7.x -> 6.33 and pillow 13 -> 12.3.
    "beam": ["apache-beam==2.77.0"],
  },
  cmdclass={"build_py": BuildPyWithProtos, "build_protos": BuildProtos},
  entry_points={"console_scripts": ["model_main_tf2=ava_tx.model_main_tf2:run"]},
)
