r"""Runs an exported model (or a checkpoint) on video files: AVA detections CSV, annotated videos.

  python -m ava_tx.predict --saved_model_dir=EXPORT/saved_model --output_dir=OUT \
      [--label_map_path=LABELS] [--person_boxes_csv=BOXES.csv | --person_detector=DIR] \
      VIDEO [VIDEO ...]

VIDEO: any file PyAV decodes (mp4, mkv, avi, webm, gif, ...) or a folder of frame images
(at --folder_fps). Keyframes every 1 / --keyframe_rate seconds from the first frame, or at
--timestamps; each keyframe's clip is sampled as in evaluation (the export's num_frames and
frame_stride), edge frames repeated where the clip leaves the video. Writes OUT/detections.csv
(AVA layout, for `python -m ava_tx.eval.ava_eval`), and unless --no_video OUT/<stem>.mp4 and
OUT/<stem>/keyframe_<t>.png. A video that fails is reported and the others still run; the exit
status is 1 if any failed. A model whose proposals are person-detector boxes takes them from
--person_boxes_csv, or else from the person detector that data_tools.fetch_person_detector
wrote (--person_detector, default workspace/pretrained/person_detector). See docs/INFERENCE.md.
"""

import logging
import sys

from absl import flags

from ava_tx.core import command_line
from ava_tx.core import errors
from ava_tx.inference import video_flags

FLAGS = flags.FLAGS


@command_line.flag_definitions
def define_flags():
  video_flags.define_flags()
  flags.adopt_module_key_flags(video_flags)
  flags.DEFINE_string("saved_model_dir", None, "saved_model/ directory of an ava_tx export.")
  flags.DEFINE_string("pipeline_config_path", None, "Instead of an export: a pipeline.config ...")
  flags.DEFINE_string("checkpoint_dir", None, "... and the directory of its checkpoint(s).")
  flags.DEFINE_string("output_dir", None, "Where detections.csv and the annotated outputs go.")
  flags.DEFINE_string(
    "label_map_path", None, "Label map whose names to draw (default: the export's label map)."
  )
  flags.DEFINE_float("keyframe_rate", 1.0, "Keyframes per second, from the first frame.")
  flags.DEFINE_list("timestamps", None, "Keyframe times instead (seconds, + --segment_start).")
  flags.DEFINE_integer("batch_size", 4, "Clips per model call.")
  flags.DEFINE_bool("no_video", False, "Write only detections.csv (no annotated video or PNGs).")
  flags.DEFINE_integer("max_labels", 3, "Actions drawn per person.")
  flags.DEFINE_float(
    "min_person_score", 0.5, "Boxes drawn from this person score (the CSV has all)."
  )
  flags.DEFINE_float("min_action_score", 0.1, "Actions drawn from this probability.")
  flags.DEFINE_integer(
    "min_output_height",
    360,
    "Videos lower than this are drawn scaled up "
    "by an integer factor (labels stay legible); 0 keeps every size.",
  )


def _load_detector():
  from ava_tx.inference import detector as detector_lib

  if FLAGS.saved_model_dir:
    if FLAGS.pipeline_config_path or FLAGS.checkpoint_dir:
      raise errors.InputError(
        "give --saved_model_dir or --pipeline_config_path with --checkpoint_dir, not both"
      )
    return detector_lib.SavedModelDetector(FLAGS.saved_model_dir)
  if not (FLAGS.pipeline_config_path and FLAGS.checkpoint_dir):
    raise errors.InputError(
      "give --saved_model_dir, or --pipeline_config_path with --checkpoint_dir"
    )
  return detector_lib.CheckpointDetector(FLAGS.pipeline_config_path, FLAGS.checkpoint_dir)


def _options():
  from ava_tx.inference import predict_lib

  try:
    timestamps = tuple(float(t) for t in FLAGS.timestamps) if FLAGS.timestamps else None
  except ValueError:
    raise errors.InputError("--timestamps: not numbers: %s" % ",".join(FLAGS.timestamps)) from None
  if FLAGS.batch_size < 1:
    raise errors.InputError("--batch_size must be >= 1, got %d" % FLAGS.batch_size)
  return predict_lib.PredictOptions(
    output_dir=FLAGS.output_dir,
    keyframe_rate=FLAGS.keyframe_rate,
    timestamps=timestamps,
    batch_size=FLAGS.batch_size,
    write_video=not FLAGS.no_video,
    segment_start=FLAGS.segment_start,
    folder_fps=FLAGS.folder_fps,
    max_labels=FLAGS.max_labels,
    min_person_score=FLAGS.min_person_score,
    min_action_score=FLAGS.min_action_score,
    min_output_height=FLAGS.min_output_height,
  )


def main(argv):
  videos = argv[1:]
  if not videos:
    raise errors.InputError("no VIDEO given (python -m ava_tx.predict [flags] VIDEO [VIDEO ...])")
  if not FLAGS.output_dir:
    raise errors.InputError("--output_dir is required")
  logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
  options = _options()
  from ava_tx.inference import detector as detector_lib  # After the flag checks: TF is slow.
  from ava_tx.inference import predict_lib

  detector = _load_detector()
  if FLAGS.label_map_path:
    detector.info = detector_lib.with_label_map(detector.info, FLAGS.label_map_path)
  box_source = video_flags.box_source(detector.info)
  results = predict_lib.predict_videos(detector, videos, options, box_source=box_source)
  for r in results:
    if r.error:
      print("predict: error: %s" % r.error, file=sys.stderr)
  print(predict_lib.format_summary(results, FLAGS.output_dir))
  return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
  command_line.run_program("predict", main, define_flags=define_flags)
