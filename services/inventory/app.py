"""``faststream run services.inventory.app:app``"""

from shared.service import ServiceDefinition

from services.inventory.handlers import registry
from services.inventory.reminders import REMINDERS

definition = ServiceDefinition(
    name="inventory", registry=registry, package="services.inventory", periodic=(REMINDERS,)
)
build = definition.build
app = build()
