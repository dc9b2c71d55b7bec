"""Decodes the converter's serialized SequenceExamples into tensors (no sampling, no images).

Images stay encoded: the parser decodes only the frames it samples.
"""

from ava_tx.core import standard_fields
from ava_tx.core.tf_setup import tf

KEYS = standard_fields.SequenceExampleKeys
FIELDS = standard_fields.DecodedFields

_BOX_KEYS = (
  KEYS.region_bbox_ymin,
  KEYS.region_bbox_xmin,
  KEYS.region_bbox_ymax,
  KEYS.region_bbox_xmax,
)
_PROPOSAL_KEYS = (
  KEYS.proposal_bbox_ymin,
  KEYS.proposal_bbox_xmin,
  KEYS.proposal_bbox_ymax,
  KEYS.proposal_bbox_xmax,
)


class AvaSequenceDecoder:
  """Serialized SequenceExample (string []) -> dict of DecodedFields tensors.

  Output shapes and dtypes are listed in `standard_fields.DecodedFields`. Examples without
  proposals decode to proposal tensors with 0 rows.
  """

  def __init__(self):
    self._context = {
      KEYS.example_id: tf.io.FixedLenFeature([], tf.string),
      KEYS.clip_media_id: tf.io.FixedLenFeature([], tf.string),
      KEYS.clip_keyframe_timestamp: tf.io.FixedLenFeature([], tf.int64),
      KEYS.clip_keyframe_index: tf.io.FixedLenFeature([], tf.int64),
      KEYS.clip_frame_rate: tf.io.FixedLenFeature([], tf.float32),
      KEYS.image_height: tf.io.FixedLenFeature([], tf.int64),
      KEYS.image_width: tf.io.FixedLenFeature([], tf.int64),
      KEYS.region_label_index: tf.io.VarLenFeature(tf.int64),
      KEYS.region_label_count: tf.io.VarLenFeature(tf.int64),
      KEYS.region_person_id: tf.io.VarLenFeature(tf.int64),
      KEYS.proposal_score: tf.io.VarLenFeature(tf.float32),
    }
    for key in _BOX_KEYS + _PROPOSAL_KEYS:
      self._context[key] = tf.io.VarLenFeature(tf.float32)
    self._sequence = {KEYS.image_encoded: tf.io.FixedLenSequenceFeature([], tf.string)}

  def decode(self, serialized):
    """Args: serialized: string [], one SequenceExample. Returns: dict (DecodedFields).

    Raises (when the tensors are evaluated): tf.errors.InvalidArgumentError if the bytes are not
    a SequenceExample or lack a required feature (the only error; property-tested in
    tests/reliability/test_parsers_property.py).
    """
    context, sequence = tf.io.parse_single_sequence_example(
      serialized, context_features=self._context, sequence_features=self._sequence
    )
    dense = lambda key: tf.sparse.to_dense(context[key])
    boxes = tf.stack([dense(k) for k in _BOX_KEYS], axis=-1)
    proposals = tf.stack([dense(k) for k in _PROPOSAL_KEYS], axis=-1)
    return {
      FIELDS.encoded_frames: sequence[KEYS.image_encoded],
      FIELDS.keyframe_index: tf.cast(context[KEYS.clip_keyframe_index], tf.int32),
      FIELDS.groundtruth_boxes: tf.reshape(boxes, [-1, 4]),
      FIELDS.groundtruth_action_ids: tf.cast(dense(KEYS.region_label_index), tf.int32),
      FIELDS.groundtruth_action_counts: tf.cast(dense(KEYS.region_label_count), tf.int32),
      FIELDS.groundtruth_person_ids: tf.cast(dense(KEYS.region_person_id), tf.int32),
      FIELDS.proposal_boxes: tf.reshape(proposals, [-1, 4]),
      FIELDS.proposal_scores: dense(KEYS.proposal_score),
      FIELDS.source_id: context[KEYS.example_id],
      FIELDS.video_id: context[KEYS.clip_media_id],
      FIELDS.timestamp: tf.cast(context[KEYS.clip_keyframe_timestamp], tf.int32),
      FIELDS.frame_rate: context[KEYS.clip_frame_rate],
      FIELDS.original_image_spatial_shape: tf.cast(
        tf.stack([context[KEYS.image_height], context[KEYS.image_width]]), tf.int32
      ),
    }

  __call__ = decode
