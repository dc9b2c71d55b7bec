"""The label rules: which AVA classes each visible person has at a keyframe.

All rules read the simulated state (scene.PersonTrack arrays) over the label window, the frames
[k - fps, k + fps] around keyframe frame k (+-1 s). Stated once here and in
docs/SYNTHETIC_DATA.md:

  visible      clipped box area >= 50% of the unclipped box area and >= 4 px on each side.
               Only visible persons are annotated or can be faced.
  faced(i, t)  the visible person j != i nearest in x on the side i's head is turned to
               (sign(x_j - x_i) == head_dir_i), with |x_j - x_i| <= 0.6 * frame width;
               none if there is no such person.
  pose         exactly one: the pose of the activity at frame k (scene.POSE_OF_ACTIVITY):
               stand, walk, run/jog, jump/leap, bend/bow, sit (seated or sitting down;
               getting up is stand).
  hand wave    a wave episode is under way at frame k (forearm oscillating on a raised arm).
  carry/hold   holding an object in every frame of the window.
  talk to      talking at frame k (mouth moving) and faced(i, k) exists.
  listen to    faced(i, k) = j exists and j is talking at frame k.
  watch        faced(i, t) is the same person for every frame t of the window.
"""

import dataclasses

import numpy as np

from ava_tx.data.synthetic import classes
from ava_tx.data.synthetic import render
from ava_tx.data.synthetic import scene as scene_lib

MIN_VISIBLE_FRACTION = 0.5
MIN_VISIBLE_SIZE = 4.0  # Pixels.
MAX_GAZE_DISTANCE = 0.6  # Fraction of the frame width.
LABEL_WINDOW_SECONDS = 1  # The window is [k - fps * 1, k + fps * 1].


@dataclasses.dataclass(frozen=True)
class PersonLabel:
  """Annotation of one visible person at one keyframe.

  Attributes:
    person_id: the person's id in its video.
    box: (ymin, xmin, ymax, xmax), normalized to [0, 1], clipped to the frame.
    action_ids: sorted AVA label ids.
    person_index: index of the person in scene.persons.
  """

  person_id: int
  box: tuple
  action_ids: tuple
  person_index: int


class SceneGeometry:
  """Per-frame boxes and visibility of every person, computed once per scene.

  Attributes:
    boxes_absolute: float64 [num_frames, num_persons, 4] unclipped [ymin, xmin, ymax, xmax].
    visible: bool [num_frames, num_persons].
  """

  def __init__(self, scene):
    self.scene = scene
    n, t = len(scene.persons), scene.num_frames
    boxes = np.zeros((t, n, 4))
    for i, p in enumerate(scene.persons):
      for f in range(t):
        boxes[f, i] = render.person_box_absolute(p, f)
    self.boxes_absolute = boxes
    self.clipped = clip_boxes(boxes, scene.height, scene.width)
    area = (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    c = self.clipped
    c_h, c_w = c[..., 2] - c[..., 0], c[..., 3] - c[..., 1]
    self.visible = (
      (c_h * c_w >= MIN_VISIBLE_FRACTION * area)
      & (c_h >= MIN_VISIBLE_SIZE)
      & (c_w >= MIN_VISIBLE_SIZE)
    )
    self._faced = {}

  def faced(self, i, t):
    """Index of the person that person i faces in frame t, or -1 (rule in the module doc)."""
    key = (i, t)
    if key not in self._faced:
      persons = self.scene.persons
      best, best_dx = -1, None
      x_i, head = persons[i].x[t], int(persons[i].head_dir[t])
      for j, p in enumerate(persons):
        if j == i or not self.visible[t, j]:
          continue
        dx = (p.x[t] - x_i) * head
        if 0 < dx <= MAX_GAZE_DISTANCE * self.scene.width and (best_dx is None or dx < best_dx):
          best, best_dx = j, dx
      self._faced[key] = best
    return self._faced[key]


def clip_boxes(boxes_absolute, height, width):
  """Clips [..., 4] absolute [ymin, xmin, ymax, xmax] boxes to the frame."""
  limits = np.array([height, width, height, width], np.float64)
  return np.clip(boxes_absolute, 0.0, limits)


def label_window(scene, frame_index):
  """range of the frames of the label window around frame_index (clipped to the video)."""
  f = LABEL_WINDOW_SECONDS * scene.fps
  return range(max(0, frame_index - f), min(scene.num_frames, frame_index + f + 1))


def person_action_ids(geometry, i, k):
  """Sorted AVA ids of person i at keyframe frame k (assumes the person is visible)."""
  scene = geometry.scene
  p = scene.persons[i]
  window = label_window(scene, k)
  ids = {scene_lib.POSE_OF_ACTIVITY[scene_lib.Activity(int(p.activity[k]))].id}
  if p.waving[k]:
    ids.add(classes.HAND_WAVE.id)
  if p.holding[window.start : window.stop].all():
    ids.add(classes.CARRY_HOLD.id)
  faced = geometry.faced(i, k)
  if faced >= 0:
    if p.talking[k]:
      ids.add(classes.TALK_TO.id)
    if scene.persons[faced].talking[k]:
      ids.add(classes.LISTEN_TO_PERSON.id)
    if all(geometry.faced(i, t) == faced for t in window):
      ids.add(classes.WATCH_PERSON.id)
  return tuple(sorted(ids))


def keyframe_labels(geometry, k):
  """Annotations of keyframe frame k: one PersonLabel per visible person, by person_id."""
  scene = geometry.scene
  labels = []
  scale = np.array([scene.height, scene.width, scene.height, scene.width], np.float64)
  for i, p in enumerate(scene.persons):
    if not geometry.visible[k, i]:
      continue
    box = tuple(float(v) for v in geometry.clipped[k, i] / scale)
    labels.append(PersonLabel(p.person_id, box, person_action_ids(geometry, i, k), i))
  return labels
