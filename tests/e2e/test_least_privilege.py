"""The four services, each as its own broker user with only its own rights (passwords read from
files, as Kubernetes mounts them), convert a cluster that the platform, billing and the portal
drive as their own users: the permissions are enough. A message forged past them is refused, and
no password shows in any log."""

import json
import subprocess
import sys

import aio_pika
import pytest

from stoppoc.contract.envelope import CONTENT_TYPE, new_envelope
from stoppoc.services import registry
from stoppoc.services.registry import SERVICES
from stoppoc.shared import broker_access, topology
from tests.broker_users import url_as
from tests.contract_data import SampleCluster, unique_id
from tests.faults.probes import dead_letters

pytestmark = pytest.mark.e2e


async def send_as(url: str, exchange: str, routing_key: str, data: dict, **properties) -> None:
    """Publish as another user, with a publisher confirm; ``routing_key`` may lie about the type."""
    envelope = new_envelope(properties.pop("type_of", routing_key), data, source="/tests/client")
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        target = await channel.get_exchange(exchange, ensure=False) if exchange else channel.default_exchange
        message = aio_pika.Message(envelope.to_json(), content_type=CONTENT_TYPE, message_id=envelope.id, **properties)
        await target.publish(message, routing_key=routing_key)


async def ask_as(url: str, exchange: str, routing_key: str, data: dict) -> dict:
    """A request/reply as the portal does it: a server-named queue of its own for the answer."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        replies = await channel.declare_queue(exclusive=True)
        await send_as(url, exchange, routing_key, data, reply_to=replies.name, correlation_id="q-1")
        async with replies.iterator(timeout=30) as messages:
            async for message in messages:
                return {"type": json.loads(message.body)["type"], "body": message.body}
    raise AssertionError("no reply")


async def test_a_conversion_runs_with_least_privilege_users(settings, services, client, broker_users, tmp_path):
    names = client.names
    await topology.declare_at(broker_users.url("deployer"), names, registry.topology())
    for service in SERVICES:
        password_file = tmp_path / f"rabbitmq-{service}"
        password_file.write_text(broker_users.passwords[service] + "\n")
        user = broker_access.user_name(names, service)
        services.service_environment[service] = {
            "STOPPOC_AMQP_URL": url_as(settings.amqp_url, user, "").replace(":@", "@"),
            "STOPPOC_AMQP_PASSWORD_FILE": str(password_file),
        }
    await services.start()

    cluster = SampleCluster()
    platform, billing, portal = (broker_users.url(p) for p in ("platform", "billing", "portal"))
    await send_as(platform, names.commands, "inventory.cluster.upsert", cluster.cluster)
    for resource in cluster.resources:
        await send_as(platform, names.commands, "inventory.resource.upsert", resource)
    await client.wait_for("resource.registered", lambda d: d["resource_id"] == cluster.resources[-1]["resource_id"])
    credit = {"customer_id": cluster.customer_id, "amount": 50_000_000, "reference": unique_id("topup")}
    await send_as(billing, names.commands, "payment.wallet.credit", credit)
    await client.wait_for("wallet.credited", lambda d: d["customer_id"] == cluster.customer_id)

    quote = {"customer_id": cluster.customer_id, "cluster_id": cluster.cluster_id, "usage_cycle_months": 1}
    reply = await ask_as(portal, names.commands, "inventory.stop_poc.quote", quote)
    assert reply["type"] == "stoppoc.stop_poc.quoted.v1"  # inventory → checkout → payment → the portal

    request = cluster.stop_request()
    await send_as(portal, names.commands, "inventory.stop_poc.request", request)
    outcome = await client.wait_for_outcome(request["request_id"])
    assert outcome.routing_key == "cluster.poc_stopped"

    # Forged past the topic permissions: a body whose type is not its routing key, and one put
    # into inventory's queue by name through the default exchange. Both are refused.
    forged = {"order_id": "o", "request_id": request["request_id"], "round": 1}
    await send_as(broker_users.url("checkout"), names.events, "order.rejected", forged, type_of="payment.settled")
    await send_as(broker_users.url("payment"), "", names.queue("inventory"), forged, type_of="payment.settled")
    dead = await dead_letters(settings.amqp_url, names, "inventory", count=2)
    assert [m.headers["x-stoppoc-error"] for m in dead] == ["misrouted", "misrouted"]
    assert "payment.settled" in dead[0].headers["x-stoppoc-detail"]

    await services.stop()
    logs = "".join((tmp_path / f"{service}.log").read_text() for service in SERVICES)
    assert "message handled" in logs
    for password in broker_users.passwords.values():
        assert password not in logs


def test_a_password_never_shows_when_a_server_refuses_or_cannot_be_reached(amqp_url, postgres_url):
    secret = unique_id("Secret-Password")
    broker = url_as(amqp_url, "nobody-here", secret)
    database = url_as(postgres_url, "nobody", secret).replace(":5432/", ":1/")
    runs = [
        (["dlq", "list", "payment"], {"STOPPOC_AMQP_URL": broker}),
        (["migrate"], {"STOPPOC_DATABASE_URL": database}),
        (["run", "notifier", "--no-migrate"], {"STOPPOC_AMQP_URL": broker, "STOPPOC_LOG_LEVEL": "DEBUG"}),
    ]
    for arguments, environment in runs:
        done = subprocess.run(
            [sys.executable, "-m", "stoppoc.cli", *arguments],
            env={"PATH": "", "STOPPOC_NAMESPACE": unique_id("nowhere"), **environment},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 3, (arguments, done.stderr[-2000:])
        assert "cannot reach" in done.stderr
        assert secret not in done.stdout + done.stderr, arguments
