"""structlog set-up: JSON lines when not on a terminal, the console renderer on one.

Handlers bind ``message_id`` and ``correlation_id`` with ``bind_contextvars`` so that every
line logged while a message is handled carries them.
"""

import logging
import sys
from typing import Any, TextIO

import structlog
from structlog.typing import Processor


def configure(level: str = "INFO", *, stream: TextIO | None = None) -> None:
    stream = stream or sys.stderr
    renderer: Processor = structlog.dev.ConsoleRenderer() if stream.isatty() else structlog.processors.JSONRenderer()
    shared_processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared_processors,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    # Libraries (aiormq, aio-pika, asyncpg) log through the standard library: same format.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(processor=renderer, foreign_pre_chain=shared_processors))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiormq logs every failed connect as an error; the caller reports it (once, clearly) and
    # aio-pika's robust connection logs the reconnect attempts.
    logging.getLogger("aiormq.connection").setLevel(logging.CRITICAL)


def get_logger(**context: Any) -> structlog.typing.FilteringBoundLogger:
    # Lazy: binding now would freeze whatever configuration structlog has at import time.
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(**context)
    return logger
