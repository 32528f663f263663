"""Broker users of the test's own on the shared RabbitMQ: the namespace's users as
``stoppoc access broker-definitions --users-from`` makes them (names unique to the test, random
passwords), imported with ``rabbitmqctl import_definitions`` and deleted afterwards. Nothing else
on the broker is touched: the definitions' virtual host entry is left out, and no administrator
is created."""

import asyncio
import contextlib
import json
import secrets
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from urllib.parse import quote, urlsplit, urlunsplit

import aio_pika

from stoppoc.services import registry
from stoppoc.shared import broker_access
from stoppoc.shared.topology import Names


class NoRabbitmqctl(Exception):
    """rabbitmqctl is not on this machine (RabbitMQ runs elsewhere, in a container)."""


def url_as(amqp_url: str, user: str, password: str) -> str:
    parts = urlsplit(amqp_url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"))


def _rabbitmqctl(*args: str, stdin: bytes | None = None) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], input=stdin, check=True, capture_output=True, timeout=60)


class BrokerUsers:
    """``url(principal)``: the broker URL with that principal's user and password."""

    def __init__(self, amqp_url: str, names: Names) -> None:
        self.amqp_url = amqp_url
        self.names = names
        self.passwords = {p: secrets.token_urlsafe(16) for p in broker_access.BROKER_USERS}

    def url(self, principal: str) -> str:
        return url_as(self.amqp_url, broker_access.user_name(self.names, principal), self.passwords[principal])

    def document(self) -> dict:
        admin = broker_access.user_name(self.names, "admin")
        users = [u for u in broker_access.users(self.names, self.passwords)["users"] if u["name"] != admin]
        return {**broker_access.definitions(self.names, registry.topology()), "users": users, "vhosts": []}

    async def create(self, timeout: float = 30.0) -> None:
        # From standard input: rabbitmqctl may run as another user, who could not read our file.
        await asyncio.to_thread(_rabbitmqctl, "import_definitions", stdin=json.dumps(self.document()).encode())
        # The import runs in the background: wait until the last user can log in.
        deadline = time.monotonic() + timeout
        while True:
            try:
                connection = await aio_pika.connect(self.url("deployer"))
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
            else:
                await connection.close()
                return

    async def delete(self) -> None:
        for principal in broker_access.PRINCIPALS:
            with contextlib.suppress(subprocess.CalledProcessError):
                await asyncio.to_thread(_rabbitmqctl, "delete_user", broker_access.user_name(self.names, principal))


@contextlib.asynccontextmanager
async def broker_users(amqp_url: str, names: Names) -> AsyncIterator[BrokerUsers]:
    if shutil.which("rabbitmqctl") is None:
        raise NoRabbitmqctl("rabbitmqctl is not on this machine: it creates the test's broker users")
    users = BrokerUsers(amqp_url, names)
    await users.create()
    try:
        yield users
    finally:
        await users.delete()
