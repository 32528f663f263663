"""``faststream run services.payment.app:app``"""

from shared.service import ServiceDefinition, create_app
from shared.settings import Settings, get_settings

from services.payment.handlers import registry

definition = ServiceDefinition(name="payment", registry=registry, package="services.payment")


def build(settings: Settings | None = None):
    return create_app(definition, settings or get_settings())


app = build()
