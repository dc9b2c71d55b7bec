"""Models and synthetic batches for the benchmark suite, built from the project's configs.

Sizes used by the suite (`--quick` shrinks them):
  tiny:  configs/tiny_synthetic_cpu.config as it trains (16x112x112, 1/4-width trunk, stem
         trained, detector boxes as proposals, batch 4).
  mid:   configs/ava_tx_highres_64f_400.config at 32x224x224, full-width trunk, RPN with
         R=64 proposals, batch 2, random weights (the timing does not depend on them).

`sizes(..., trunk_final_endpoint="Mixed_3c")` stops both trunks there instead of at the configs'
Mixed_4f (tests/benchmarks/test_run.py passes it through `benchmarks.run.run`: tracing the train
step, not running it, is most of a --quick run's time, and a shorter trunk traces in about 3/4
of the time).
"""

import dataclasses
from typing import Optional

import numpy as np

from ava_tx.builders import config_util
from ava_tx.builders import model_builder
from ava_tx.core import flops
from ava_tx.core import precision
from ava_tx.core.standard_fields import InputFields
from ava_tx.core.standard_fields import LossFields
from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf
from ava_tx.training import train_loop

TINY_CONFIG = "configs/tiny_synthetic_cpu.config"
PAPER_CONFIG = "configs/ava_tx_highres_64f_400.config"
_MAX_BOXES = 8


@dataclasses.dataclass(frozen=True)
class ModelSize:
  """A config and the overrides the suite applies to it."""

  name: str
  config_path: str
  batch_size: int
  num_frames: int
  image_size: int
  depth_multiplier: Optional[float] = None
  num_proposals: Optional[int] = None
  freeze_up_to_endpoint: Optional[str] = None  # "" unfreezes everything
  final_endpoint: Optional[str] = None  # the trunk's last block; None: the config's


def sizes(quick: bool, trunk_final_endpoint: Optional[str] = None):
  """The tiny and mid sizes (smaller with --quick); both trunks end at `trunk_final_endpoint`
  (an I3D endpoint name, e.g. "Mixed_3c"; None: the configs' own, Mixed_4f)."""
  endpoint = trunk_final_endpoint
  if quick:
    return (
      ModelSize("tiny", TINY_CONFIG, 2, 8, 64, final_endpoint=endpoint),
      ModelSize(
        "mid",
        PAPER_CONFIG,
        1,
        8,
        112,
        depth_multiplier=0.25,
        num_proposals=16,
        final_endpoint=endpoint,
      ),
    )
  return (
    ModelSize("tiny", TINY_CONFIG, 4, 16, 112, final_endpoint=endpoint),
    ModelSize("mid", PAPER_CONFIG, 2, 32, 224, num_proposals=64, final_endpoint=endpoint),
  )


def paper_training_size(batch_size: int) -> ModelSize:
  """The paper's training clip: configs/ava_tx_highres_64f_400.config as it is (64x400x400,
  full-width trunk, its RPN; only the batch size set)."""
  return ModelSize("paper size", PAPER_CONFIG, batch_size, 64, 400)


def model_config(size: ModelSize):
  """The ActionTransformer proto of `size` (fine-tune checkpoint cleared)."""
  config = config_util.load_pipeline_config(size.config_path).model.action_transformer
  config.trunk.fine_tune_checkpoint = ""
  config.num_frames = size.num_frames
  config.image_height = config.image_width = size.image_size
  if size.depth_multiplier is not None:
    config.trunk.depth_multiplier = size.depth_multiplier
  if size.num_proposals is not None:
    config.rpn.num_proposals_train = config.rpn.num_proposals_test = size.num_proposals
    config.rpn.pre_nms_top_k_train = config.rpn.pre_nms_top_k_test = max(
      size.num_proposals * 4, 256
    )
  if size.freeze_up_to_endpoint is not None:
    config.trunk.freeze_up_to_endpoint = size.freeze_up_to_endpoint
  if size.final_endpoint is not None:
    config.trunk.final_endpoint = size.final_endpoint
  return config


def build(size: ModelSize, policy: str = precision.FLOAT32):
  """(model, model_config) built under the Keras dtype policy `policy`."""
  config = model_config(size)
  with precision.policy_scope(policy):
    return model_builder.build(config), config


def synthetic_batch(size: ModelSize, num_classes: int, seed: int = 0):
  """A training batch of random frames with two labelled boxes per clip (also proposals)."""
  rng = np.random.default_rng(seed)
  shape = [size.batch_size, size.num_frames, size.image_size, size.image_size, 3]
  boxes = np.zeros([size.batch_size, _MAX_BOXES, 4], np.float32)
  boxes[:, 0], boxes[:, 1] = [0.1, 0.2, 0.7, 0.6], [0.3, 0.5, 0.9, 0.9]
  classes = np.zeros([size.batch_size, _MAX_BOXES, num_classes], np.float32)
  classes[:, 0, 0] = classes[:, 1, num_classes - 1] = 1.0
  count = np.full([size.batch_size], 2, np.int32)
  return {
    InputFields.frames: tf.constant(rng.uniform(-1, 1, shape), tf.float32),
    InputFields.groundtruth_boxes: tf.constant(boxes),
    InputFields.groundtruth_classes: tf.constant(classes),
    InputFields.num_groundtruth_boxes: tf.constant(count),
    InputFields.proposal_boxes: tf.constant(boxes),
    InputFields.num_proposal_boxes: tf.constant(count),
  }


def train_step(model, *, jit_compile: bool = False):
  """tf.function(batch) -> total loss: the loop's loss, gradients and an SGD update.

  Without autograph (as the inference functions timed in suite/inference.py): the model has no
  data-dependent Python control flow, so the graph is the same, and converting its code costs
  about a quarter of the first call's tracing."""
  optimizer = keras.optimizers.SGD(0.001, momentum=0.9)

  def step(batch):
    with tf.GradientTape() as tape:
      losses = train_loop.compute_detection_losses(model, batch, training=True)
    variables = model.trainable_variables
    gradients = tape.gradient(losses[LossFields.total_loss], variables)
    optimizer.apply_gradients(zip(gradients, variables))
    return losses[LossFields.total_loss]

  return tf.function(step, jit_compile=jit_compile, autograph=False)


def training_flops(model, batch) -> flops.FlopCount:
  """Forward and training FLOPs of one step on `batch` (traced, not run)."""
  loss = lambda b: train_loop.compute_detection_losses(  # noqa: E731
    model, b, training=True
  )[LossFields.total_loss]
  return flops.function_flops(loss, batch, trainable_variables=lambda: model.trainable_variables)
