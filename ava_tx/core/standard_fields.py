"""One vocabulary of tensor and feature names, used across every module boundary.

Conventions (see STYLE in the project docs):
  * boxes are `[ymin, xmin, ymax, xmax]`, normalized to [0, 1] unless the name ends in
    `_absolute`;
  * shapes use the names batch_size, num_frames, height, width, channels, num_proposals,
    num_classes, max_num_boxes.
"""


class InputFields:
  """Keys of the dictionaries produced by the input pipeline (decoder -> parser -> model).

  After the parser, per example (batch dimension added by batching):
    frames: uint8 [num_frames, height, width, 3], RGB, as the parser delivers them (4x smaller
      than float32 to batch, prefetch and copy to an accelerator); the model's preprocess
      normalizes them to [-1, 1] as the I3D checkpoint expects. preprocess also accepts float32
      frames already in [-1, 1] (synthetic batches, callers that normalize themselves).
    keyframe_index: int32 [], index of the keyframe within `frames` (num_frames // 2).
    groundtruth_boxes: float32 [max_num_boxes, 4], normalized, zero-padded.
    groundtruth_classes: float32 [max_num_boxes, num_classes], multi-hot over contiguous class
      indices 0..num_classes-1 (label-map order), zero-padded.
    groundtruth_person_ids: int32 [max_num_boxes], -1 padded.
    num_groundtruth_boxes: int32 [], number of valid rows of the groundtruth tensors.
    num_truncated_groundtruth_boxes: int32 [], boxes dropped because there were more than
      max_num_boxes (sum it for a warning count).
    proposal_boxes: float32 [max_num_proposals, 4], external person-detector boxes (optional).
    proposal_scores: float32 [max_num_proposals].
    num_proposal_boxes: int32 [].
    source_id: string [], "<video_id>,<timestamp %04d>".
    video_id: string [].
    timestamp: int32 [], the keyframe's AVA timestamp in whole seconds.
    original_image_spatial_shape: int32 [2], (height, width) of the stored frames.
  """

  frames = "frames"
  keyframe_index = "keyframe_index"
  groundtruth_boxes = "groundtruth_boxes"
  groundtruth_classes = "groundtruth_classes"
  groundtruth_person_ids = "groundtruth_person_ids"
  num_groundtruth_boxes = "num_groundtruth_boxes"
  num_truncated_groundtruth_boxes = "num_truncated_groundtruth_boxes"
  proposal_boxes = "proposal_boxes"
  proposal_scores = "proposal_scores"
  num_proposal_boxes = "num_proposal_boxes"
  source_id = "source_id"
  video_id = "video_id"
  timestamp = "timestamp"
  original_image_spatial_shape = "original_image_spatial_shape"


class DecodedFields:
  """Keys of the dictionary produced by `ava_tx.data.decoder` (before the parser).

  encoded_frames: string [num_stored_frames], one encoded image (JPEG/PNG) per stored frame.
  keyframe_index: int32 [], index of the keyframe among the stored frames.
  groundtruth_boxes: float32 [num_boxes, 4], normalized [ymin, xmin, ymax, xmax].
  groundtruth_action_ids: int32 [num_labels], AVA label ids (1-based) of all boxes, flattened.
  groundtruth_action_counts: int32 [num_boxes], number of labels of each box.
  groundtruth_person_ids: int32 [num_boxes].
  proposal_boxes: float32 [num_proposals, 4]; proposal_scores: float32 [num_proposals].
  source_id, video_id: string []; timestamp: int32 []; frame_rate: float32 [];
  original_image_spatial_shape: int32 [2], stored (height, width).
  """

  encoded_frames = "encoded_frames"
  keyframe_index = "keyframe_index"
  groundtruth_boxes = "groundtruth_boxes"
  groundtruth_action_ids = "groundtruth_action_ids"
  groundtruth_action_counts = "groundtruth_action_counts"
  groundtruth_person_ids = "groundtruth_person_ids"
  proposal_boxes = "proposal_boxes"
  proposal_scores = "proposal_scores"
  source_id = "source_id"
  video_id = "video_id"
  timestamp = "timestamp"
  frame_rate = "frame_rate"
  original_image_spatial_shape = "original_image_spatial_shape"


class SequenceExampleKeys:
  """MediaSequence-style keys of the tf.train.SequenceExample written by the converter.

  Context features describe the clip; feature lists hold one entry per stored frame.
  Boxes are stored for the keyframe only (AVA annotates keyframes at 1 Hz).
  """

  # Context.
  example_id = "example/id"  # bytes: "<video_id>,<%04d timestamp>"
  clip_media_id = "clip/media_id"  # bytes: video_id
  clip_keyframe_timestamp = "clip/keyframe/timestamp"  # int64: AVA timestamp, seconds
  # int64: index of the keyframe among the stored frames.
  clip_keyframe_index = "clip/keyframe/index"
  clip_frame_rate = "clip/frame_rate"  # float: frames per second of the stored frames
  clip_start_timestamp = "clip/start/timestamp"  # int64: microseconds of the first stored frame
  clip_num_frames = "clip/num_frames"  # int64
  image_height = "image/height"  # int64
  image_width = "image/width"  # int64
  image_format = "image/format"  # bytes: "JPEG"
  region_bbox_ymin = "region/bbox/ymin"  # float list, one per keyframe box
  region_bbox_xmin = "region/bbox/xmin"
  region_bbox_ymax = "region/bbox/ymax"
  region_bbox_xmax = "region/bbox/xmax"
  region_label_index = "region/label/index"  # int64 list: AVA action ids, flattened
  region_label_count = "region/label/count"  # int64 list: how many labels each box has
  region_person_id = "region/person_id"  # int64 list, one per box
  proposal_bbox_ymin = "proposal/bbox/ymin"  # person-detector boxes (optional)
  proposal_bbox_xmin = "proposal/bbox/xmin"
  proposal_bbox_ymax = "proposal/bbox/ymax"
  proposal_bbox_xmax = "proposal/bbox/xmax"
  proposal_score = "proposal/score"
  # Feature lists.
  image_encoded = "image/encoded"  # bytes per frame
  image_timestamp = "image/timestamp"  # int64 microseconds per frame


class DetectionFields:
  """Keys of the dictionary returned by `postprocess`.

    detection_boxes: float32 [batch_size, max_detections, 4], normalized.
    detection_scores: float32 [batch_size, max_detections], person (objectness) score.
    detection_action_scores: float32 [batch_size, max_detections, num_classes], sigmoid
      probabilities of each action.
    num_detections: int32 [batch_size].
  Only from a model built with attention outputs (model_builder.build(..., attention_outputs=True)):
    detection_attention_weights: float32 [batch_size, max_detections, num_layers, num_heads,
      num_frames', height', width'], the softmax weights of each detection's query over the
      trunk map; each (detection, layer, head) slice sums to 1 over (num_frames', height',
      width'); zero for padding detections.
    attention_key_embeddings: float32 [batch_size, num_layers, num_heads, num_frames',
      height', width', D], the keys each head attends over (one set per clip).
  """

  detection_boxes = "detection_boxes"
  detection_scores = "detection_scores"
  detection_action_scores = "detection_action_scores"
  num_detections = "num_detections"
  detection_attention_weights = "detection_attention_weights"
  attention_key_embeddings = "attention_key_embeddings"


class ServingFields:
  """Input and output names of the exported SavedModel's signature (ava_tx.export).

  Inputs:
    input_tensor: uint8 [batch_size, num_frames, height, width, 3] (video_tensor), string
      [batch_size, num_frames] encoded JPEG/PNG frames (encoded_frames), or string [batch_size]
      serialized SequenceExamples (tf_example).
    person_boxes: float32 [batch_size, max_num_proposals, 4], normalized, zero-padded
      (models whose proposals include person-detector boxes; not with tf_example).
    num_person_boxes: int32 [batch_size], valid rows of person_boxes.
  Outputs (padding rows are zero):
    detection_boxes: float32 [batch_size, max_detections, 4], normalized.
    detection_scores: float32 [batch_size, max_detections], person score.
    detection_multiclass_scores: float32 [batch_size, max_detections, num_classes], the
      sigmoid probability of each action (class i = the label map's i-th id).
    detection_classes: int32 [batch_size, max_detections], label-map id of the top action.
    num_detections: int32 [batch_size].
    detection_attention_weights, attention_key_embeddings: as in DetectionFields (exports
      with attention only).
  """

  input_tensor = "input_tensor"
  person_boxes = "person_boxes"
  num_person_boxes = "num_person_boxes"
  detection_boxes = "detection_boxes"
  detection_scores = "detection_scores"
  detection_multiclass_scores = "detection_multiclass_scores"
  detection_classes = "detection_classes"
  num_detections = "num_detections"
  detection_attention_weights = "detection_attention_weights"
  attention_key_embeddings = "attention_key_embeddings"


class PredictionFields:
  """Keys of the dictionary returned by `predict` (documented in the meta-architecture)."""

  trunk_features = "trunk_features"
  rpn_box_encodings = "rpn_box_encodings"
  rpn_objectness_logits = "rpn_objectness_logits"
  anchor_boxes = "anchor_boxes"
  proposal_boxes = "proposal_boxes"
  proposal_scores = "proposal_scores"
  num_proposals = "num_proposals"
  action_logits = "action_logits"
  box_encodings = "box_encodings"
  attention_weights = "attention_weights"
  attention_key_embeddings = "attention_key_embeddings"


class LossFields:
  """Keys of the dictionary returned by `loss`."""

  rpn_objectness_loss = "Loss/RPNLoss/objectness_loss"
  rpn_localization_loss = "Loss/RPNLoss/localization_loss"
  action_classification_loss = "Loss/BoxClassifierLoss/action_classification_loss"
  box_localization_loss = "Loss/BoxClassifierLoss/localization_loss"
  regularization_loss = "Loss/regularization_loss"
  total_loss = "Loss/total_loss"
