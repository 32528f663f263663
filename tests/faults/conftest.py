import pytest

from tests.e2e.conftest import services  # noqa: F401 (the four services as processes, a fixture)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "faults: service processes under injected faults (kill -9, closed connections); in the default run"
    )
