"""Inventory as a service: its handlers, queries, migrations and clock-driven work."""

from stoppoc.services.inventory.handlers import registry
from stoppoc.services.inventory.queries import QUERIES
from stoppoc.services.inventory.reminders import REMINDERS
from stoppoc.services.inventory.sweeps import SWEEPS
from stoppoc.shared.service import ServiceDefinition

definition = ServiceDefinition(
    name="inventory", registry=registry, package=__package__, queries=QUERIES, periodic=(REMINDERS, *SWEEPS)
)
