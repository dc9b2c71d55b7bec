"""A built detection model wrapped for serving (the OD API's DetectionInferenceModule).

Call contract of `DetectionInferenceModule.__call__` (the SavedModel's `serving_default`
signature has the same names; see standard_fields.ServingFields):

  inputs, by input_type:
    "video_tensor":   input_tensor uint8 [batch_size, num_frames, height, width, 3], RGB, any
                      height and width (resized in the graph to the model's size, as in
                      training and evaluation, then scaled to [-1, 1]).
    "encoded_frames": input_tensor string [batch_size, num_frames], one JPEG or PNG per frame
                      (all frames of a call the same size).
    "tf_example":     input_tensor string [batch_size], serialized SequenceExamples as
                      data_tools.create_ava_tf_record writes them; decoded and sampled by the
                      training pipeline's decoder and parser (evaluation mode). The person boxes
                      are the example's own detector boxes.
    For models whose proposals include person-detector boxes (uses_person_boxes), except with
    tf_example, also:
      person_boxes float32 [batch_size, max_num_boxes, 4], normalized [ymin, xmin, ymax, xmax],
        zero-padded;
      num_person_boxes int32 [batch_size], the valid rows of person_boxes.
  outputs (dict; padding rows zero):
    detection_boxes float32 [batch_size, max_detections, 4], normalized;
    detection_scores float32 [batch_size, max_detections], person score;
    detection_multiclass_scores float32 [batch_size, max_detections, num_classes];
    detection_classes int32 [batch_size, max_detections], label-map id of the top action;
    num_detections int32 [batch_size];
    with a model built with attention outputs, also detection_attention_weights float32
    [batch_size, max_detections, num_layers, num_heads, T', H', W'] and
    attention_key_embeddings float32 [batch_size, num_layers, num_heads, T', H', W', D].

A wrong frame count, channel count or box layout fails with an InvalidArgumentError whose
message starts with the input's name (e.g. "input_tensor: expected 16 frames"); a wrong rank
with one naming the input and the rank expected ("Shape of tensor input_tensor [8,40,56,3] is
not compatible with expected shape [?,?,?,?,?]"); a wrong dtype is refused by the signature.
"""

from typing import Sequence

from ava_tx.core import standard_fields
from ava_tx.core.tf_setup import tf
from ava_tx.data import decoder as decoder_lib
from ava_tx.data import parser as parser_lib

ServingFields = standard_fields.ServingFields
DetectionFields = standard_fields.DetectionFields
InputFields = standard_fields.InputFields

INPUT_TYPES = ("video_tensor", "encoded_frames", "tf_example")


class DetectionInferenceModule(tf.Module):
  """tf.Module around an ActionTransformerMetaArch for one input type (see module docstring)."""

  def __init__(
    self,
    model,
    *,
    input_type: str,
    num_frames: int,
    image_height: int,
    image_width: int,
    class_ids: Sequence[int],
    parser=None,
  ):
    """Args:
    model: a built (or buildable) ActionTransformerMetaArch; its variables are the module's.
    input_type: one of INPUT_TYPES.
    num_frames, image_height, image_width: the model's clip size.
    class_ids: label-map id of each of the model's classes, in class-index order.
    parser: data.parser.AvaParser in evaluation mode, required for "tf_example".
    """
    super().__init__(name="detection_inference_module")
    if input_type not in INPUT_TYPES:
      raise ValueError(f"input_type must be one of {INPUT_TYPES}, got {input_type!r}.")
    if len(class_ids) != model.num_classes:
      raise ValueError(
        f"class_ids has {len(class_ids)} ids, the model {model.num_classes} classes."
      )
    if input_type == "tf_example" and parser is None:
      raise ValueError("input_type 'tf_example' needs the evaluation parser.")
    self.model = model
    self.input_type = input_type
    self.num_frames = int(num_frames)
    self.image_size = (int(image_height), int(image_width))
    self.class_ids = tf.constant(list(class_ids), tf.int32)
    self.uses_person_boxes = bool(model.uses_person_detector_boxes)
    self._parser = parser
    self._decoder = decoder_lib.AvaSequenceDecoder()

  @property
  def takes_person_boxes(self) -> bool:
    """Whether the signature has person_boxes / num_person_boxes inputs."""
    return self.uses_person_boxes and self.input_type != "tf_example"

  def input_signature(self) -> list[tf.TensorSpec]:
    """TensorSpecs of the signature's inputs, in call order."""
    # Shapes are left open (rank too) so that the graph's checks, not the signature matcher,
    # report a wrong shape with a message naming the input; dtypes are fixed.
    dtype = tf.uint8 if self.input_type == "video_tensor" else tf.string
    signature = [tf.TensorSpec(None, dtype, name=ServingFields.input_tensor)]
    if self.takes_person_boxes:
      signature += [
        tf.TensorSpec(None, tf.float32, name=ServingFields.person_boxes),
        tf.TensorSpec(None, tf.int32, name=ServingFields.num_person_boxes),
      ]
    return signature

  def serving_function(self) -> tf.types.experimental.PolymorphicFunction:
    """`self.__call__` as a tf.function with this module's input signature."""
    # No AutoGraph: the code has no tensor-dependent Python control flow, and converting every
    # layer's call would double the tracing time.
    return tf.function(self.__call__, input_signature=self.input_signature(), autograph=False)

  def __call__(self, input_tensor, person_boxes=None, num_person_boxes=None):
    """See the module docstring."""
    if self.input_type == "tf_example":
      input_tensor = _checked_rank(
        input_tensor,
        1,
        ServingFields.input_tensor,
        "serialized SequenceExamples string [batch_size]",
      )
      frames, person_boxes, num_person_boxes = self._parse_examples(input_tensor)
    else:
      video = (
        self._decode_frames(input_tensor) if self.input_type == "encoded_frames" else input_tensor
      )
      frames = self._preprocess_video(video)
      if self.uses_person_boxes:
        person_boxes, num_person_boxes = self._check_person_boxes(
          person_boxes, num_person_boxes, tf.shape(video)[0]
        )
    return self.detect_frames(frames, person_boxes, num_person_boxes)

  def _preprocess_video(self, video):
    """uint8 [batch_size, T, H, W, 3] -> uint8 [batch_size, num_frames, *image_size, 3], each
    frame resized as the parser does (`parser.resize_frames`, one batched resize of all
    batch_size * T frames); the model normalizes."""
    name = ServingFields.input_tensor
    video = _checked_rank(video, 5, name, "uint8 video [batch_size, num_frames, height, width, 3]")
    shape = tf.shape(video)
    with tf.control_dependencies(
      [
        tf.debugging.assert_equal(shape[4], 3, message=f"{name}: expected 3 (RGB) channels"),
        tf.debugging.assert_equal(
          shape[1],
          self.num_frames,
          message=(f"{name}: expected {self.num_frames} frames per clip (the model's num_frames)"),
        ),
        tf.debugging.assert_positive(shape[2] * shape[3], message=f"{name}: empty frames"),
      ]
    ):
      flat = tf.reshape(video, [-1, shape[2], shape[3], 3])
    frames = parser_lib.resize_frames(flat, self.image_size)
    return tf.reshape(frames, [shape[0], self.num_frames, *self.image_size, 3])

  def _decode_frames(self, encoded):
    """string [batch_size, T] -> uint8 [batch_size, T, H, W, 3] (JPEG or PNG, same size)."""
    encoded = _checked_rank(
      encoded, 2, ServingFields.input_tensor, "encoded frames string [batch_size, num_frames]"
    )
    shape = tf.shape(encoded)
    decoded = tf.map_fn(
      lambda data: tf.io.decode_image(data, channels=3, expand_animations=False),
      tf.reshape(encoded, [-1]),
      fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8),
    )
    return tf.reshape(decoded, tf.concat([shape, tf.shape(decoded)[1:]], 0))

  def _check_person_boxes(self, boxes, num_boxes, batch_size):
    names = ServingFields.person_boxes, ServingFields.num_person_boxes
    boxes = _checked_rank(boxes, 3, names[0], "float32 [batch_size, max_num_boxes, 4]")
    num_boxes = _checked_rank(num_boxes, 1, names[1], "int32 [batch_size]")
    checks = [
      tf.debugging.assert_equal(
        tf.shape(boxes)[2],
        4,
        message=(f"{names[0]}: expected 4 coordinates [ymin, xmin, ymax, xmax] per box"),
      ),
      tf.debugging.assert_equal(
        tf.shape(boxes)[0],
        batch_size,
        message=(f"{names[0]}: batch size differs from {ServingFields.input_tensor}'s"),
      ),
      tf.debugging.assert_equal(
        tf.shape(num_boxes)[0],
        batch_size,
        message=(f"{names[1]}: batch size differs from {ServingFields.input_tensor}'s"),
      ),
      tf.debugging.assert_less_equal(
        num_boxes,
        tf.shape(boxes)[1],
        message=(f"{names[1]}: larger than the number of rows of {names[0]}"),
      ),
      tf.debugging.assert_non_negative(num_boxes, message=f"{names[1]}: negative"),
      tf.debugging.assert_greater_equal(
        boxes,
        -1e-3,
        message=(f"{names[0]}: expected normalized [ymin, xmin, ymax, xmax] in [0, 1]"),
      ),
      tf.debugging.assert_less_equal(
        boxes,
        1.0 + 1e-3,
        message=(f"{names[0]}: expected normalized [ymin, xmin, ymax, xmax] in [0, 1]"),
      ),
    ]
    with tf.control_dependencies(checks):
      return tf.ensure_shape(tf.identity(boxes), [None, None, 4]), tf.identity(num_boxes)

  def _parse_examples(self, serialized):
    """string [batch_size] -> (frames, person_boxes, num_person_boxes) via decoder and parser."""

    def parse_one(example):
      inputs = self._parser.parse(self._decoder.decode(example), is_training=False)
      return (
        inputs[InputFields.frames],
        inputs[InputFields.proposal_boxes],
        inputs[InputFields.num_proposal_boxes],
      )

    num_proposals = self._parser.max_num_proposals
    return tf.map_fn(
      parse_one,
      serialized,
      fn_output_signature=(
        tf.TensorSpec([self.num_frames, *self.image_size, 3], tf.uint8),
        tf.TensorSpec([num_proposals, 4], tf.float32),
        tf.TensorSpec([], tf.int32),
      ),
    )

  def detect_frames(self, frames, person_boxes=None, num_person_boxes=None):
    """The model on preprocessed clips; returns the output dict of the module docstring.

    Args:
      frames: [batch_size, num_frames, image_height, image_width, 3], uint8 (the parser's
        frames) or float32 in [-1, 1] (see ActionTransformerMetaArch.preprocess).
      person_boxes, num_person_boxes: as the call's (required when uses_person_boxes).
    """
    model = self.model
    preprocessed, true_shapes = model.preprocess(frames)
    if self.uses_person_boxes:
      model.provide_proposal_boxes(person_boxes, num_person_boxes)
    else:
      model.clear_groundtruth()
    detections = model.postprocess(
      model.predict(preprocessed, true_shapes, training=False), true_shapes
    )
    model.clear_groundtruth()
    return serving_outputs(detections, self.class_ids)


def _checked_rank(tensor, rank, name, expected):
  """`tensor` after a check that its rank is `rank` (error: "NAME: expected EXPECTED")."""
  if tensor.shape.rank is not None and tensor.shape.rank != rank:
    raise ValueError(f"{name}: expected {expected}, got shape {tensor.shape}")
  with tf.control_dependencies(
    [tf.debugging.assert_rank(tensor, rank, message=f"{name}: expected {expected}")]
  ):
    return tf.ensure_shape(tf.identity(tensor), [None] * rank)


def serving_outputs(detections, class_ids):
  """DetectionFields dict -> ServingFields dict (adds detection_classes, renames the scores).

  Args:
    detections: the model's postprocess output.
    class_ids: int32 [num_classes], label-map id of each class index.
  """
  action_scores = detections[DetectionFields.detection_action_scores]
  valid = tf.sequence_mask(
    detections[DetectionFields.num_detections], tf.shape(action_scores)[1], dtype=tf.int32
  )
  top = tf.gather(class_ids, tf.argmax(action_scores, axis=-1, output_type=tf.int32))
  outputs = {
    ServingFields.detection_boxes: detections[DetectionFields.detection_boxes],
    ServingFields.detection_scores: detections[DetectionFields.detection_scores],
    ServingFields.detection_multiclass_scores: action_scores,
    ServingFields.detection_classes: top * valid,
    ServingFields.num_detections: detections[DetectionFields.num_detections],
  }
  for field in (
    DetectionFields.detection_attention_weights,
    DetectionFields.attention_key_embeddings,
  ):
    if field in detections:
      outputs[field] = detections[field]
  return outputs
