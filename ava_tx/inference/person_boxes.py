"""Person boxes for models whose proposals include person-detector boxes: from a detector CSV,
or from a person detector run on each keyframe (`DetectorPersonBoxes`).

A box source is an object with
  check_video(video_id, path): raises errors.InputError if it cannot serve this video;
  boxes(video_id, timestamp, frame): (float32 [n, 4] normalized boxes, float32 [n] scores)
    for the keyframe at `timestamp` (movie seconds, float) whose frame is uint8 [H, W, 3]
    (None when the source does not look at pixels: `needs_frames` is False).
"""

import fractions

import numpy as np

from ava_tx.core import errors
from ava_tx.data import ava_annotations


def _empty():
  return np.zeros([0, 4], np.float32), np.zeros([0], np.float32)


class CsvPersonBoxes:
  """Boxes of AVA's person-detector CSV `video_id,timestamp,x1,y1,x2,y2,,score` (timestamps
  in whole movie seconds). Keyframes whose time is not a whole second get no boxes."""

  needs_frames = False

  def __init__(self, path: str, *, min_score: float = 0.0):
    self.path = path
    read = ava_annotations.read_person_boxes(path, min_score=min_score)
    self._boxes = read.annotations
    self._video_ids = sorted({video_id for video_id, _ in self._boxes})

  def check_video(self, video_id: str, video_path: str) -> None:
    if video_id not in self._video_ids:
      shown = ", ".join(self._video_ids[:5]) + (" ..." if len(self._video_ids) > 5 else "")
      raise errors.InputError(
        "%s: --person_boxes_csv %s has no boxes for video id %r (the file's stem); its videos "
        "are: %s" % (video_path, self.path, video_id, shown or "none")
      )

  def boxes(self, video_id: str, timestamp: float, frame=None):
    del frame
    exact = fractions.Fraction(str(timestamp))
    if exact.denominator != 1:
      return _empty()
    rows = self._boxes.get((video_id, int(exact)), [])
    if not rows:
      return _empty()
    return (
      np.asarray([r.box for r in rows], np.float32),
      np.asarray([r.score for r in rows], np.float32),
    )


class NoPersonBoxes:
  """No detector boxes at any keyframe: a model with an RPN beside its person-detector
  proposals (`proposals: RPN_AND_PERSON_DETECTOR`) then detects people with its RPN alone."""

  needs_frames = False

  def check_video(self, video_id: str, video_path: str) -> None:
    del video_id, video_path

  def boxes(self, video_id: str, timestamp: float, frame=None):
    del video_id, timestamp, frame
    return _empty()


class DetectorPersonBoxes:
  """Boxes of a person detector (`person_detector.PersonDetector`) run on each keyframe's full
  frame; serves any video."""

  needs_frames = True

  def __init__(self, detector):
    self.detector = detector

  def check_video(self, video_id: str, video_path: str) -> None:
    del video_id, video_path

  def boxes(self, video_id: str, timestamp: float, frame=None):
    del video_id
    if frame is None:
      raise ValueError("DetectorPersonBoxes needs the keyframe's frame (timestamp %s)" % timestamp)
    return self.detector.detect(frame)


def pad_person_boxes(per_clip):
  """Batches [(boxes [n_i, 4], scores [n_i])] into (float32 [batch_size, max(1, max n_i), 4]
  zero-padded, int32 [batch_size] counts)."""
  width = max([1] + [len(b) for b, _ in per_clip])
  boxes = np.zeros([len(per_clip), width, 4], np.float32)
  counts = np.zeros([len(per_clip)], np.int32)
  for i, (b, _) in enumerate(per_clip):
    boxes[i, : len(b)] = b
    counts[i] = len(b)
  return boxes, counts


def make_box_source(
  *,
  csv_path=None,
  min_score=0.0,
  uses_person_boxes=False,
  has_rpn=False,
  detector_dir=None,
  detector_options=None,
):
  """The box source the flags ask for (None when the model takes no person boxes and none are
  given). Without a CSV, a model that takes person boxes and also has an RPN gets
  NoPersonBoxes unless `detector_dir` is given; one without an RPN gets the person detector of
  `detector_dir` (default `person_detector.DEFAULT_DIR`).

  Args:
    detector_options: keyword arguments of `person_detector.PersonDetector` (model, min_score).

  Raises:
    errors.InputError: no person detector in the directory (the message names the fetch
      command).
  """
  if csv_path:
    return CsvPersonBoxes(csv_path, min_score=min_score)
  if uses_person_boxes:
    if has_rpn and not detector_dir:
      return NoPersonBoxes()
    from ava_tx.inference import person_detector  # pylint: disable=import-outside-toplevel

    directory = detector_dir or person_detector.DEFAULT_DIR
    if not detector_dir and person_detector.read_manifest(directory) is None:
      raise errors.InputError(
        "this model takes person-detector boxes (it has no RPN): give --person_boxes_csv or "
        "--person_detector, or fetch the default person detector with `%s`"
        % (person_detector.FETCH_COMMAND % directory)
      )
    detector = person_detector.PersonDetector(directory, **(detector_options or {}))
    return DetectorPersonBoxes(detector)
  return None
