"""Single-frame cue statistics: how well the keyframe alone could predict each class.

For every annotated person the keyframe state gives a visible cue (mouth open, arm raised,
someone faced, ...). Comparing P(cue | class) with P(cue | other persons in the same situation)
shows how ambiguous a single frame is; docs/SYNTHETIC_DATA.md reports these for the defaults.
"""

import collections

from ava_tx.data.synthetic import classes
from ava_tx.data.synthetic import scene as scene_lib

MOUTH_OPEN = 0.25  # Mouth opening above which a frame shows an open mouth.

Activity = scene_lib.Activity

# name -> (class, cue description, population description)
CUES = {
    "talk": (classes.TALK_TO, "own mouth open", "persons facing someone"),
    "listen": (classes.LISTEN_TO_PERSON, "faced person's mouth open", "persons facing someone"),
    "watch": (classes.WATCH_PERSON, "someone faced at the keyframe", "all persons"),
    "wave": (classes.HAND_WAVE, "front arm raised", "all persons"),
    "walk": (classes.WALK, "legs apart (|thigh angle| > 0.15 rad)", "walking or standing"),
    "run": (classes.RUN_JOG, "legs wide apart (|thigh angle| > 0.35 rad)",
            "running, walking or standing"),
    "bow": (classes.BEND_BOW, "torso tilted (> 0.3 rad)", "bowing or standing"),
    "sit": (classes.SIT, "half seated (0 < sit < 1)", "sitting down or getting up"),
}


def person_cues(geometry, i, k, action_ids):
  """{cue name: (in_population, has_cue, is_positive)} for visible person i at keyframe k."""
  p = geometry.scene.persons[i]
  act = Activity(int(p.activity[k]))
  faced = geometry.faced(i, k)
  faced_open = faced >= 0 and geometry.scene.persons[faced].mouth[k] > MOUTH_OPEN
  upright = act in (Activity.STAND, Activity.WALK)
  swing = abs(p.leg_swing[k])
  out = {
      "talk": (faced >= 0, p.mouth[k] > MOUTH_OPEN),
      "listen": (faced >= 0, faced_open),
      "watch": (True, faced >= 0),
      "wave": (True, p.arm_raise[k] >= 0.5),
      "walk": (upright, swing > 0.15),
      "run": (upright or act == Activity.RUN, swing > 0.35),
      "bow": (act in (Activity.STAND, Activity.BOW), p.tilt[k] > 0.3),
      "sit": (act in (Activity.SIT_DOWN, Activity.GET_UP), 0 < p.sit[k] < 1),
  }
  return {name: (pop, bool(cue), CUES[name][0].id in action_ids)
          for name, (pop, cue) in out.items()}


class CueCounter:
  """Accumulates person_cues results into P(cue | positive) and P(cue | negative)."""

  def __init__(self):
    self.counts = collections.defaultdict(lambda: [0, 0, 0, 0])  # pos, pos&cue, neg, neg&cue

  def add(self, cues):
    for name, (in_population, cue, positive) in cues.items():
      if not in_population:
        continue
      c = self.counts[name]
      c[0 if positive else 2] += 1
      c[1 if positive else 3] += int(cue)

  def merge(self, other):
    for name, values in other.counts.items():
      self.counts[name] = [a + b for a, b in zip(self.counts[name], values)]

  def table(self):
    """Rows (name, class, cue, population, num_pos, P(cue|pos), num_neg, P(cue|neg))."""
    rows = []
    for name, (cls, cue, population) in CUES.items():
      pos, pos_cue, neg, neg_cue = self.counts[name]
      rows.append((name, cls, cue, population, pos, pos_cue / pos if pos else float("nan"),
                   neg, neg_cue / neg if neg else float("nan")))
    return rows
