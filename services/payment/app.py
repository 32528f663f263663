"""``faststream run services.payment.app:app``"""

from shared.periodic import PeriodicTask
from shared.service import ServiceDefinition

from services.payment.handlers import registry
from services.payment.settlement import expire_overdue_waits

definition = ServiceDefinition(
    name="payment",
    registry=registry,
    package="services.payment",
    periodic=(PeriodicTask("expire_funds_waits", expire_overdue_waits),),
)
build = definition.build
app = build()
