"""Per-keyframe clips cut from one video, and their tf.train.SequenceExample form.

Storage layout: one SequenceExample per annotated keyframe, holding the `clip_frames` frames
at the stored frame rate around it: frames [k - clip_frames // 2, k + clip_frames - 1 -
clip_frames // 2] where k is the keyframe's frame index, cut at the video's ends (the parser
repeats edge frames to pad). Frames shared by neighbouring keyframes are stored once per
keyframe: with keyframes at 1 Hz the duplication factor is clip_frames / fps (64 frames at
30 fps: 2.13x; 32 at 30 fps: 1.07x). Cost per keyframe = clip_frames x bytes per frame;
measured (benchmarks/data_benchmark.py, JPEG q90): 1254 kB for 64 frames of 400x400, 263 kB
for 64 frames of 120x120. The AVA train split (~211k keyframes) at 64 frames of 711x400
(roughly 35 kB each) would take ~470 GB; 32-frame clips or fps=15 halve it. See docs/DATA.md.
"""

import bisect
import dataclasses
from typing import Iterator, NamedTuple, Sequence

from ava_tx.core import ava_constants
from ava_tx.core import errors
from ava_tx.core import standard_fields
from ava_tx.data import video_frames

KEYS = standard_fields.SequenceExampleKeys


@dataclasses.dataclass(frozen=True)
class ClipSettings:
  """How frames are stored. `fps`: stored frame rate; `clip_frames`: frames per example;
  `segment_start`: movie second of the video's first frame (900 for AVA 15-minute cuts, 0 for
  full movies); `short_side`: resize target (0 = keep); `image_format`: JPEG or PNG."""

  fps: float = ava_constants.FPS
  clip_frames: int = 64
  segment_start: float = ava_constants.SEGMENT_START_SEC
  short_side: int = 0
  image_format: str = "JPEG"
  jpeg_quality: int = 90

  def __post_init__(self):
    if self.fps <= 0:
      raise errors.InputError("fps must be > 0, got %r" % self.fps)
    if self.clip_frames < 1:
      raise errors.InputError("clip_frames must be >= 1, got %r" % self.clip_frames)
    if self.short_side < 0:
      raise errors.InputError("short_side must be >= 0, got %r" % self.short_side)

  def encoder(self):
    return video_frames.FrameEncoder(
      short_side=self.short_side, image_format=self.image_format, jpeg_quality=self.jpeg_quality
    )


@dataclasses.dataclass(frozen=True)
class KeyframeRequest:
  """A keyframe to extract: its timestamp, ground-truth BoxAnnotations and PersonBoxes."""

  timestamp: int
  boxes: tuple = ()
  proposals: tuple = ()


@dataclasses.dataclass
class KeyframeClip:
  """An extracted clip. `frames`: encoded images; `first_frame_index`: video frame index of
  frames[0]; `keyframe_index`: index of the keyframe within `frames`."""

  video_id: str
  request: KeyframeRequest
  frames: list
  first_frame_index: int
  keyframe_index: int
  height: int
  width: int


@dataclasses.dataclass(frozen=True)
class SkippedKeyframe:
  video_id: str
  timestamp: int
  reason: str


class ClipWindow(NamedTuple):
  """Video frame indices of a keyframe's clip: the keyframe's, the first stored and the last
  stored (inclusive). `first` is cut at the video's start; `last` is not cut at its end (the
  video's length is not known here: the extractors cut it)."""

  keyframe: int
  first: int
  last: int


def clip_window(timestamp: int, settings: ClipSettings) -> ClipWindow:
  """The frames a converter with `settings` stores for the keyframe at `timestamp`:
  clip_frames // 2 before the keyframe, the keyframe, and the rest after it.

  Args:
    timestamp: keyframe timestamp in whole movie seconds.
    settings: ClipSettings (fps, clip_frames, segment_start are used).
  Returns:
    ClipWindow; e.g. 902 with segment_start 900, fps 30, clip_frames 64 -> (60, 28, 91).
  Raises:
    ValueError: if the keyframe lies before the segment start.
  """
  k = ava_constants.keyframe_frame_index(
    timestamp, segment_start=settings.segment_start, fps=settings.fps
  )
  before = settings.clip_frames // 2
  return ClipWindow(k, max(0, k - before), k + settings.clip_frames - 1 - before)


def _windows(requests, settings):
  """Yields (request, ClipWindow, None) or (request, None, reason to skip), in timestamp order."""
  for request in sorted(requests, key=lambda r: r.timestamp):
    if request.timestamp < settings.segment_start:
      yield request, None, "timestamp before the segment start %s" % settings.segment_start
      continue
    yield request, clip_window(request.timestamp, settings), None


def extract_clips(
  video_id: str, source, requests: Sequence[KeyframeRequest], settings: ClipSettings
) -> Iterator[object]:
  """Cuts the clips of `requests` from a video or frame folder, streaming.

  Args:
    video_id: AVA video id (for messages and the examples).
    source: `("video", path_or_binary_file)` or `("frames", [(name, read_bytes_fn), ...])`
      with the frame files already sorted (see video_frames.list_frame_files).
    requests: keyframes to extract.
    settings: ClipSettings.

  Yields:
    KeyframeClip or SkippedKeyframe, in timestamp order.

  Raises:
    video_frames.VideoReadError: if the video cannot be opened or decoded. Clips already
      yielded stay valid; the caller reports the keyframes not yet yielded.
  """
  pending = []
  for request, window, reason in _windows(requests, settings):
    if reason:
      yield SkippedKeyframe(video_id, request.timestamp, reason)
    else:
      pending.append((request, window))
  if not pending:
    return
  kind, payload = source
  if kind == "frames":
    yield from _clips_from_files(video_id, payload, pending, settings.encoder())
  else:
    yield from _clips_from_video(video_id, payload, pending, settings)


def _clips_from_video(video_id, video, pending, settings):
  """Decodes only the frames of the `pending` (request, window) pairs, sorted by window, and
  yields each clip as soon as its last frame is read (then SkippedKeyframes past the end)."""
  encoder = settings.encoder()
  starts = [w[1] for _, w in pending]
  ends = [w[2] for _, w in pending]

  # Windows are sorted by start and end alike (same length), so a frame is wanted iff the
  # last window starting at or before it ends at or after it.
  def wanted(index):
    position = bisect.bisect_right(starts, index) - 1
    return position >= 0 and ends[position] >= index

  encoded = {}
  last_index = -1
  frames = video_frames.iter_video_frames(
    video, fps=settings.fps, wanted=wanted, start_index=starts[0]
  )
  for index, frame in frames:
    last_index = index
    if frame is not None:
      encoded[index] = encoder.encode_av_frame(frame)
    while pending and pending[0][1][2] <= index:
      yield _make_clip(video_id, *pending.pop(0), encoded, index)
    if not pending:
      return
    for old in [i for i in encoded if i < pending[0][1][1]]:
      del encoded[old]
  for request, window in pending:
    if window[0] > last_index:
      yield SkippedKeyframe(
        video_id,
        request.timestamp,
        "keyframe frame %d beyond the video end (%d frames at %s fps)"
        % (window[0], last_index + 1, settings.fps),
      )
    else:
      yield _make_clip(video_id, request, window, encoded, last_index)


def _make_clip(video_id, request, window, encoded, last_index):
  k, first, last = window
  last = min(last, last_index)
  frames = [encoded[i] for i in range(first, last + 1)]
  _, height, width = frames[k - first]
  return KeyframeClip(video_id, request, [f[0] for f in frames], first, k - first, height, width)


def _clips_from_files(video_id, files, pending, encoder):
  cache = {}
  for request, (k, first, last) in pending:
    if k >= len(files):
      yield SkippedKeyframe(
        video_id,
        request.timestamp,
        "keyframe frame %d beyond the last of %d frame files" % (k, len(files)),
      )
      continue
    last = min(last, len(files) - 1)
    for old in [i for i in cache if i < first]:
      del cache[old]
    for i in range(first, last + 1):
      if i not in cache:
        name, read = files[i]
        cache[i] = encoder.encode_file_bytes(read(), name)
    _, height, width = cache[k]
    yield KeyframeClip(
      video_id,
      request,
      [cache[i][0] for i in range(first, last + 1)],
      first,
      k - first,
      height,
      width,
    )


def clip_to_sequence_example(clip: KeyframeClip, settings: ClipSettings):
  """Builds the tf.train.SequenceExample of a clip (keys: SequenceExampleKeys).

  Context: ids, keyframe timestamp and index, frame rate, first-frame time (microseconds of
  movie time), num_frames, image size and format, keyframe boxes [ymin, xmin, ymax, xmax] as
  four float lists, labels flattened (`region/label/index`, AVA ids) with `region/label/count`
  per box, person ids, optional proposals. Feature lists: `image/encoded` (one image per
  frame) and `image/timestamp` (int64 microseconds of movie time per frame).
  """
  from ava_tx.core.tf_setup import tf  # Keeps extraction importable without TensorFlow.

  example = tf.train.SequenceExample()
  context = example.context.feature

  def put(key, kind, values):
    getattr(context[key], kind).value.extend(values)

  _put_clip_fields(put, clip, settings)
  _put_boxes(put, clip.request)
  lists = example.feature_lists.feature_list
  for offset, image in enumerate(clip.frames):
    lists[KEYS.image_encoded].feature.add().bytes_list.value.append(image)
    lists[KEYS.image_timestamp].feature.add().int64_list.value.append(
      _frame_time_us(clip.first_frame_index + offset, settings)
    )
  return example


def _frame_time_us(frame_index, settings):
  """Movie time of a stored frame, in integer microseconds."""
  return int(round((settings.segment_start + frame_index / settings.fps) * 1e6))


def _put_clip_fields(put, clip, settings):
  """Context features of the clip: ids, keyframe, frame rate and times, image size and format."""
  request = clip.request
  put(
    KEYS.example_id,
    "bytes_list",
    [ava_constants.make_key(clip.video_id, request.timestamp).encode()],
  )
  put(KEYS.clip_media_id, "bytes_list", [clip.video_id.encode()])
  put(KEYS.clip_keyframe_timestamp, "int64_list", [request.timestamp])
  put(KEYS.clip_keyframe_index, "int64_list", [clip.keyframe_index])
  put(KEYS.clip_frame_rate, "float_list", [settings.fps])
  put(KEYS.clip_start_timestamp, "int64_list", [_frame_time_us(clip.first_frame_index, settings)])
  put(KEYS.clip_num_frames, "int64_list", [len(clip.frames)])
  put(KEYS.image_height, "int64_list", [clip.height])
  put(KEYS.image_width, "int64_list", [clip.width])
  put(KEYS.image_format, "bytes_list", [settings.image_format.encode()])


def _put_boxes(put, request):
  """Context features of the keyframe's ground-truth boxes and labels, and its proposals."""
  boxes = request.boxes
  for position, key in enumerate(
    (KEYS.region_bbox_ymin, KEYS.region_bbox_xmin, KEYS.region_bbox_ymax, KEYS.region_bbox_xmax)
  ):
    put(key, "float_list", [b.box[position] for b in boxes])
  put(KEYS.region_label_index, "int64_list", [i for b in boxes for i in b.action_ids])
  put(KEYS.region_label_count, "int64_list", [len(b.action_ids) for b in boxes])
  put(
    KEYS.region_person_id, "int64_list", [-1 if b.person_id is None else b.person_id for b in boxes]
  )
  if request.proposals:
    for position, key in enumerate(
      (
        KEYS.proposal_bbox_ymin,
        KEYS.proposal_bbox_xmin,
        KEYS.proposal_bbox_ymax,
        KEYS.proposal_bbox_xmax,
      )
    ):
      put(key, "float_list", [p.box[position] for p in request.proposals])
    put(KEYS.proposal_score, "float_list", [p.score for p in request.proposals])
