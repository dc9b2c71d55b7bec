"""State of a simulated scene: per-frame tracks of every person plus the background.

Everything the renderer draws and the labeler decides is a pure function of these arrays, so
tests can build scenes by hand (e.g. two scenes identical at the keyframe, different around it).
Coordinates are absolute pixels of the frame: x to the right, y down, origin at the top-left
corner of the top-left pixel (pixel (row, col) covers [row, row+1) x [col, col+1)).
"""

import dataclasses
import enum

import numpy as np

from ava_tx.data.synthetic import classes


class Activity(enum.IntEnum):
  """What a person's body does in a frame. Decides the pose label (see `POSE_OF_ACTIVITY`)."""

  STAND = 0  # Standing still (static stance, static torso lean).
  WALK = 1  # Walking: moving horizontally at 0.45-0.75 heights/s.
  RUN = 2  # Running: moving horizontally at 1.3-2.0 heights/s.
  JUMP = 3  # Repeated hops (feet leave the ground), little horizontal motion.
  BOW = 4  # Bending forward at the waist and back up.
  SIT_DOWN = 5  # Transition standing -> seated.
  SEATED = 6  # Seated.
  GET_UP = 7  # Transition seated -> standing.


POSE_OF_ACTIVITY = {
  Activity.STAND: classes.STAND,
  Activity.WALK: classes.WALK,
  Activity.RUN: classes.RUN_JOG,
  Activity.JUMP: classes.JUMP_LEAP,
  Activity.BOW: classes.BEND_BOW,
  Activity.SIT_DOWN: classes.SIT,
  Activity.SEATED: classes.SIT,
  Activity.GET_UP: classes.STAND,
}
"""Pose class of each activity. Sitting down is `sit` and getting up is `stand`: halfway
through either transition the body is drawn identically, only the direction of motion differs."""


@dataclasses.dataclass
class Appearance:
  """Static look of one person.

  Attributes:
    height: float, standing height in pixels (head top to feet).
    skin, shirt, pants, object_colour: uint8 [3] RGB colours.
  """

  height: float
  skin: np.ndarray
  shirt: np.ndarray
  pants: np.ndarray
  object_colour: np.ndarray


@dataclasses.dataclass
class PersonTrack:
  """Per-frame state of one person. Every array has shape [num_frames].

  Attributes:
    person_id: int, id within the video (the AVA person_id column).
    appearance: Appearance.
    x: float64, x of the feet (body centre line), pixels.
    ground_y: float64, y of the ground under the person (feet y when not jumping), pixels.
    jump: float64 >= 0, height of the feet above the ground, pixels.
    body_dir: int8, +1 facing right, -1 facing left (walking direction, leg/arm layout).
    head_dir: int8, +1 head turned right, -1 left (eye and mouth side).
    sit: float64 in [0, 1], 0 standing, 1 seated.
    tilt: float64, forward torso tilt from vertical, radians.
    leg_swing: float64, signed angle of the front thigh from vertical, radians (back thigh
      mirrors it).
    arm_swing: float64, signed angle of the back arm from vertical, radians.
    arm_raise: float64 in [0, 1], how far the front arm is raised (1: up, as in a wave).
    forearm: float64, angle of the raised forearm relative to the upper arm, radians.
    mouth: float64 in [0, 1], mouth opening.
    activity: int8 Activity codes.
    talking: bool, a talking episode is under way (the mouth moves; it may be closed in any
      single frame).
    waving: bool, a hand-wave episode is under way.
    holding: bool, an object is held in the back hand.
  """

  person_id: int
  appearance: Appearance
  x: np.ndarray
  ground_y: np.ndarray
  jump: np.ndarray
  body_dir: np.ndarray
  head_dir: np.ndarray
  sit: np.ndarray
  tilt: np.ndarray
  leg_swing: np.ndarray
  arm_swing: np.ndarray
  arm_raise: np.ndarray
  forearm: np.ndarray
  mouth: np.ndarray
  activity: np.ndarray
  talking: np.ndarray
  waving: np.ndarray
  holding: np.ndarray

  @classmethod
  def still(cls, person_id, appearance, num_frames, *, x, ground_y, body_dir=1):
    """A person standing still, facing `body_dir`, for `num_frames` frames (a start for tests)."""
    zeros = np.zeros(num_frames)
    return cls(
      person_id=person_id,
      appearance=appearance,
      x=np.full(num_frames, float(x)),
      ground_y=np.full(num_frames, float(ground_y)),
      jump=zeros.copy(),
      body_dir=np.full(num_frames, body_dir, np.int8),
      head_dir=np.full(num_frames, body_dir, np.int8),
      sit=zeros.copy(),
      tilt=zeros.copy(),
      leg_swing=zeros.copy(),
      arm_swing=zeros.copy(),
      arm_raise=zeros.copy(),
      forearm=zeros.copy(),
      mouth=zeros.copy(),
      activity=np.full(num_frames, Activity.STAND, np.int8),
      talking=np.zeros(num_frames, bool),
      waving=np.zeros(num_frames, bool),
      holding=np.zeros(num_frames, bool),
    )

  @property
  def num_frames(self):
    return len(self.x)


@dataclasses.dataclass
class Scene:
  """One simulated video.

  Attributes:
    width, height: frame size in pixels.
    fps: frames per second.
    num_frames: number of frames.
    texture: uint8 [texture_height, texture_width, 3], periodic background texture (with the
      background objects painted in).
    scroll: float64 [num_frames, 2], (dy, dx) offset of the texture in each frame, pixels.
    horizon: float, y of the horizon line; the floor below it is drawn darker.
    persons: list of PersonTrack, in person_id order.
  """

  width: int
  height: int
  fps: int
  num_frames: int
  texture: np.ndarray
  scroll: np.ndarray
  horizon: float
  persons: list
