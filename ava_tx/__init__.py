"""ava_tx: the Video Action Transformer Network (Girdhar et al., CVPR 2019) in TensorFlow 2.

Importing the package does not import TensorFlow: the AVA annotation parsers and the
evaluator are usable without it. Modules that need TensorFlow or Keras import them through
`ava_tx.core.tf_setup`, which selects legacy Keras 2 (tf-keras) before TensorFlow loads.
"""

__version__ = "0.1.0"
