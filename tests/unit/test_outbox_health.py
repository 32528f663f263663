"""Readiness asks the outbox relay whether it runs and is not stuck in a round."""

import asyncio
import contextlib

from stoppoc.shared import outbox
from stoppoc.shared.outbox import OutboxRelay
from stoppoc.shared.topology import Names
from tests.contract_data import wait_until


class HangingPool:
    """A database that never hands out a connection: the relay's round never ends."""

    @contextlib.asynccontextmanager
    async def acquire(self):
        await asyncio.Event().wait()
        yield


def relay() -> OutboxRelay:
    return OutboxRelay(HangingPool(), None, Names("test"), 0.1, "payment")  # type: ignore[arg-type]


async def test_a_relay_not_started_or_stopped_is_not_ready():
    stopped = relay()
    assert stopped.health() == {"ok": False, "detail": "the outbox relay is not running"}


async def test_a_relay_stuck_in_a_round_is_not_ready(monkeypatch):
    monkeypatch.setattr(outbox, "STUCK_AFTER_SECONDS", 0.2)
    stuck = relay()
    stuck.start()
    try:
        assert stuck.health() == {"ok": True}  # a round just began

        async def reported_stuck() -> bool:
            return not stuck.health()["ok"]

        await wait_until(reported_stuck, timeout=5, what="reported stuck")
        assert "has not finished a round for" in stuck.health()["detail"]
    finally:
        await stuck.stop(timeout=0.1)  # gives up on the hung round
    assert stuck.health() == {"ok": False, "detail": "the outbox relay is not running"}
