"""``faststream run services.inventory.app:app``"""

from shared.service import ServiceDefinition, create_app
from shared.settings import Settings, get_settings

from services.inventory.handlers import registry

definition = ServiceDefinition(name="inventory", registry=registry, package="services.inventory")


def build(settings: Settings | None = None):
    return create_app(definition, settings or get_settings())


app = build()
