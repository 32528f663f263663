"""Notifier as a service: its handlers, queries and migrations, and the worker that delivers."""

from stoppoc.services.notifier.delivery import DeliveryWorker
from stoppoc.services.notifier.handlers import registry
from stoppoc.services.notifier.queries import QUERIES
from stoppoc.shared.service import ServiceDefinition

definition = ServiceDefinition(
    name="notifier", registry=registry, package=__package__, queries=QUERIES, workers=(DeliveryWorker,)
)
