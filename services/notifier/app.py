"""``faststream run services.notifier.app:app``"""

from shared.service import ServiceDefinition

from services.notifier.handlers import registry

definition = ServiceDefinition(name="notifier", registry=registry, package="services.notifier")
build = definition.build
app = build()
