"""Registers the `slow` marker (also in pyproject.toml) so `-m slow` / `-m "not slow"` select the
overfit tests even when pytest runs without the project's configuration."""


def pytest_configure(config):
  config.addinivalue_line(
      "markers", "slow: tests that take more than ~20 s on 2 CPU cores (still run in CI)")
