"""Payment as a service: its handlers, queries, migrations and clock-driven work."""

from stoppoc.services.payment.handlers import registry
from stoppoc.services.payment.ordering import decide_orders_past_gap
from stoppoc.services.payment.queries import QUERIES
from stoppoc.services.payment.settlement import expire_overdue_waits
from stoppoc.shared.periodic import PeriodicTask
from stoppoc.shared.service import ServiceDefinition

definition = ServiceDefinition(
    name="payment",
    registry=registry,
    package=__package__,
    queries=QUERIES,
    periodic=(
        PeriodicTask("expire_funds_waits", expire_overdue_waits),
        PeriodicTask("decide_orders_past_gap", decide_orders_past_gap),
    ),
)
