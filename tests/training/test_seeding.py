"""train_config.seed: two short trainings with the same seed are identical, other seeds differ."""

import numpy as np
import pytest

from ava_tx import model_lib
from ava_tx.core import errors
from ava_tx.core.tf_setup import keras
from ava_tx.core.tf_setup import tf
from ava_tx.training import seeding
from tests.experiments import tiny_dataset


def _train(tmp_path, data, name, seed):
  config = tiny_dataset.tiny_config()
  config.train_config.seed = seed
  config.train_config.num_steps = config.train_config.checkpoint_every_n_steps = 3
  config.train_config.warmup_steps = 1
  config.train_input_reader.input_path[:] = [str(tmp_path / "shards" / "train-?????-of-?????")]
  config.train_input_reader.label_map_path = str(data / "label_map.pbtxt")
  path = tiny_dataset.write_config(config, tmp_path / f"{name}.config")
  keras.backend.clear_session()
  losses = []
  result = model_lib.train(
    pipeline_config_path=str(path),
    model_dir=str(tmp_path / name),
    record_summaries=False,
    step_hooks=[lambda step, step_losses: losses.append(step_losses)],
  )
  reader = tf.train.load_checkpoint(result.checkpoint_path)
  weights = {
    name: reader.get_tensor(name)
    for name in reader.get_variable_to_shape_map()
    if name.startswith("model/") and name.endswith("VARIABLE_VALUE")
  }
  return losses, weights


@pytest.mark.slow
def test_same_seed_same_run_other_seed_other_run(tmp_path, run_cache_dir):
  data = tiny_dataset.write_dataset(tmp_path / "data", run_cache_dir)
  tiny_dataset.convert(data, tmp_path / "shards", run_cache_dir)
  losses_a, weights_a = _train(tmp_path, data, "a", seed=7)
  losses_b, weights_b = _train(tmp_path, data, "b", seed=7)
  losses_c, weights_c = _train(tmp_path, data, "c", seed=8)

  # The seed fixes the initial weights, the data order, dropout and RoI sampling, so the first
  # step's losses are exactly equal. Later steps agree to float rounding only: without
  # deterministic_ops, multithreaded CPU reductions may sum in another order (CI measured
  # differences of 6e-10 absolute in a batch-norm offset after 3 steps).
  assert len(losses_a) == len(losses_b) == 3 and losses_a[0] == losses_b[0]
  for step_a, step_b in zip(losses_a, losses_b):
    assert step_a.keys() == step_b.keys()
    for key in step_a:
      assert step_a[key] == pytest.approx(step_b[key], rel=1e-5, abs=1e-7), key
  assert weights_a.keys() == weights_b.keys() == weights_c.keys() and len(weights_a) > 20
  # Within 1% of each variable's largest magnitude: three steps of updates that differ only by
  # summation order (a full run of the suite measured 9e-6 in a bias whose largest value is 2e-3).
  # The floor of 1e-6: the Tx key projections' biases start at 0 and get no gradient (a softmax
  # ignores a shift of all its logits), so they hold only rounding noise (a loaded run measured
  # values of 1e-11 differing by 1e-11 between the two same-seed runs).
  close = lambda a, b: np.allclose(a, b, rtol=0.0, atol=1e-2 * max(np.abs(a).max(), 1e-6))
  for name in weights_a:
    assert close(weights_a[name], weights_b[name]), name
  # Another seed: other initial weights, so nearly every variable differs by far more than that.
  assert losses_c[0]["Loss/total_loss"] != pytest.approx(losses_a[0]["Loss/total_loss"], rel=1e-4)
  differing = [n for n in weights_a if not close(weights_a[n], weights_c[n])]
  assert len(differing) > len(weights_a) // 2


def test_seed_must_be_positive():
  with pytest.raises(errors.InputError, match="train_config.seed"):
    seeding.seed_everything(0)


def test_seed_everything_fixes_python_numpy_and_tensorflow_draws():
  import random

  draws = []
  for _ in range(2):
    seeding.seed_everything(5)
    draws.append((random.random(), np.random.rand(), float(tf.random.uniform([]))))
  assert draws[0] == draws[1]
