"""Payment as a service: its handlers, queries, migrations and clock-driven work."""

from stoppoc.services.payment.handlers import registry
from stoppoc.services.payment.queries import QUERIES
from stoppoc.services.payment.settlement import expire_overdue_waits
from stoppoc.shared.periodic import PeriodicTask
from stoppoc.shared.service import ServiceDefinition

definition = ServiceDefinition(
    name="payment",
    registry=registry,
    package=__package__,
    queries=QUERIES,
    periodic=(PeriodicTask("expire_funds_waits", expire_overdue_waits),),
)
