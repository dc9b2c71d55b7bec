"""Numpy rasterization of simulated scenes: stick-figure people on a scrolling texture.

A person is a list of primitives (capsules: segments with a radius; circles are capsules of
zero length; axis-aligned rectangles for the mouth and the held object). The person box is the
exact extent of the body capsules, so it encloses every drawn body pixel (pixel centres inside a
capsule are filled). The held object is not part of the person box, as in AVA.
"""

import dataclasses
import math

import numpy as np

# Body proportions, as fractions of the standing height.
_HEAD_RADIUS = 0.11
_NECK = 0.04
_TORSO = 0.29
_THIGH = 0.23
_SHIN = 0.22
_UPPER_ARM = 0.17
_FOREARM = 0.16
_TORSO_RADIUS = 0.075
_LEG_RADIUS = 0.045
_ARM_RADIUS = 0.035
_OBJECT_SIZE = 0.14
_MIN_RADIUS = 0.75  # Pixels: thinner limbs would vanish at 160x120.
_RAISED_ARM_ANGLE = 0.8 * math.pi  # Upper arm pointing up and forward.
_FLOOR_SHADE = 0.78
_DARK = np.array([20, 15, 15], np.uint8)
_EYE_WHITE = np.array([245, 245, 245], np.uint8)


def _down(angle, direction):
  """Unit vector at `angle` radians from straight down, positive angles toward `direction`."""
  return np.array([direction * math.sin(angle), math.cos(angle)])


@dataclasses.dataclass(frozen=True)
class _Skeleton:
  """Joint positions (float64 [2], [x, y] in pixels) and limb radii of one person in one
  frame. `front` limbs are drawn over the torso, `back` ones behind it."""

  hip: np.ndarray
  neck: np.ndarray
  head: np.ndarray
  shoulder: np.ndarray
  back_knee: np.ndarray
  back_foot: np.ndarray
  front_knee: np.ndarray
  front_foot: np.ndarray
  back_elbow: np.ndarray
  back_hand: np.ndarray
  front_elbow: np.ndarray
  front_hand: np.ndarray
  leg_radius: float
  arm_radius: float
  torso_radius: float
  head_radius: float


def person_primitives(track, t):
  """Drawing primitives of one person in frame t, back to front.

  Args:
    track: scene.PersonTrack.
    t: int frame index.

  Returns:
    (body, extras): `body` is a list of ("capsule", p0 [x, y], p1 [x, y], radius, rgb) tuples
    making up the person (their extent is the person box); `extras` holds primitives drawn on
    top that are not part of the person box: the held object, eye and mouth
    (("rect", [x0, y0], [x1, y1], None, rgb) for rectangles).
  """
  pose = _skeleton(track, t)
  return _body_capsules(pose, track.appearance), _face_and_object(pose, track, t)


def _skeleton(track, t):
  """The pose of frame t: legs from the ground up, then torso and head, then arms."""
  height = track.appearance.height
  direction = int(track.body_dir[t])
  head_radius = _HEAD_RADIUS * height
  (front_thigh, front_shin), (back_thigh, back_shin) = legs = _leg_vectors(track, t)
  foot_drop = max(thigh[1] + shin[1] for thigh, shin in legs)
  hip = np.array([track.x[t], track.ground_y[t] - track.jump[t] - foot_drop])
  tilt = float(track.tilt[t])
  up = np.array([direction * math.sin(tilt), -math.cos(tilt)])  # Torso: leaning forward by tilt.
  neck = hip + _TORSO * height * up
  shoulder = hip + 0.92 * _TORSO * height * up
  back_elbow, back_hand, front_elbow, front_hand = _arm_joints(track, t, shoulder)
  back_knee, front_knee = hip + back_thigh, hip + front_thigh
  return _Skeleton(
    hip=hip,
    neck=neck,
    head=neck + (_NECK * height + head_radius) * up,
    shoulder=shoulder,
    back_knee=back_knee,
    back_foot=back_knee + back_shin,
    front_knee=front_knee,
    front_foot=front_knee + front_shin,
    back_elbow=back_elbow,
    back_hand=back_hand,
    front_elbow=front_elbow,
    front_hand=front_hand,
    leg_radius=max(_LEG_RADIUS * height, _MIN_RADIUS),
    arm_radius=max(_ARM_RADIUS * height, _MIN_RADIUS),
    torso_radius=max(_TORSO_RADIUS * height, _MIN_RADIUS),
    head_radius=head_radius,
  )


def _leg_vectors(track, t):
  """[(thigh, shin)] hip-to-knee and knee-to-foot vectors of the front and back legs: thighs
  rotate forward to horizontal when seated, shins stay vertical."""
  height = track.appearance.height
  direction = int(track.body_dir[t])
  sitting = float(track.sit[t])
  swing = float(track.leg_swing[t])
  legs = []
  for sign in (1.0, -1.0):
    thigh_angle = (1 - sitting) * sign * swing + sitting * (
      0.5 * math.pi - (0.1 if sign < 0 else 0.0)
    )
    shin_angle = (1 - sitting) * sign * swing
    legs.append(
      (
        _THIGH * height * _down(thigh_angle, direction),
        _SHIN * height * _down(shin_angle, direction),
      )
    )
  return legs


def _arm_joints(track, t, shoulder):
  """(back elbow, back hand, front elbow, front hand): the back arm hangs and swings; the
  front arm can be raised (a wave, or a static raised hand)."""
  height = track.appearance.height
  direction = int(track.body_dir[t])
  back_angle = float(track.arm_swing[t])
  back_elbow = shoulder + _UPPER_ARM * height * _down(back_angle, direction)
  back_hand = back_elbow + _FOREARM * height * _down(back_angle + 0.25, direction)
  raised = float(track.arm_raise[t])
  front_angle = (1 - raised) * -back_angle + raised * _RAISED_ARM_ANGLE
  front_elbow = shoulder + _UPPER_ARM * height * _down(front_angle, direction)
  front_hand = front_elbow + _FOREARM * height * _down(
    front_angle + raised * float(track.forearm[t]) + (1 - raised) * 0.25, direction
  )
  return back_elbow, back_hand, front_elbow, front_hand


def _body_capsules(pose, appearance):
  """The capsules whose extent is the person box, back to front."""
  return [
    ("capsule", pose.shoulder, pose.back_elbow, pose.arm_radius, appearance.shirt),
    ("capsule", pose.back_elbow, pose.back_hand, pose.arm_radius, appearance.skin),
    ("capsule", pose.hip, pose.back_knee, pose.leg_radius, appearance.pants),
    ("capsule", pose.back_knee, pose.back_foot, pose.leg_radius, appearance.pants),
    ("capsule", pose.hip, pose.neck, pose.torso_radius, appearance.shirt),
    ("capsule", pose.hip, pose.front_knee, pose.leg_radius, appearance.pants),
    ("capsule", pose.front_knee, pose.front_foot, pose.leg_radius, appearance.pants),
    ("capsule", pose.head, pose.head, pose.head_radius, appearance.skin),
    ("capsule", pose.shoulder, pose.front_elbow, pose.arm_radius, appearance.shirt),
    ("capsule", pose.front_elbow, pose.front_hand, pose.arm_radius, appearance.skin),
  ]


def _face_and_object(pose, track, t):
  """Primitives drawn over the body, outside the person box: held object, eye, mouth."""
  extras = []
  head, head_radius = pose.head, pose.head_radius
  if track.holding[t]:
    half = 0.5 * _OBJECT_SIZE * track.appearance.height
    centre = pose.back_hand + np.array([0.0, 0.6 * half])
    extras.append(("rect", centre - half, centre + half, None, track.appearance.object_colour))
  head_direction = int(track.head_dir[t])
  eye = head + np.array([0.45 * head_direction, -0.25]) * head_radius
  extras.append(("capsule", eye, eye, max(0.18 * head_radius, 0.6), _DARK))
  mouth_centre = head + np.array([0.5 * head_direction, 0.45]) * head_radius
  half_size = np.array(
    [0.28 * head_radius, 0.5 * (0.1 + 0.55 * float(track.mouth[t])) * head_radius]
  )
  extras.append(("rect", mouth_centre - half_size, mouth_centre + half_size, None, _DARK))
  return extras


def person_box_absolute(track, t):
  """Exact box of a person's body in frame t, not clipped to the frame.

  Returns:
    float64 [4], [ymin, xmin, ymax, xmax] in pixels.
  """
  body, _ = person_primitives(track, t)
  lo = np.min([np.minimum(p0, p1) - r for _, p0, p1, r, _ in body], axis=0)
  hi = np.max([np.maximum(p0, p1) + r for _, p0, p1, r, _ in body], axis=0)
  return np.array([lo[1], lo[0], hi[1], hi[0]])


def _window(lo, hi, size):
  start = max(int(math.floor(lo)), 0)
  stop = min(int(math.ceil(hi)) + 1, size)
  return start, stop


def _capsule_mask(p0, p1, radius, height, width):
  """Returns (row_slice, col_slice, bool mask) of pixels whose centres lie in the capsule."""
  r0, r1 = _window(min(p0[1], p1[1]) - radius, max(p0[1], p1[1]) + radius, height)
  c0, c1 = _window(min(p0[0], p1[0]) - radius, max(p0[0], p1[0]) + radius, width)
  if r0 >= r1 or c0 >= c1:
    return None
  ys = np.arange(r0, r1)[:, None] + 0.5
  xs = np.arange(c0, c1)[None, :] + 0.5
  seg = p1 - p0
  seg_len2 = float(seg @ seg)
  if seg_len2 > 0:
    u = np.clip(((xs - p0[0]) * seg[0] + (ys - p0[1]) * seg[1]) / seg_len2, 0.0, 1.0)
  else:
    u = 0.0
  dx = xs - (p0[0] + u * seg[0])
  dy = ys - (p0[1] + u * seg[1])
  return slice(r0, r1), slice(c0, c1), dx * dx + dy * dy <= radius * radius


def _rect_mask(p0, p1, height, width):
  r0, r1 = _window(p0[1], p1[1] - 1, height)
  c0, c1 = _window(p0[0], p1[0] - 1, width)
  if r0 >= r1 or c0 >= c1:
    return None
  ys = np.arange(r0, r1)[:, None] + 0.5
  xs = np.arange(c0, c1)[None, :] + 0.5
  # At least the pixel holding the centre is drawn, so a closed mouth stays a visible line.
  cy, cx = 0.5 * (p0[1] + p1[1]), 0.5 * (p0[0] + p1[0])
  inside = (
    (ys >= min(p0[1], cy - 0.5))
    & (ys <= max(p1[1], cy + 0.5))
    & (xs >= min(p0[0], cx - 0.5))
    & (xs <= max(p1[0], cx + 0.5))
  )
  return slice(r0, r1), slice(c0, c1), inside


def _draw(image, primitive, mask_out=None):
  kind, p0, p1, radius, colour = primitive
  height, width = image.shape[:2]
  if kind == "capsule":
    region = _capsule_mask(p0, p1, radius, height, width)
  else:
    region = _rect_mask(p0, p1, height, width)
  if region is None:
    return
  rows, cols, inside = region
  view = image[rows, cols]
  view[inside] = colour
  if mask_out is not None:
    mask_out[rows, cols] |= inside


def person_mask(track, t, height, width):
  """Pixels covered by the person's body (no object, not occluded by others).

  Returns:
    bool [height, width].
  """
  canvas = np.zeros((height, width, 3), np.uint8)
  mask = np.zeros((height, width), bool)
  body, _ = person_primitives(track, t)
  for primitive in body:
    _draw(canvas, primitive, mask)
  return mask


def render_background(scene, t):
  """The scrolled texture of frame t, floor darkened.

  Returns:
    uint8 [height, width, 3].
  """
  th, tw = scene.texture.shape[:2]
  dy, dx = np.round(scene.scroll[t]).astype(int)
  rows = (np.arange(scene.height) + dy) % th
  cols = (np.arange(scene.width) + dx) % tw
  frame = scene.texture[rows][:, cols].astype(np.float32)
  floor = int(round(scene.horizon))
  frame[floor:] *= _FLOOR_SHADE
  return frame.astype(np.uint8)


def depth_order(scene, t):
  """Person indices back to front in frame t (larger ground_y is nearer the camera)."""
  return sorted(
    range(len(scene.persons)),
    key=lambda i: (scene.persons[i].ground_y[t], scene.persons[i].person_id),
  )


def render_frame(scene, t):
  """Renders frame t of a scene.

  Returns:
    uint8 [height, width, 3] RGB.
  """
  frame = render_background(scene, t)
  for i in depth_order(scene, t):
    body, extras = person_primitives(scene.persons[i], t)
    for primitive in body + extras:
      _draw(frame, primitive)
  return frame


def render_video(scene):
  """Renders every frame of a scene and the per-frame person boxes.

  Returns:
    frames: uint8 [num_frames, height, width, 3] RGB.
    boxes_absolute: float64 [num_frames, num_persons, 4], [ymin, xmin, ymax, xmax] in pixels,
      not clipped (see labels.visible_box for the annotation rule).
  """
  frames = np.stack([render_frame(scene, t) for t in range(scene.num_frames)])
  boxes = np.array(
    [[person_box_absolute(p, t) for p in scene.persons] for t in range(scene.num_frames)]
  ).reshape(scene.num_frames, len(scene.persons), 4)
  return frames, boxes
