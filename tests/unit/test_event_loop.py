"""`stoppoc run`'s event loop: uvloop unless STOPPOC_EVENT_LOOP asks for Python's own."""

import asyncio

import pytest
import uvloop

from stoppoc.cli.runner import event_loop_factory
from stoppoc.shared.settings import Settings


def test_uvloop_by_default_and_pythons_own_loop_on_request():
    factory = event_loop_factory(Settings())
    assert factory is not None
    loop = factory()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
    assert event_loop_factory(Settings(event_loop="asyncio")) is None
    with asyncio.Runner(loop_factory=event_loop_factory(Settings(event_loop="asyncio"))) as runner:
        assert not isinstance(runner.get_loop(), uvloop.Loop)


def test_an_unknown_event_loop_is_refused():
    with pytest.raises(ValueError, match="event_loop"):
        Settings(event_loop="trio")
