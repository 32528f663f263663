"""RabbitMQ booted as docker compose and the RabbitmqCluster boot it: deploy/rabbitmq/rabbitmq.conf,
the users `stoppoc access broker-users` writes and the committed deploy/rabbitmq/definitions.json,
on a node of the test's own. The users and the permissions load, no default user is left, and a
body over the services' limit is refused."""

import subprocess
import sys
from pathlib import Path

import aio_pika
import pytest
from aiormq.exceptions import ChannelAccessRefused, ChannelPreconditionFailed

from stoppoc.contract.base import MAX_MESSAGE_BYTES
from stoppoc.services import registry
from stoppoc.shared import topology
from tests.rabbitmq_node import NoRabbitmqServer, rabbitmq_node

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
NAMES = topology.Names("stoppoc")  # the committed definitions are the default namespace's


@pytest.fixture(scope="module")
def booted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rabbitmq-node")
    definitions = folder / "definitions"
    definitions.mkdir()
    secrets = folder / "secrets"
    stoppoc = [sys.executable, "-m", "stoppoc.cli", "access"]
    subprocess.run([*stoppoc, "secrets", str(secrets)], check=True, capture_output=True, timeout=60)
    users = definitions / "01-users.json"
    subprocess.run(
        [*stoppoc, "broker-users", "--passwords-from", str(secrets), "--output", str(users)],
        check=True,
        capture_output=True,
        timeout=60,
        env={"STOPPOC_NAMESPACE": "stoppoc", "PATH": ""},
    )
    (definitions / "02-definitions.json").write_text((ROOT / "deploy" / "rabbitmq" / "definitions.json").read_text())
    conf = (ROOT / "deploy" / "rabbitmq" / "rabbitmq.conf").read_text()
    conf = conf.replace("/etc/rabbitmq/definitions", str(definitions))
    try:
        with rabbitmq_node(folder, conf) as node:
            passwords = {path.name.removeprefix("rabbitmq-"): path.read_text() for path in secrets.glob("rabbitmq-*")}
            yield node, passwords
    except NoRabbitmqServer as reason:
        pytest.skip(str(reason))


def url(booted, principal: str) -> str:
    node, passwords = booted
    return node.url(f"stoppoc-{principal}", passwords[principal])


async def publish(amqp_url: str, routing_key: str, size: int) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(NAMES.commands, ensure=False)
        await exchange.publish(aio_pika.Message(b"x" * size), routing_key=routing_key)


async def test_the_users_and_their_permissions_load_at_boot_and_no_default_user_is_made(booted):
    node, _ = booted
    with pytest.raises(aio_pika.exceptions.ProbableAuthenticationError):
        await aio_pika.connect(node.url("guest", "guest"))
    await topology.declare_at(url(booted, "deployer"), NAMES, registry.topology())
    await publish(url(booted, "portal"), "inventory.stop_poc.request", 100)
    with pytest.raises(ChannelAccessRefused):
        await publish(url(booted, "portal"), "payment.wallet.credit", 100)
    admin = await aio_pika.connect(url(booted, "admin"))
    await admin.close()


async def test_a_body_over_the_services_limit_is_refused_by_the_broker(booted):
    await topology.declare_at(url(booted, "deployer"), NAMES, registry.topology())
    await publish(url(booted, "billing"), "payment.wallet.credit", MAX_MESSAGE_BYTES)
    with pytest.raises(ChannelPreconditionFailed, match=f"larger than configured max size {MAX_MESSAGE_BYTES}"):
        await publish(url(booted, "billing"), "payment.wallet.credit", MAX_MESSAGE_BYTES + 1)
