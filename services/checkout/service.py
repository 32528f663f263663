"""Checkout as a service: its handlers, queries and migrations."""

from stoppoc.services.checkout.handlers import registry
from stoppoc.services.checkout.queries import QUERIES
from stoppoc.shared.service import ServiceDefinition

definition = ServiceDefinition(name="checkout", registry=registry, package=__package__, queries=QUERIES)
