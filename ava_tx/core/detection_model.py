"""Abstract detection model, after the TF Object Detection API's `DetectionModel`.

The life cycle of one step:

  frames, true_image_shapes = model.preprocess(raw_frames)
  model.provide_groundtruth(groundtruth_boxes=..., groundtruth_classes=...,
                            num_groundtruth_boxes=...)          # training / evaluation only
  predictions = model.predict(frames, true_image_shapes, training=True)
  losses = model.loss(predictions, true_image_shapes)           # dict of LossFields
  detections = model.postprocess(predictions, true_image_shapes)  # dict of DetectionFields

Inference without ground truth (ava_tx.export.inference_module, which the exported SavedModel
runs): preprocess, provide_proposal_boxes(...) for models that take person-detector boxes (or
clear_groundtruth()), predict(training=False), postprocess.

Differences from the Object Detection API: `training` is passed explicitly to `predict` (no
global mode); ground truth for AVA is multi-label (multi-hot classes per box). The model is a
Keras layer so that every sub-layer it holds is tracked for variables and checkpoints.
"""

import abc
from typing import Any, Mapping

from ava_tx.core import standard_fields
from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf

InputFields = standard_fields.InputFields


class DetectionModel(keras.layers.Layer, metaclass=abc.ABCMeta):
  """Base class of ava_tx detection models."""

  def __init__(self, *, num_classes: int, **kwargs):
    """Args:
    num_classes: number of action classes C (without background).
    **kwargs: keras.layers.Layer arguments.
    """
    super().__init__(**kwargs)
    if num_classes < 1:
      raise ValueError(f"num_classes must be >= 1, got {num_classes}.")
    self._num_classes = int(num_classes)
    # A plain dict, bypassing Keras attribute tracking: it holds tensors, not variables.
    object.__setattr__(self, "_groundtruth", {})

  @property
  def num_classes(self) -> int:
    """Number of action classes C (background excluded)."""
    return self._num_classes

  @abc.abstractmethod
  def preprocess(self, inputs: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Prepares frames for `predict` (graph-only, reused by the exported SavedModel).

    Args:
      inputs: float32 [batch_size, num_frames, height, width, 3].

    Returns:
      preprocessed_inputs: float32 [batch_size, num_frames, height', width', 3].
      true_image_shapes: int32 [batch_size, 3], (height', width', 3) of the real content.
    """

  @abc.abstractmethod
  def predict(
    self,
    preprocessed_inputs: tf.Tensor,
    true_image_shapes: tf.Tensor | None = None,
    *,
    training: bool,
  ) -> dict[str, tf.Tensor]:
    """Runs the network. Returns a dict keyed by standard_fields.PredictionFields."""

  @abc.abstractmethod
  def loss(
    self, prediction_dict: Mapping[str, tf.Tensor], true_image_shapes: tf.Tensor | None = None
  ) -> dict[str, tf.Tensor]:
    """Losses from `predict`'s output and the provided ground truth.

    Returns:
      dict standard_fields.LossFields key -> float32 scalar, including total_loss.
    """

  @abc.abstractmethod
  def postprocess(
    self, prediction_dict: Mapping[str, tf.Tensor], true_image_shapes: tf.Tensor | None = None
  ) -> dict[str, tf.Tensor]:
    """Final detections. Returns a dict keyed by standard_fields.DetectionFields."""

  @abc.abstractmethod
  def restore_from_objects(self, fine_tune_checkpoint_type: str = "detection") -> dict[str, Any]:
    """Objects to pass as `tf.train.Checkpoint(**objects)` to restore a checkpoint.

    Args:
      fine_tune_checkpoint_type: as the Object Detection API's: "classification" (the converted
        Kinetics I3D checkpoint, restored into the trunk), "detection" (the trunk of a
        training checkpoint of this class, which saves the model as `model`) or "full" (every
        variable of such a checkpoint).
    """

  def provide_groundtruth(
    self,
    *,
    groundtruth_boxes: tf.Tensor,
    groundtruth_classes: tf.Tensor,
    num_groundtruth_boxes: tf.Tensor,
    proposal_boxes: tf.Tensor | None = None,
    num_proposal_boxes: tf.Tensor | None = None,
  ) -> None:
    """Stores ground truth (and optional person-detector boxes) for `predict` and `loss`.

    Args:
      groundtruth_boxes: float32 [batch_size, max_num_boxes, 4], normalized, zero-padded.
      groundtruth_classes: float32 [batch_size, max_num_boxes, num_classes], multi-hot.
      num_groundtruth_boxes: int32 [batch_size], valid rows (0 allowed).
      proposal_boxes: optional float32 [batch_size, max_num_proposals, 4], external
        person-detector boxes, normalized, zero-padded.
      num_proposal_boxes: int32 [batch_size], required with proposal_boxes.
    """
    groundtruth_boxes = tf.convert_to_tensor(groundtruth_boxes, tf.float32)
    groundtruth_classes = tf.convert_to_tensor(groundtruth_classes, tf.float32)
    num_groundtruth_boxes = tf.convert_to_tensor(num_groundtruth_boxes, tf.int32)
    if groundtruth_boxes.shape.rank != 3 or groundtruth_boxes.shape[-1] != 4:
      raise ValueError(
        f"{InputFields.groundtruth_boxes} must be float32 [batch_size, "
        f"max_num_boxes, 4], got shape {groundtruth_boxes.shape}."
      )
    if groundtruth_classes.shape.rank != 3 or groundtruth_classes.shape[-1] != self._num_classes:
      raise ValueError(
        f"{InputFields.groundtruth_classes} must be multi-hot float32 "
        f"[batch_size, max_num_boxes, {self._num_classes}], got shape "
        f"{groundtruth_classes.shape}."
      )
    if num_groundtruth_boxes.shape.rank != 1:
      raise ValueError(
        f"{InputFields.num_groundtruth_boxes} must be int32 [batch_size], got "
        f"shape {num_groundtruth_boxes.shape}."
      )
    self._groundtruth.clear()
    self._groundtruth.update(
      {
        InputFields.groundtruth_boxes: groundtruth_boxes,
        InputFields.groundtruth_classes: groundtruth_classes,
        InputFields.num_groundtruth_boxes: num_groundtruth_boxes,
      }
    )
    if proposal_boxes is not None:
      if num_proposal_boxes is None:
        raise ValueError(f"{InputFields.proposal_boxes} needs {InputFields.num_proposal_boxes}.")
      self._store_proposal_boxes(proposal_boxes, num_proposal_boxes)

  def provide_groundtruth_from_batch(self, batch: Mapping[str, tf.Tensor]) -> None:
    """`provide_groundtruth` with the entries of an input batch keyed by InputFields.

    groundtruth_boxes, groundtruth_classes and num_groundtruth_boxes are required;
    proposal_boxes and num_proposal_boxes (person-detector boxes) are passed when the batch
    has them. Other entries (frames, keys, ...) are not ground truth and are ignored.
    """
    self.provide_groundtruth(
      groundtruth_boxes=batch[InputFields.groundtruth_boxes],
      groundtruth_classes=batch[InputFields.groundtruth_classes],
      num_groundtruth_boxes=batch[InputFields.num_groundtruth_boxes],
      proposal_boxes=batch.get(InputFields.proposal_boxes),
      num_proposal_boxes=batch.get(InputFields.num_proposal_boxes),
    )

  def provide_proposal_boxes(
    self, proposal_boxes: tf.Tensor, num_proposal_boxes: tf.Tensor
  ) -> None:
    """Stores person-detector boxes alone (inference: no ground truth), forgetting the rest.

    Args:
      proposal_boxes: float32 [batch_size, max_num_proposals, 4], normalized, zero-padded.
      num_proposal_boxes: int32 [batch_size], valid rows.
    """
    self._groundtruth.clear()
    self._store_proposal_boxes(proposal_boxes, num_proposal_boxes)

  def _store_proposal_boxes(self, proposal_boxes, num_proposal_boxes):
    proposal_boxes = tf.convert_to_tensor(proposal_boxes, tf.float32)
    if proposal_boxes.shape.rank != 3 or proposal_boxes.shape[-1] != 4:
      raise ValueError(
        f"{InputFields.proposal_boxes} must be float32 [batch_size, "
        f"max_num_proposals, 4], got shape {proposal_boxes.shape}."
      )
    self._groundtruth[InputFields.proposal_boxes] = proposal_boxes
    self._groundtruth[InputFields.num_proposal_boxes] = tf.convert_to_tensor(
      num_proposal_boxes, tf.int32
    )

  def groundtruth(self, field: str) -> tf.Tensor:
    """The stored tensor for `field` (an InputFields key); clear error if missing."""
    if field not in self._groundtruth:
      raise ValueError(f"No ground truth {field!r}: call provide_groundtruth(...) first.")
    return self._groundtruth[field]

  def clear_groundtruth(self) -> None:
    """Forgets the stored ground truth (e.g. before an inference-only call)."""
    self._groundtruth.clear()

  def regularization_losses(self) -> list[tf.Tensor]:
    """Keras regularization losses of every sub-layer (float32 scalars)."""
    return list(self.losses)

  def call(self, inputs, training=None):
    """frames float32 [batch_size, num_frames, height, width, 3] -> postprocessed detections."""
    frames, true_image_shapes = self.preprocess(inputs)
    predictions = self.predict(frames, true_image_shapes, training=bool(training))
    return self.postprocess(predictions, true_image_shapes)
