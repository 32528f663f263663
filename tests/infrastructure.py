"""Where the tests find RabbitMQ and PostgreSQL: the URLs in the environment
(``STOPPOC_AMQP_URL``, ``STOPPOC_DATABASE_URL``), or containers started with
testcontainers where a Docker engine runs. Neither: the tests fail saying so."""

import contextlib
import gc
import os
import uuid
import warnings
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

from stoppoc.cli.runner import started
from stoppoc.shared.settings import Settings

MISSING = (
    "no {what} for the tests: set STOPPOC_AMQP_URL and STOPPOC_DATABASE_URL "
    "(e.g. amqp://guest:guest@127.0.0.1:5672/ and postgresql://postgres@127.0.0.1:5432/postgres), "
    "or run a Docker engine so that testcontainers can start them"
)


def docker_available() -> bool:
    # docker-py leaks the socket of a failed ping; collect it here, where its warning is moot.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            import docker

            client = docker.from_env()
            try:
                return bool(client.ping())
            finally:
                client.close()
        except Exception:
            return False
        finally:
            gc.collect()


@contextlib.contextmanager
def rabbitmq_url() -> Iterator[str]:
    if url := os.environ.get("STOPPOC_AMQP_URL"):
        yield url
        return
    if not docker_available():
        raise RuntimeError(MISSING.format(what="RabbitMQ"))
    from testcontainers.rabbitmq import RabbitMqContainer

    with RabbitMqContainer("rabbitmq:3.13-alpine") as container:
        host, port = container.get_container_host_ip(), container.get_exposed_port(5672)
        yield f"amqp://guest:guest@{host}:{port}/"


@contextlib.contextmanager
def postgres_url() -> Iterator[str]:
    if url := os.environ.get("STOPPOC_DATABASE_URL"):
        yield url
        return
    if not docker_available():
        raise RuntimeError(MISSING.format(what="PostgreSQL"))
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:15-alpine", driver=None) as container:
        yield container.get_connection_url()


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def running(settings: Settings, *services: str):
    """Start the named services in this process; stop them on exit."""
    return started(settings, services)
