"""A SIGTERM that reaches `stoppoc run` while it is still starting (importing, before any service
consumes) ends it with exit code 0, as a SIGTERM later does: an orchestrator that stops a pod at
once after starting it sees a clean exit, not a process ended by the signal."""

import signal
import subprocess
import sys
import time

import pytest

from tests.cli import environment

pytestmark = pytest.mark.integration

SIGTERM_BIT = 1 << (signal.SIGTERM - 1)


def catches_sigterm(pid: int) -> bool:
    """Whether the process has a handler for SIGTERM (Linux: the caught-signals mask)."""
    with open(f"/proc/{pid}/status") as status:
        caught = next(line for line in status if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) & SIGTERM_BIT)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigterm_while_starting_exits_0_before_any_service_starts(settings):
    process = subprocess.Popen(
        [sys.executable, "-m", "stoppoc.cli", "run", "notifier", "--no-migrate"],
        env={**environment(settings), "STOPPOC_LOG_LEVEL": "INFO"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not catches_sigterm(process.pid):  # the first handler is the one installed at import
            assert process.poll() is None and time.monotonic() < deadline, "no SIGTERM handler installed"
            time.sleep(0.001)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        process.kill()

    assert process.returncode == 0, output.decode()[-2000:]
    assert b"service started" not in output  # it was stopped while importing, not after starting
