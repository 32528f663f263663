"""``faststream run services.payment.app:app``"""

from shared.service import ServiceDefinition

from services.payment.handlers import registry

definition = ServiceDefinition(name="payment", registry=registry, package="services.payment")
build = definition.build
app = build()
