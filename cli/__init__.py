"""The ``stoppoc`` command: runs the services and gives staff, operators and analysts their tools.

One module per command group; each reads a service's data through that service's own queries.
No service imports this package.
"""

import signal
import sys
from types import FrameType


def _stop_while_starting(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


if sys.argv[1:2] == ["run"]:
    # Told to stop while still starting (importing, before it consumes anything), `stoppoc run`
    # has nothing in hand: it exits 0 at once, where Python's default would end it by the signal.
    # The services' own handler (cli/runner.py) takes over once they start.
    signal.signal(signal.SIGTERM, _stop_while_starting)

from stoppoc.cli.main import main  # noqa: E402 (after the handler: importing takes a second)

__all__ = ["main"]
