r"""Prints the top Kinetics-400 classes of a video under a converted I3D (as the sample script
of DeepMind's kinetics-i3d release does), to check a converted checkpoint on any clip.

  python -m data_tools.classify_kinetics \
      --checkpoint workspace/pretrained/i3d_kinetics400_rgb --video clip.mp4

Frames are decoded at 25 fps (the first --max_frames), resized so the short side is 256 unless it
already is 224, centre-cropped to 224 x 224 and scaled to [-1, 1] (ava_tx.data.kinetics_clip).
Class names come from --label_map_path, by default kinetics400_label_map.txt next to the checkpoint
(data_tools.fetch_kinetics_i3d --label_map_path puts it there).
"""

import os

from absl import flags

from ava_tx.core import command_line
from ava_tx.data import kinetics_clip
from ava_tx.trunks import kinetics_classifier


@command_line.flag_definitions
def define_flags():
  flags.DEFINE_string(
    "checkpoint",
    None,
    "Converted checkpoint (its directory, or the prefix DIR/i3d) holding the "
    "Logits (convert_i3d_checkpoint's default).",
  )
  flags.DEFINE_string("video", None, "Video file (any container PyAV reads, gif included).")
  flags.DEFINE_string(
    "label_map_path",
    None,
    "Kinetics-400 class names, one a line, in logit order (default: "
    f"{kinetics_classifier.LABEL_MAP_NAME} in the checkpoint's directory).",
  )
  command_line.define_renamed_flag("labels_path", "label_map_path")
  flags.DEFINE_integer("top_k", 5, "How many classes to print.")
  flags.DEFINE_float("fps", kinetics_clip.KINETICS_FPS, "Decoding frame rate.")
  flags.DEFINE_integer("max_frames", 250, "Use the first N frames (0: all).")


def default_label_map_path(checkpoint: str) -> str:
  directory = checkpoint if os.path.isdir(checkpoint) else os.path.dirname(checkpoint)
  return os.path.join(directory, kinetics_classifier.LABEL_MAP_NAME)


def run(
  *,
  checkpoint: str,
  video: str,
  label_map_path: str = None,
  top_k: int = 5,
  fps: float = kinetics_clip.KINETICS_FPS,
  max_frames: int = 250,
) -> list:
  """Classifies `video`; prints and returns [(class name, probability)] most probable first."""
  names = kinetics_classifier.read_label_names(label_map_path or default_label_map_path(checkpoint))
  clip = kinetics_clip.read_clip(video, fps=fps, max_frames=max_frames)
  model = kinetics_classifier.load_classifier(checkpoint)
  best = kinetics_classifier.top_k(kinetics_classifier.classify(model, clip), names, top_k)
  print(f"{video}: {clip.shape[0]} frames at {fps:g} fps, {clip.shape[1]}x{clip.shape[2]}")
  for name, probability in best:
    print(f"{probability:8.5f}  {name}")
  return best


def main(argv):
  command_line.reject_arguments(argv)
  run(
    **command_line.flag_values(
      ["checkpoint", "video", "label_map_path", "top_k", "fps", "max_frames"]
    )
  )


if __name__ == "__main__":
  command_line.run_program(
    "classify_kinetics", main, define_flags=define_flags, required_flags=["checkpoint", "video"]
  )
