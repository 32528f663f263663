"""``faststream run services.inventory.app:app``"""

from shared.service import ServiceDefinition

from services.inventory.handlers import registry

definition = ServiceDefinition(name="inventory", registry=registry, package="services.inventory")
build = definition.build
app = build()
