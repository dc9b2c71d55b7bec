"""The class-prior baseline's action scores (ava_tx.eval.baselines)."""

import numpy as np

from ava_tx.eval import baselines


def test_class_prior_baseline_scores():
  scores = baselines.class_prior_baseline_scores([0.2, 0.9, 0.5], [0.5, 0.25])
  # Ranks of person scores: 1, 3, 2 out of 3.
  np.testing.assert_allclose(scores, [[1 / 6, 1 / 12], [1 / 2, 1 / 4], [1 / 3, 1 / 6]])
  tied = baselines.class_prior_baseline_scores([1.0] * 4, [1.0], seed=3)
  assert sorted(tied[:, 0].tolist()) == [0.25, 0.5, 0.75, 1.0]  # Ties broken, seeded.
  np.testing.assert_array_equal(
    tied, baselines.class_prior_baseline_scores([1.0] * 4, [1.0], seed=3)
  )
