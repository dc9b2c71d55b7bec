"""pytest settings of the training tests."""


def pytest_configure(config):
  config.addinivalue_line(
      "markers", "slow: takes more than ~30 s (several TensorFlow processes); "
      "deselect with -m 'not slow'")
