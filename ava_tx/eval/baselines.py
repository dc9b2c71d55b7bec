"""Baselines that keep the model's boxes but know nothing about actions (pure NumPy).

They answer "how much of the mAP is the boxes alone?": the evaluator scores every box of the
model with the baseline's action scores and evaluates them exactly like the model's.
"""

import numpy as np


def class_prior_baseline_scores(
  person_scores: np.ndarray, class_priors: np.ndarray, *, seed: int = 0
) -> np.ndarray:
  """Action scores of the class-prior baseline for a set of detection boxes.

  The baseline keeps the model's boxes but knows nothing about actions: the score of box b
  for class c is prior(c) * q(b), where q(b) in (0, 1] is the rank of b's person score among
  all boxes divided by the number of boxes, ties in person score broken by a seeded random
  order. Per class, boxes are thus ranked by person confidence (ties at random, i.e. an
  unbiased "no information" order); across classes of one keyframe, frequent classes come
  first, which is what decides the rows that survive the 50-per-keyframe cap.

  Args:
    person_scores: float [num_boxes], the detector's person (objectness) scores of all boxes
      of the evaluated set, concatenated.
    class_priors: float [num_classes], class frequencies (e.g. ground-truth rows per class
      divided by ground-truth boxes).

  Returns:
    float64 [num_boxes, num_classes].
  """
  person_scores = np.asarray(person_scores, np.float64).reshape(-1)
  class_priors = np.asarray(class_priors, np.float64).reshape(-1)
  n = person_scores.shape[0]
  tiebreak = np.random.default_rng(seed).permutation(n)
  order = np.lexsort((tiebreak, person_scores))  # ascending by score, then random.
  rank = np.empty(n, np.float64)
  rank[order] = np.arange(1, n + 1, dtype=np.float64)
  return (rank / max(n, 1))[:, None] * class_priors[None, :]
