"""structlog set-up: JSON lines when not on a terminal, the console renderer on one.

Handlers bind ``message_id``, ``correlation_id`` and ``trace_id`` with ``bind_contextvars`` so
that every line logged while a message is handled carries them; the outbox relay and the periodic
tasks bind theirs too. Every line names its logger (``logger``): ``stoppoc.…`` for the project's
own lines, the library's logger name (``aiormq.connection``, ``asyncpg.pool``) for the others,
whose tracebacks are rendered like the project's.
"""

import logging
import sys
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor


def configure(level: str = "INFO", *, stream: TextIO | None = None) -> None:
    stream = stream or sys.stderr
    renderer: Processor = structlog.dev.ConsoleRenderer() if stream.isatty() else structlog.processors.JSONRenderer()
    shared_processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    # The console renderer prints tracebacks itself; JSON needs them as a string field.
    tracebacks: list[Processor] = [] if stream.isatty() else [structlog.processors.format_exc_info]
    structlog.configure(
        processors=[
            *shared_processors,
            _project_logger_name,
            structlog.processors.StackInfoRenderer(),
            *tracebacks,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    # Libraries (aiormq, aio-pika, asyncpg) log through the standard library: same format.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=renderer,
            foreign_pre_chain=[
                *shared_processors,
                structlog.stdlib.add_logger_name,
                structlog.processors.StackInfoRenderer(),
                *tracebacks,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiormq logs every failed connect as an error; the caller reports it (once, clearly) and
    # aio-pika's robust connection logs the reconnect attempts.
    logging.getLogger("aiormq.connection").setLevel(logging.CRITICAL)


def _project_logger_name(_: Any, __: str, event_dict: EventDict) -> EventDict:
    """The name given to ``get_logger`` (``stoppoc.<component>``) as the line's ``logger``, the
    key the standard library's lines have it under."""
    event_dict["logger"] = event_dict.pop(_NAME, "stoppoc")
    return event_dict


# structlog's get_logger takes `logger` for itself: the name travels under this key until rendered.
_NAME = "logger_name"


def message_context(message_id: str, correlation_id: str | None, traceparent: str | None) -> dict[str, str]:
    """What a line about one message binds: its id, its conversion's correlation id and its
    trace id (read from its W3C ``traceparent``), those it has."""
    context = {"message_id": message_id, "correlation_id": correlation_id, "trace_id": trace_id_of(traceparent)}
    return {key: value for key, value in context.items() if value}


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id of a W3C ``traceparent`` (``00-<trace id>-<span id>-<flags>``)."""
    parts = (traceparent or "").split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None


def get_logger(name: str = "stoppoc", **context: Any) -> structlog.typing.FilteringBoundLogger:
    # Lazy: binding now would freeze whatever configuration structlog has at import time.
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(**{_NAME: name, **context})
    return logger
