"""The broker connection of a service: FastStream's robust connection, taught to go through
several addresses of one RabbitMQ cluster (``STOPPOC_AMQP_URL`` then
``STOPPOC_AMQP_FAILOVER_URLS``). When the node in use stops answering, each reconnect attempt
tries the addresses in turn, starting with the one after the node that failed, so the service
carries on through a surviving node by itself; the robust connection then restores its channels,
queues and consumers there.
"""

from typing import Any, cast

import aio_pika
from aio_pika import RobustConnection
from faststream.rabbit import RabbitBroker
from faststream.rabbit.utils import RabbitClientProperties
from yarl import URL

from stoppoc.client import amqp_tables
from stoppoc.contract.errors import redact
from stoppoc.shared.logging import get_logger

# What a connection attempt to one address raises when that node is down or refuses us.
_UNREACHABLE = (OSError, aio_pika.exceptions.AMQPConnectionError, TimeoutError)


class FailoverConnection(RobustConnection):
    """A robust connection over several addresses of one cluster (``urls``, set before connecting)."""

    urls: tuple[URL, ...] = ()
    _next = 0

    # aio-pika's RobustConnection makes every attempt (the first and each reconnect) through this
    # private method; naming it here overrides it (aio-pika is pinned: see pyproject.toml).
    async def _RobustConnection__connect_transport(self) -> None:
        original = RobustConnection._RobustConnection__connect_transport  # type: ignore[attr-defined]
        # FastStream passes options (the connection's name) as the first URL's query: every address gets them.
        query = self._query = getattr(self, "_query", None) or self.url.query
        urls = tuple(url.with_query(query) for url in self.urls) or (self.url,)
        failure: BaseException | None = None
        for offset in range(len(urls)):
            index = (self._next + offset) % len(urls)
            # Connection.connect reads self.url (and the query's options were read at creation).
            self.url = urls[index]
            try:
                await original(self)
            except _UNREACHABLE as error:
                failure = error
                get_logger("stoppoc.broker").warning(
                    "broker address unreachable", address=redact(str(urls[index])), error=repr(error)
                )
                continue
            # Next time (this node lost), start with the one after it.
            self._next = (index + 1) % len(urls)
            if len(urls) > 1:
                get_logger("stoppoc.broker").info("connected to broker", address=redact(str(urls[index])))
            return
        assert failure is not None
        raise failure


def failover_connection(urls: list[str]) -> type[FailoverConnection]:
    """A connection class bound to these addresses (FastStream takes a class, not an instance)."""
    return cast(type[FailoverConnection], type("Failover", (FailoverConnection,), {"urls": tuple(map(URL, urls))}))


def service_broker(urls: list[str], connection_name: str, **kwargs: Any) -> RabbitBroker:
    """A FastStream broker connected to the first of ``urls`` that answers, failing over to the
    others. ``connection_name``: how operators find the connection (``rabbitmqctl list_connections``)."""
    amqp_tables.install()  # a header nested too deep must not close the connection: it is dead-lettered
    broker = RabbitBroker(
        urls[0],
        # FastStream turns these into URL parameters, and aiormq takes the connection name from
        # `name` (not among the properties FastStream's type lists, hence the cast).
        client_properties=cast(RabbitClientProperties, {"name": connection_name}),
        **kwargs,
    )
    if len(urls) > 1:
        # FastStream hands these to aio_pika.connect_robust, which takes the connection's class.
        broker._connection_kwargs["connection_class"] = failover_connection(urls)
    return broker
