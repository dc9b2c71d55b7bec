r"""The Action Transformer's attention for one keyframe and person (the paper's Figure 4).

  python -m ava_tx.visualize_attention --saved_model_dir=EXPORT/saved_model --video=FILE \
      --output_dir=OUT [--timestamp=S] [--person=K] [--layer=L] \
      [--person_boxes_csv=BOXES.csv | --person_detector=DIR]

The model must be exported with --export_attention. For the keyframe at --timestamp (seconds
from the first frame, + --segment_start; default: the middle of the video) and the K-th person
(detections in the model's order, highest person score first), each head of layer L (default:
the last) gives a softmax attention over the clip's feature map, drawn as heat maps over the
frames, and key embeddings, drawn as colours (3-component PCA). Writes PNGs and OUT/index.html.
See docs/INFERENCE.md.
"""

from absl import flags

from ava_tx.core import command_line
from ava_tx.core import errors
from ava_tx.inference import video_flags

FLAGS = flags.FLAGS


@command_line.flag_definitions
def define_flags():
  video_flags.define_flags()
  flags.adopt_module_key_flags(video_flags)
  flags.DEFINE_string("saved_model_dir", None, "saved_model/ of an export with --export_attention.")
  flags.DEFINE_string("video", None, "Video file or frame folder.")
  flags.DEFINE_string("output_dir", None, "Where the PNGs and index.html go.")
  flags.DEFINE_float(
    "timestamp",
    None,
    "Keyframe time, seconds (+ --segment_start); default: the middle whole second of the video.",
  )
  flags.DEFINE_integer("person", 0, "Which detection (0: the highest person score).")
  flags.DEFINE_integer("layer", -1, "Tx layer (0-based; negative counts from the last).")


def main(argv):
  if len(argv) > 1:
    raise errors.InputError("unexpected arguments: %s (the video is --video)" % " ".join(argv[1:]))
  for name in ("saved_model_dir", "video", "output_dir"):
    if not FLAGS[name].value:
      raise errors.InputError("--%s is required" % name)
  from ava_tx.inference import attention_page  # After the flag checks: TensorFlow is slow.
  from ava_tx.inference import detector as detector_lib

  detector = detector_lib.SavedModelDetector(FLAGS.saved_model_dir)
  box_source = video_flags.box_source(detector.info)
  result = attention_page.visualize(
    detector,
    FLAGS.video,
    FLAGS.output_dir,
    timestamp=FLAGS.timestamp,
    person=FLAGS.person,
    layer=FLAGS.layer,
    box_source=box_source,
    segment_start=FLAGS.segment_start,
    folder_fps=FLAGS.folder_fps,
  )
  print(
    "attention of person %d (score %.2f), layer %d, keyframe %g s: %s"
    % (result.person, result.person_score, result.layer, result.timestamp, result.html_path)
  )
  print(result.people.summary())
  return 0


if __name__ == "__main__":
  command_line.run_program("visualize_attention", main, define_flags=define_flags)
