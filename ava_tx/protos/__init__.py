"""Generated protobuf modules of the pipeline config (built from the top-level protos/ folder).

If `from ava_tx.protos import pipeline_pb2` fails, the package was not installed with
`pip install .` / `pip install -e .` (which compile the .proto sources); run that, or
`python setup.py build_protos`.
"""
