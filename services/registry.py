"""The four services by name: the one place that knows them all (``stoppoc run`` and
``stoppoc migrate``, the AsyncAPI document, the tests). A service never imports this."""

from collections.abc import Iterable
from importlib import import_module

from stoppoc.shared.service import ServiceDefinition
from stoppoc.shared.topology import Topology

SERVICES = ("inventory", "checkout", "payment", "notifier")


def definition(service: str) -> ServiceDefinition:
    if service not in SERVICES:
        raise ValueError(f"no service {service!r}: one of {', '.join(SERVICES)}")
    found: ServiceDefinition = import_module(f"stoppoc.services.{service}.service").definition
    return found


def topology(services: Iterable[str] = SERVICES) -> Topology:
    """Each service's queue bindings, derived from its handlers."""
    return {service: definition(service).bindings for service in services}
