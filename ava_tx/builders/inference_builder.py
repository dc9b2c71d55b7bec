"""What inference on raw videos needs from a pipeline config: how clips are sampled."""

import dataclasses

from ava_tx.builders import config_util


@dataclasses.dataclass(frozen=True)
class ClipSampling:
  """num_frames per clip, frame_stride between them (stored frames), model input size."""

  num_frames: int
  frame_stride: int
  image_height: int
  image_width: int


def clip_sampling(pipeline_config) -> ClipSampling:
  """The evaluation clip sampling of a `TrainEvalPipelineConfig` (or a path to one): the eval
  input reader's frame_stride and num_frames (0: the model's), as evaluation samples clips."""
  if isinstance(pipeline_config, str):
    pipeline_config = config_util.load_pipeline_config(pipeline_config)
  model = pipeline_config.model.action_transformer
  reader = pipeline_config.eval_input_reader
  return ClipSampling(
    num_frames=reader.num_frames or model.num_frames,
    frame_stride=reader.frame_stride,
    image_height=model.image_height,
    image_width=model.image_width,
  )
