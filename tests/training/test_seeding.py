"""train_config.seed: two short trainings with the same seed are identical, other seeds differ."""

import numpy as np
import pytest

from ava_tx import model_lib
from ava_tx.core import errors
from ava_tx.core.tf_setup import keras, tf
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
  result = model_lib.train(pipeline_config_path=str(path), model_dir=str(tmp_path / name),
                           record_summaries=False,
                           step_hooks=[lambda step, step_losses: losses.append(step_losses)])
  reader = tf.train.load_checkpoint(result.checkpoint_path)
  weights = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
             if name.startswith("model/") and name.endswith("VARIABLE_VALUE")}
  return losses, weights


@pytest.mark.slow
def test_same_seed_same_run_other_seed_other_run(tmp_path):
  data = tiny_dataset.write_dataset(tmp_path / "data")
  tiny_dataset.convert(data, tmp_path / "shards")
  losses_a, weights_a = _train(tmp_path, data, "a", seed=7)
  losses_b, weights_b = _train(tmp_path, data, "b", seed=7)
  losses_c, weights_c = _train(tmp_path, data, "c", seed=8)

  assert len(losses_a) == 3 and losses_a == losses_b  # Exactly equal, every loss of every step.
  assert weights_a.keys() == weights_b.keys() == weights_c.keys() and len(weights_a) > 20
  for name in weights_a:
    np.testing.assert_array_equal(weights_a[name], weights_b[name], err_msg=name)
  assert losses_c[0]["Loss/total_loss"] != losses_a[0]["Loss/total_loss"]
  differing = [n for n in weights_a if not np.array_equal(weights_a[n], weights_c[n])]
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
