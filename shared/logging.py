"""structlog set-up: JSON lines when not on a terminal, the console renderer on one.

Handlers bind ``message_id`` and ``correlation_id`` with ``bind_contextvars`` so that every
line logged while a message is handled carries them.
"""

import logging
import sys

import structlog


def configure(level: str = "INFO", *, stream=None) -> None:
    stream = stream or sys.stderr
    renderer = (
        structlog.dev.ConsoleRenderer()
        if stream.isatty()
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )


def get_logger(**context) -> structlog.typing.FilteringBoundLogger:
    # Lazy: binding now would freeze whatever configuration structlog has at import time.
    return structlog.get_logger(**context)
