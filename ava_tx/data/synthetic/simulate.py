"""Behaviour simulation: random but seeded schedules of what each person does in each frame.

Phase 1 gives every person a sequence of body activities (segments of at least 2 s, except the
sit-down / get-up transitions) and integrates position, stance and posture per frame. Phase 2,
which needs everyone's positions, adds conversations (turn-taking talk while facing each
other), watching (head kept toward one person), glances (short head turns), hand waves and
look-alike distractors: static raised arms, static open mouths, static leg stances and torso
leans, and background objects that look like the carried ones. The distractors are what make a
single frame ambiguous (see docs/SYNTHETIC_DATA.md).
"""

import math

import numpy as np

from ava_tx.data.synthetic import scene as scene_lib

Activity = scene_lib.Activity

_OBJECT_PALETTE = np.array(
  [[250, 200, 20], [240, 60, 200], [30, 230, 230], [250, 120, 30]], np.uint8
)
_SKIN_TONES = np.array(
  [[255, 220, 185], [230, 180, 140], [190, 135, 95], [140, 95, 60], [95, 65, 45]], np.float64
)


def _uniform(rng, lo, hi):
  return float(rng.uniform(lo, hi))


def _frames(seconds, fps):
  return max(1, int(round(seconds * fps)))


def _smoothstep(u):
  u = np.clip(u, 0.0, 1.0)
  return u * u * (3 - 2 * u)


def _random_colour(rng, lo=40, hi=235):
  return rng.integers(lo, hi, size=3).astype(np.uint8)


def _make_texture(rng, height, width, num_objects, object_size):
  """Periodic texture [2*height, 2*width, 3] uint8: smooth colour noise, stripes, objects."""
  th, tw = 2 * height, 2 * width
  grid = rng.uniform(60, 190, size=(6, 8, 3))
  ys = np.arange(th) * grid.shape[0] / th
  xs = np.arange(tw) * grid.shape[1] / tw
  y0 = np.floor(ys).astype(int)
  x0 = np.floor(xs).astype(int)
  fy = (ys - y0)[:, None, None]
  fx = (xs - x0)[None, :, None]
  y1 = (y0 + 1) % grid.shape[0]
  x1 = (x0 + 1) % grid.shape[1]
  tex = (
    (1 - fy) * (1 - fx) * grid[y0][:, x0]
    + (1 - fy) * fx * grid[y0][:, x1]
    + fy * (1 - fx) * grid[y1][:, x0]
    + fy * fx * grid[y1][:, x1]
  )
  # Stripes with a whole number of periods across the texture keep it periodic.
  ky, kx = rng.integers(1, 6), rng.integers(2, 12)
  stripes = np.sin(2 * np.pi * (ky * np.arange(th)[:, None] / th + kx * np.arange(tw)[None] / tw))
  tex += 25.0 * stripes[..., None] * rng.uniform(0.3, 1.0, size=3)
  tex += rng.normal(0, 4.0, size=tex.shape)
  tex = np.clip(tex, 0, 255).astype(np.uint8)
  for _ in range(num_objects):
    size = max(2, int(round(object_size * rng.uniform(0.7, 1.3))))
    y, x = rng.integers(0, th - size), rng.integers(0, tw - size)
    tex[y : y + size, x : x + size] = _OBJECT_PALETTE[rng.integers(len(_OBJECT_PALETTE))]
  return tex


class _Body:
  """Phase-1 integrator of one person's body state."""

  def __init__(self, rng, num_frames, fps, x, body_dir, height):
    self.rng, self.fps, self.height = rng, fps, height
    self.t = 0
    self.x, self.dir, self.phase = x, body_dir, 0.0
    n = num_frames
    self.arrays = dict(
      x=np.zeros(n),
      jump=np.zeros(n),
      body_dir=np.zeros(n, np.int8),
      sit=np.zeros(n),
      tilt=np.zeros(n),
      leg_swing=np.zeros(n),
      arm_swing=np.zeros(n),
      activity=np.zeros(n, np.int8),
    )

  @property
  def done(self):
    return self.t >= len(self.arrays["x"])

  def _emit(self, activity, *, jump=0.0, sit=0.0, tilt=0.0, leg=0.0, arm=0.0):
    if self.done:
      return
    a, t = self.arrays, self.t
    a["x"][t], a["jump"][t], a["body_dir"][t], a["sit"][t] = self.x, jump, self.dir, sit
    a["tilt"][t], a["leg_swing"][t], a["arm_swing"][t], a["activity"][t] = tilt, leg, arm, activity
    self.t += 1

  def stand(self, seconds, *, lean=None):
    rng = self.rng
    if lean is None:
      lean = _uniform(rng, 0.1, 1.1) if rng.random() < 0.3 else 0.0
    stance, arm = _uniform(rng, -0.6, 0.6), _uniform(rng, -0.3, 0.3)
    for _ in range(_frames(seconds, self.fps)):
      self._emit(Activity.STAND, tilt=lean, leg=stance, arm=arm)

  def locomote(self, seconds, *, run, direction):
    rng = self.rng
    self.dir = direction
    speed = (_uniform(rng, 1.3, 2.0) if run else _uniform(rng, 0.45, 0.75)) * self.height
    cadence, amplitude = (1.5, 0.6) if run else (0.9, 0.35)
    for _ in range(_frames(seconds, self.fps)):
      self.x += direction * speed / self.fps
      self.phase += 2 * math.pi * cadence / self.fps
      leg = amplitude * math.sin(self.phase)
      self._emit(
        Activity.RUN if run else Activity.WALK,
        tilt=0.15 if run else 0.0,
        leg=leg,
        arm=(0.9 if run else 0.6) * leg,
      )

  def jump(self, seconds):
    rng = self.rng
    airborne, grounded = _frames(0.45, self.fps), _frames(0.25, self.fps)
    peak = _uniform(rng, 0.12, 0.25) * self.height
    speed = _uniform(rng, 0.0, 0.25) * self.height
    n = _frames(seconds, self.fps)
    for i in range(n):
      u = (i % (airborne + grounded)) / airborne
      lift = 4 * peak * u * (1 - u) if u < 1 else 0.0
      self.x += self.dir * speed / self.fps
      self._emit(Activity.JUMP, jump=lift, leg=0.1, arm=-0.2)

  def bow(self, hold_seconds):
    rng = self.rng
    depth = _uniform(rng, 0.8, 1.2)
    ramp, hold = _frames(0.5, self.fps), _frames(hold_seconds, self.fps)
    profile = np.concatenate(
      [
        _smoothstep(np.arange(1, ramp + 1) / ramp),
        np.ones(hold),
        _smoothstep(np.arange(ramp - 1, -1, -1) / ramp),
      ]
    )
    for value in profile:
      self._emit(Activity.BOW, tilt=depth * value, leg=0.1)

  def sit_down(self, seconds):
    n = _frames(seconds, self.fps)
    for value in _smoothstep(np.arange(1, n + 1) / n):
      self._emit(Activity.SIT_DOWN, sit=value)

  def seated(self, seconds):
    lean = _uniform(self.rng, 0.0, 0.2)
    for _ in range(_frames(seconds, self.fps)):
      self._emit(Activity.SEATED, sit=1.0, tilt=lean)

  def get_up(self, seconds):
    n = _frames(seconds, self.fps)
    for value in _smoothstep(np.arange(n - 1, -1, -1) / n):
      self._emit(Activity.GET_UP, sit=value)


def _simulate_body(rng, body, width, entering):
  """Fills `body` with a random activity schedule until the video ends."""
  if entering:
    # Wait off-screen, then come in walking or running.
    side = -1 if body.x < 0 else 1
    body.stand(_uniform(rng, 0.0, 0.6) * len(body.arrays["x"]) / body.fps, lean=0.0)
    run = rng.random() < 0.3
    distance = abs(body.x - (width / 2 + side * _uniform(rng, 0.0, 0.35) * width))
    speed = (1.6 if run else 0.6) * body.height
    body.locomote(max(2.0, distance / speed), run=run, direction=-side)
  elif rng.random() < 0.2:
    body.seated(_uniform(rng, 2.0, 5.0))
    body.get_up(_uniform(rng, 0.6, 1.0))
  choices = ("stand", "walk", "run", "jump", "bow", "sit")
  weights = np.array([0.22, 0.22, 0.13, 0.13, 0.14, 0.16])
  while not body.done:
    choice = choices[rng.choice(len(choices), p=weights)]
    if choice == "stand":
      if rng.random() < 0.3:
        body.dir = -body.dir
      body.stand(_uniform(rng, 2.0, 4.0))
    elif choice in ("walk", "run"):
      # Mostly head for the middle; sometimes walk out of the picture.
      towards_middle = 1 if body.x < width / 2 else -1
      stay = 0.7 if choice == "walk" else 0.85
      direction = towards_middle if rng.random() < stay else -towards_middle
      body.locomote(
        _uniform(rng, 2.0, 4.0 if choice == "walk" else 2.5),
        run=choice == "run",
        direction=direction,
      )
    elif choice == "jump":
      body.jump(_uniform(rng, 2.0, 3.0))
    elif choice == "bow":
      body.bow(_uniform(rng, 0.3, 0.8))
    else:
      body.sit_down(_uniform(rng, 0.6, 1.0))
      body.seated(_uniform(rng, 2.0, 5.0))
      body.get_up(_uniform(rng, 0.6, 1.0))
      body.stand(_uniform(rng, 2.0, 3.0))


def _random_interval(rng, num_frames, fps, lo_s, hi_s):
  length = min(num_frames, _frames(_uniform(rng, lo_s, hi_s), fps))
  start = int(rng.integers(0, num_frames - length + 1))
  return start, start + length


def _talk_mouth(rng, length, fps):
  """Mouth opening while talking: syllables at 3-4.5 Hz, closed for half of each cycle."""
  freq = _uniform(rng, 3.0, 4.5)
  phase = 2 * math.pi * freq * np.arange(length) / fps + _uniform(rng, 0, 2 * math.pi)
  cycles = np.floor(phase / (2 * math.pi)).astype(int)
  amplitude = rng.uniform(0.5, 1.0, size=cycles.max() - cycles.min() + 1)[cycles - cycles.min()]
  return amplitude * np.maximum(0.0, np.sin(phase))


def _add_overlays(rng, persons, fps, num_frames):
  """Phase 2: head direction, talking, waving, raised arms, mouths, held objects."""
  positions = np.stack([p.x for p in persons])  # [num_persons, num_frames]
  onscreen = np.stack([p.visible_hint for p in persons])
  in_conversation = np.zeros((len(persons), num_frames), bool)  # The head is led by it.
  for p in persons:
    _add_own_gestures(rng, p, fps, num_frames)
  _add_watching(rng, persons, positions, onscreen, fps, num_frames)
  _add_conversations(rng, persons, positions, onscreen, in_conversation, fps, num_frames)
  _add_talking_alone(rng, persons, in_conversation, fps, num_frames)


def _add_own_gestures(rng, p, fps, num_frames):
  """What one person does regardless of the others: holding an object, glances, an open
  mouth, raised hands and hand waves."""
  p.holding[:] = rng.random() < 0.35
  # Glances: short head turns (0.3-0.8 s), about one every 4 s.
  for _ in range(rng.poisson(num_frames / fps / 4.0)):
    a, b = _random_interval(rng, num_frames, fps, 0.3, 0.8)
    p.head_dir[a:b] = -p.body_dir[a:b]
  # Static open mouths (not talking) about a quarter of the time.
  for _ in range(rng.poisson(num_frames / fps / 6.0)):
    a, b = _random_interval(rng, num_frames, fps, 1.0, 3.0)
    p.mouth[a:b] = _uniform(rng, 0.3, 1.0)
  # Static raised hands (about one every 12 s), then hand waves, which take precedence.
  num_raises = rng.poisson(num_frames / fps / 12.0)
  for waving in [False] * num_raises + [True] * int(rng.random() < 0.4):
    a, b = _random_interval(rng, num_frames, fps, 1.5, 3.5)
    ramp = np.minimum(np.arange(b - a) + 1, np.arange(b - a, 0, -1)) / _frames(0.2, fps)
    p.arm_raise[a:b] = np.minimum(ramp, 1.0)
    if waving:
      freq = _uniform(rng, 2.0, 3.0)
      p.forearm[a:b] = 0.9 + 0.5 * np.sin(2 * math.pi * freq * np.arange(b - a) / fps)
    else:
      p.forearm[a:b] = _uniform(rng, 0.4, 1.4)
    p.waving[a:b] = waving


def _face(person, positions, me, other, a, b):
  """Turns person `me`'s head toward person `other` over frames [a, b)."""
  toward = np.sign(positions[other, a:b] - positions[me, a:b]).astype(np.int8)
  person.head_dir[a:b] = np.where(toward == 0, person.head_dir[a:b], toward)


def _add_watching(rng, persons, positions, onscreen, fps, num_frames):
  """Watching: keep the head toward one on-screen person for 2.5-5 s."""
  for i, p in enumerate(persons):
    for _ in range(rng.poisson(num_frames / fps / 6.0)):
      a, b = _random_interval(rng, num_frames, fps, 2.5, 5.0)
      others = [j for j in range(len(persons)) if j != i and onscreen[j, a]]
      if not others:
        continue
      _face(p, positions, i, others[int(rng.integers(len(others)))], a, b)


def _add_conversations(rng, persons, positions, onscreen, in_conversation, fps, num_frames):
  """Two nearby people face each other and (mostly) take turns talking."""
  n = len(persons)
  for _ in range(rng.poisson(max(1.0, n * num_frames / fps / 12.0))):
    a, b = _random_interval(rng, num_frames, fps, 3.0, 7.0)
    i = int(rng.integers(n))
    others = [
      j for j in range(n) if j != i and onscreen[j, a] and not in_conversation[j, a:b].any()
    ]
    if in_conversation[i, a:b].any() or not others or not onscreen[i, a]:
      continue
    j = min(others, key=lambda j: abs(positions[j, a] - positions[i, a]))
    for me, other in ((i, j), (j, i)):
      _face(persons[me], positions, me, other, a, b)
      in_conversation[me, a:b] = True
    if rng.random() < 0.2:
      continue  # A silent exchange of looks.
    speaker, t = (i, j)[int(rng.integers(2))], a
    while t < b:
      length = min(b - t, _frames(_uniform(rng, 1.0, 2.5), fps))
      persons[speaker].talking[t : t + length] = True
      persons[speaker].mouth[t : t + length] = _talk_mouth(rng, length, fps)
      t += length + _frames(_uniform(rng, 0.15, 0.6), fps)
      speaker = j if speaker == i else i


def _add_talking_alone(rng, persons, in_conversation, fps, num_frames):
  """Talking to oneself (no one faced, or whoever happens to be faced)."""
  for i, p in enumerate(persons):
    if rng.random() < 0.15:
      a, b = _random_interval(rng, num_frames, fps, 1.5, 3.0)
      if not in_conversation[i, a:b].any():
        p.talking[a:b] = True
        p.mouth[a:b] = _talk_mouth(rng, b - a, fps)


def simulate_scene(rng, *, width, height, fps, num_frames):
  """Simulates one video.

  Args:
    rng: np.random.Generator; the scene is a deterministic function of its state.
    width, height: frame size in pixels.
    fps: frames per second.
    num_frames: number of frames.

  Returns:
    scene.Scene.
  """
  horizon = height * _uniform(rng, 0.3, 0.45)
  speed = _uniform(rng, 4.0, 12.0) * width / 160.0
  angle = _uniform(rng, 0, 2 * math.pi)
  velocity = np.array([math.sin(angle), math.cos(angle)]) * speed / fps
  scroll = np.arange(num_frames)[:, None] * velocity[None, :]
  texture = _make_texture(
    rng, height, width, num_objects=int(rng.integers(4, 10)), object_size=0.14 * 0.6 * height
  )
  num_initial, num_entering = int(rng.integers(3, 6)), int(rng.integers(0, 3))
  persons = [
    _simulate_person(
      rng,
      pid,
      entering=pid >= num_initial,
      horizon=horizon,
      width=width,
      height=height,
      fps=fps,
      num_frames=num_frames,
    )
    for pid in range(num_initial + num_entering)
  ]
  _add_overlays(rng, persons, fps, num_frames)
  for p in persons:
    del p.visible_hint
  return scene_lib.Scene(
    width=width,
    height=height,
    fps=fps,
    num_frames=num_frames,
    texture=texture,
    scroll=scroll,
    horizon=horizon,
    persons=persons,
  )


def _simulate_person(rng, pid, *, entering, horizon, width, height, fps, num_frames):
  """One person's track: size and ground line, where they start (off screen if `entering`),
  their movement (_simulate_body) and appearance. Sets `visible_hint`, a rough on-screen test
  for choosing partners (the labels use the exact box rule)."""
  person_height = _uniform(rng, 0.35, 0.8) * height
  ground_y = (
    horizon + (person_height / (0.8 * height)) * (0.97 * height - horizon) + _uniform(rng, -3, 3)
  )
  if entering:
    side = -1 if rng.random() < 0.5 else 1
    x = width / 2 + side * (width / 2 + 0.6 * person_height)
  else:
    x = _uniform(rng, 0.1, 0.9) * width
  body = _Body(rng, num_frames, fps, x, int(rng.choice([-1, 1])), person_height)
  _simulate_body(rng, body, width, entering)
  skin = np.clip(_SKIN_TONES[rng.integers(len(_SKIN_TONES))] + rng.normal(0, 8, 3), 0, 255)
  appearance = scene_lib.Appearance(
    height=person_height,
    skin=skin.astype(np.uint8),
    shirt=_random_colour(rng),
    pants=_random_colour(rng, 20, 160),
    object_colour=_OBJECT_PALETTE[rng.integers(len(_OBJECT_PALETTE))],
  )
  track = scene_lib.PersonTrack.still(pid, appearance, num_frames, x=0.0, ground_y=ground_y)
  for name, values in body.arrays.items():
    getattr(track, name)[:] = values
  track.head_dir[:] = track.body_dir
  track.visible_hint = (track.x > 0.1 * person_height) & (track.x < width - 0.1 * person_height)
  return track
