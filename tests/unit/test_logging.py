"""Log lines: a library's error logged through the standard library keeps its traceback, and
every line names its logger and carries the trace and correlation ids bound for it."""

import io
import json
import logging

import structlog

from stoppoc.shared.logging import configure, get_logger


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_library_error_keeps_its_traceback_and_every_line_names_its_logger():
    stream = io.StringIO()
    configure("INFO", stream=stream)
    try:
        raise ConnectionResetError("peer went away")
    except ConnectionResetError:
        logging.getLogger("asyncpg.pool").error("read failed", exc_info=True)
    structlog.contextvars.bind_contextvars(trace_id="4bf92f3577b34da6a3ce929d0e0e4736", correlation_id="request-1")
    try:
        get_logger("stoppoc.outbox", service="payment").info("published")
    finally:
        structlog.contextvars.clear_contextvars()

    library, ours = lines(stream)
    assert library["logger"] == "asyncpg.pool"
    assert "Traceback" in library["exception"] and "ConnectionResetError: peer went away" in library["exception"]
    assert ours["logger"] == "stoppoc.outbox"
    assert (ours["service"], ours["trace_id"], ours["correlation_id"]) == (
        "payment",
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "request-1",
    )
    assert "logger_name" not in ours
