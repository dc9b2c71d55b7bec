"""A tiny fake DetectionModel and a learnable synthetic dataset for the training-loop tests.

The model (a real `DetectionModel` subclass, so the loop is tested against the contract)
flattens the frames and predicts one box and action logits per clip with two
dense layers; the loss is sigmoid cross-entropy against the clip's classes plus L1 against its
first ground-truth box. The data is a deterministic function of the example index.
"""

from ava_tx.core import detection_model
from ava_tx.core.standard_fields import DetectionFields
from ava_tx.core.standard_fields import InputFields
from ava_tx.core.standard_fields import LossFields
from ava_tx.core.standard_fields import PredictionFields
from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf

NUM_FRAMES, HEIGHT, WIDTH, NUM_CLASSES, MAX_BOXES = 2, 4, 4, 3, 2


class FakeDetectionModel(detection_model.DetectionModel):
  """The DetectionModel contract with two Dense layers (one box and class set per clip)."""

  def __init__(self, *, seed: int = 1):
    super().__init__(num_classes=NUM_CLASSES, name="fake_detection_model")
    self.classifier = keras.layers.Dense(
      NUM_CLASSES, kernel_initializer=keras.initializers.GlorotUniform(seed=seed), name="classifier"
    )
    self.box_head = keras.layers.Dense(
      4, kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1), name="box_head"
    )

  def preprocess(self, inputs):
    """float32 [batch_size, num_frames, height, width, 3] -> (the same, true shapes)."""
    batch_size = tf.shape(inputs)[0]
    return tf.identity(inputs), tf.tile([[HEIGHT, WIDTH, 3]], [batch_size, 1])

  def predict(self, preprocessed_inputs, true_image_shapes=None, *, training):
    del true_image_shapes, training
    features = tf.reshape(
      preprocessed_inputs, [tf.shape(preprocessed_inputs)[0], NUM_FRAMES * HEIGHT * WIDTH * 3]
    )
    return {
      PredictionFields.action_logits: self.classifier(features),
      PredictionFields.box_encodings: tf.sigmoid(self.box_head(features)),
    }

  def loss(self, prediction_dict, true_image_shapes=None):
    del true_image_shapes
    boxes = self.groundtruth(InputFields.groundtruth_boxes)
    classes = self.groundtruth(InputFields.groundtruth_classes)
    num_boxes = self.groundtruth(InputFields.num_groundtruth_boxes)
    valid = tf.sequence_mask(num_boxes, MAX_BOXES, dtype=tf.float32)[..., tf.newaxis]
    clip_labels = tf.reduce_max(classes * valid, axis=1)
    logits = prediction_dict[PredictionFields.action_logits]
    action_loss = tf.reduce_mean(
      tf.nn.sigmoid_cross_entropy_with_logits(labels=clip_labels, logits=logits)
    )
    box_loss = tf.reduce_mean(tf.abs(prediction_dict[PredictionFields.box_encodings] - boxes[:, 0]))
    return {
      LossFields.action_classification_loss: action_loss,
      LossFields.box_localization_loss: box_loss,
      LossFields.total_loss: action_loss + box_loss,
    }

  def postprocess(self, prediction_dict, true_image_shapes=None):
    del true_image_shapes
    boxes = prediction_dict[PredictionFields.box_encodings]
    batch_size = tf.shape(boxes)[0]
    return {
      DetectionFields.detection_boxes: boxes[:, tf.newaxis],
      DetectionFields.detection_scores: tf.ones([batch_size, 1]),
      DetectionFields.detection_action_scores: tf.sigmoid(
        prediction_dict[PredictionFields.action_logits]
      )[:, tf.newaxis],
      DetectionFields.num_detections: tf.ones([batch_size], tf.int32),
    }

  def restore_from_objects(self, fine_tune_checkpoint_type="detection"):
    if fine_tune_checkpoint_type == "classification":
      return {"classifier": self.classifier}
    return {"model": self}


def make_example(index, nan_at_index=-1):
  """One synthetic example: each class shifts the colour of one channel and moves the box."""
  seed = tf.stack([tf.cast(index, tf.int32), 7])
  classes = tf.cast(tf.random.stateless_uniform([NUM_CLASSES], seed) > 0.5, tf.float32)
  noise = tf.random.stateless_uniform([NUM_FRAMES, HEIGHT, WIDTH, 3], seed + 1, -0.5, 0.5)
  frames = noise + (classes - 0.5)
  ymin = 0.1 + 0.3 * classes[:2]
  box = tf.concat([ymin, ymin + 0.4], axis=0)
  frames = tf.where(tf.equal(index, nan_at_index), float("nan"), frames)
  return {
    InputFields.frames: frames,
    InputFields.keyframe_index: tf.constant(NUM_FRAMES // 2, tf.int32),
    InputFields.groundtruth_boxes: tf.stack([box, tf.zeros([4])]),
    InputFields.groundtruth_classes: tf.stack([classes, tf.zeros([NUM_CLASSES])]),
    InputFields.num_groundtruth_boxes: tf.constant(1, tf.int32),
  }


def make_dataset_fn(global_batch_size: int, *, nan_at_index: int = -1, shuffle: bool = True):
  """`input_context -> dataset` of per-replica batches of the synthetic examples."""

  def dataset_fn(input_context: tf.distribute.InputContext):
    per_replica = input_context.get_per_replica_batch_size(global_batch_size)
    dataset = tf.data.Dataset.range(64).shard(
      input_context.num_input_pipelines, input_context.input_pipeline_id
    )
    dataset = dataset.map(lambda i: make_example(i, nan_at_index))
    if shuffle:
      dataset = dataset.shuffle(8, seed=3)
    return dataset.repeat().batch(per_replica, drop_remainder=True)

  return dataset_fn
