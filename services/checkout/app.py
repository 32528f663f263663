"""``faststream run services.checkout.app:app``"""

from shared.service import ServiceDefinition

from services.checkout.handlers import registry

definition = ServiceDefinition(name="checkout", registry=registry, package="services.checkout")
build = definition.build
app = build()
