import pytest

from tests.e2e.processes import ServiceProcesses


@pytest.fixture
async def services(settings, tmp_path):
    """The four services as separate processes; all stopped (gracefully) after the test."""
    processes = ServiceProcesses(settings, tmp_path)
    yield processes
    codes = await processes.stop()
    assert all(code == 0 for code in codes.values()), f"unclean exits {codes}"
