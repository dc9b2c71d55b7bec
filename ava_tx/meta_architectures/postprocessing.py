"""Post-processing of the second stage's outputs: decode boxes, NMS on the person score, top K.

A pure function of tensors (no layers), shared by the meta-architecture and the exporter.
"""

from ava_tx.core import box_utils
from ava_tx.core import standard_fields
from ava_tx.core.tf_setup import tf

DetectionFields = standard_fields.DetectionFields


def postprocess_detections(
  *,
  proposal_boxes,
  proposal_mask,
  action_logits,
  box_encodings,
  attention_weights=None,
  attention_key_embeddings=None,
  max_detections: int,
  score_threshold: float,
  nms_iou_threshold: float,
  box_coder_weights=box_utils.FASTER_RCNN_BOX_CODER_WEIGHTS,
) -> dict[str, tf.Tensor]:
  """Pure post-processing (see ActionTransformerMetaArch.postprocess for the outputs).

  Args:
    proposal_boxes: float32 [batch_size, num_proposals, 4].
    proposal_mask: float32 [batch_size, num_proposals], 0 for padding (never detected).
    action_logits: float32 [batch_size, num_proposals, num_classes + 1], background first.
    box_encodings: float32 [batch_size, num_proposals, 4] or [.., num_classes, 4].
    attention_weights: optional float32 [batch_size, num_proposals, num_layers, num_heads,
      T', H', W'], gathered like the boxes into detection_attention_weights.
    attention_key_embeddings: optional float32 [batch_size, num_layers, num_heads, T', H', W',
      D], per clip, passed through unchanged.
    max_detections: K, detections kept per clip.
    score_threshold: person scores must exceed this.
    nms_iou_threshold: boxes overlapping a higher-scoring one by more than this are dropped
      (1.0 disables NMS).
    box_coder_weights: (dy, dx, dh, dw) scales of the second-stage coder.
  """
  person_scores, action_scores, boxes = _decode(
    action_logits, box_encodings, proposal_boxes, box_coder_weights
  )
  selected, num_valid = _non_max_suppression(
    boxes, person_scores, proposal_mask, max_detections, score_threshold, nms_iou_threshold
  )
  valid = tf.sequence_mask(num_valid, max_detections, dtype=tf.float32)
  take = lambda tensor: _gather_valid(tensor, selected, valid)
  detections = {
    DetectionFields.detection_boxes: take(boxes),
    DetectionFields.detection_scores: take(person_scores),
    DetectionFields.detection_action_scores: take(action_scores),
    DetectionFields.num_detections: tf.cast(num_valid, tf.int32),
  }
  if attention_weights is not None:
    detections[DetectionFields.detection_attention_weights] = take(attention_weights)
  if attention_key_embeddings is not None:
    detections[DetectionFields.attention_key_embeddings] = attention_key_embeddings
  return detections


def _decode(action_logits, box_encodings, proposal_boxes, box_coder_weights):
  """Person scores [batch_size, num_proposals] (1 - background), action scores
  [batch_size, num_proposals, num_classes] and boxes [batch_size, num_proposals, 4], decoded
  (with the encodings of each proposal's best action class, if class-specific) and clipped."""
  person_scores = tf.sigmoid(-action_logits[..., 0])
  action_scores = tf.sigmoid(action_logits[..., 1:])
  if box_encodings.shape.rank == 4:
    best_class = tf.argmax(action_scores, axis=-1, output_type=tf.int32)
    box_encodings = tf.gather(box_encodings, best_class, batch_dims=2)
  boxes = box_utils.clip_to_unit(box_utils.decode(box_encodings, proposal_boxes, box_coder_weights))
  return person_scores, action_scores, boxes


def _non_max_suppression(
  boxes, person_scores, proposal_mask, max_detections, score_threshold, nms_iou_threshold
):
  """(int32 [batch_size, max_detections] proposal indices, padded; int32 [batch_size] how many
  are valid) of the boxes kept by NMS on the person score; padding proposals are never kept."""
  scores = tf.where(proposal_mask > 0, person_scores, -tf.ones_like(person_scores))
  return tf.image.non_max_suppression_padded(
    boxes,
    scores,
    max_output_size=max_detections,
    iou_threshold=nms_iou_threshold,
    score_threshold=score_threshold,
    pad_to_max_output_size=True,
  )


def _gather_valid(tensor, selected, valid):
  """tensor [batch_size, num_proposals, ...] -> [batch_size, max_detections, ...] at the
  `selected` indices, zero where `valid` (float [batch_size, max_detections]) is 0."""
  gathered = tf.gather(tensor, selected, batch_dims=1)
  extra_dims = gathered.shape.rank - 2
  return gathered * tf.reshape(valid, tf.concat([tf.shape(valid), [1] * extra_dims], 0))
