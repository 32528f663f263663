"""Notifier as a service: its handlers, queries and migrations, and the worker that delivers."""

import asyncpg

from stoppoc.services.notifier.handlers import registry
from stoppoc.services.notifier.queries import QUERIES
from stoppoc.shared.service import ServiceDefinition, Worker
from stoppoc.shared.settings import Settings


def delivery_worker(pool: asyncpg.Pool, settings: Settings) -> Worker:
    # Imported here: the SMTP and HTTP clients and the templates load only where notifier runs,
    # not in every process that knows the services (stoppoc run payment, the CLI).
    from stoppoc.services.notifier.delivery import DeliveryWorker

    return DeliveryWorker(pool, settings)


definition = ServiceDefinition(
    name="notifier", registry=registry, package=__package__, queries=QUERIES, workers=(delivery_worker,)
)
