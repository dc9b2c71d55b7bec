"""The AVA classes the synthetic dataset uses, with their real AVA ids, names and types.

Copied at design time from AVA's v2.x label list (label_id, label_name, label_type, as the AVA
download's CSV label list has them); tests/data/test_synth_ava.py compares them with a copy of
that list when one is available. Written out here so the package needs no AVA file at run time.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class SyntheticClass:
  """One AVA class used by the generator.

  Attributes:
    id: AVA label id (1-based, as in the AVA CSVs).
    name: AVA label name, verbatim.
    label_type: AVA group: PERSON_MOVEMENT, OBJECT_MANIPULATION or PERSON_INTERACTION.
  """

  id: int
  name: str
  label_type: str


BEND_BOW = SyntheticClass(1, "bend/bow (at the waist)", "PERSON_MOVEMENT")
JUMP_LEAP = SyntheticClass(7, "jump/leap", "PERSON_MOVEMENT")
RUN_JOG = SyntheticClass(10, "run/jog", "PERSON_MOVEMENT")
SIT = SyntheticClass(11, "sit", "PERSON_MOVEMENT")
STAND = SyntheticClass(12, "stand", "PERSON_MOVEMENT")
WALK = SyntheticClass(14, "walk", "PERSON_MOVEMENT")
CARRY_HOLD = SyntheticClass(17, "carry/hold (an object)", "OBJECT_MANIPULATION")
HAND_WAVE = SyntheticClass(69, "hand wave", "PERSON_INTERACTION")
LISTEN_TO_PERSON = SyntheticClass(74, "listen to (a person)", "PERSON_INTERACTION")
TALK_TO = SyntheticClass(79, "talk to (e.g., self, a person, a group)", "PERSON_INTERACTION")
WATCH_PERSON = SyntheticClass(80, "watch (a person)", "PERSON_INTERACTION")

SYNTHETIC_CLASSES = (
  BEND_BOW,
  JUMP_LEAP,
  RUN_JOG,
  SIT,
  STAND,
  WALK,
  CARRY_HOLD,
  HAND_WAVE,
  LISTEN_TO_PERSON,
  TALK_TO,
  WATCH_PERSON,
)
"""All classes the generator can emit, sorted by AVA id. The label map written lists these."""

POSE_CLASSES = (BEND_BOW, JUMP_LEAP, RUN_JOG, SIT, STAND, WALK)
"""Mutually exclusive pose classes: every annotated person has exactly one (as in AVA)."""

CLASS_BY_ID = {c.id: c for c in SYNTHETIC_CLASSES}


def label_map_pbtxt(classes=SYNTHETIC_CLASSES):
  """Returns label-map text in the ActivityNet evaluation layout `item { name: "..." id: N }`.

  Args:
    classes: iterable of SyntheticClass, written in id order.

  Returns:
    str, ending in a newline.
  """
  blocks = []
  for c in sorted(classes, key=lambda c: c.id):
    blocks.append('item {\n  name: "%s"\n  id: %d\n}\n' % (c.name, c.id))
  return "".join(blocks)
