"""Least privilege on a real RabbitMQ: each user of the namespace, as the definitions make it, is
refused what it must not do. Its positive side (every service can do what it must) is proven by a
whole conversion run with these users, in tests/e2e/test_least_privilege.py."""

import aio_pika
import pytest
from aiormq.exceptions import ChannelAccessRefused

from stoppoc.contract import EVENTS
from stoppoc.contract.envelope import new_envelope
from stoppoc.contract.publishers import SERVICE_PUBLISHES, SETTLEMENT_EVENTS
from stoppoc.services import registry
from stoppoc.services.registry import SERVICES
from stoppoc.shared import topology
from tests.broker_users import NoRabbitmqctl
from tests.broker_users import broker_users as users_of
from tests.faults.probes import dead_letters
from tests.infrastructure import unique

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def names(amqp_url):
    """One namespace, and one set of users, for the whole module: making users costs seconds."""
    names = topology.Names(unique("access"))
    yield names
    await topology.delete(amqp_url, names, SERVICES)


@pytest.fixture(scope="module")
async def broker_users(amqp_url, names):
    try:
        async with users_of(amqp_url, names) as users:
            yield users
    except NoRabbitmqctl as reason:
        pytest.skip(str(reason))


@pytest.fixture(scope="module")
async def declared(amqp_url, names):
    await topology.declare_at(amqp_url, names, registry.topology())


class Session:
    """One user's connection; each refusal closes the channel it happened on, so every attempt
    gets a channel of its own."""

    def __init__(self, connection: aio_pika.abc.AbstractConnection) -> None:
        self.connection = connection

    async def publish(self, exchange: str, routing_key: str) -> None:
        channel = await self.connection.channel(publisher_confirms=True)
        async with channel:
            body = new_envelope(routing_key, {}, source="/tests/intruder").to_json()
            target = await channel.get_exchange(exchange, ensure=False) if exchange else channel.default_exchange
            await target.publish(aio_pika.Message(body), routing_key=routing_key)

    async def dead_letter(self, exchange: str, queue: str, message_id: str) -> None:
        """A wallet credit as payment would dead-letter it, routed into ``queue``'s dead-letter
        queue: what a forger would copy, and what `stoppoc dlq replay` would credit."""
        channel = await self.connection.channel(publisher_confirms=True)
        async with channel:
            credit = {"customer_id": "c-1", "amount": 1_000_000, "reference": message_id}
            body = new_envelope("payment.wallet.credit", credit, source="/stoppoc/payment").to_json()
            headers = {"x-stoppoc-service": "payment", "x-stoppoc-original-routing-key": "payment.wallet.credit"}
            target = await channel.get_exchange(exchange, ensure=False)
            await target.publish(aio_pika.Message(body, message_id=message_id, headers=headers), routing_key=queue)

    async def take(self, queue: str) -> None:
        channel = await self.connection.channel()
        async with channel:
            await (await channel.get_queue(queue, ensure=False)).get(fail=False)

    async def bind(self, exchange: str, routing_key: str) -> None:
        channel = await self.connection.channel()
        async with channel:
            queue = await channel.declare_queue(exclusive=True)
            await queue.bind(exchange, routing_key=routing_key)


async def session(url: str) -> Session:
    return Session(await aio_pika.connect(url))


async def test_the_portal_cannot_publish_a_wallet_credit_and_can_press_stop_poc(broker_users, names, declared):
    portal = await session(broker_users.url("portal"))
    async with portal.connection:
        with pytest.raises(ChannelAccessRefused, match=r"payment\.wallet\.credit"):
            await portal.publish(names.commands, "payment.wallet.credit")
        with pytest.raises(ChannelAccessRefused):
            await portal.publish(names.events, "payment.settled")
        await portal.publish(names.commands, "inventory.stop_poc.request")  # confirmed: allowed


async def test_the_notifier_can_publish_no_event_and_no_command(broker_users, names, declared):
    notifier = await session(broker_users.url("notifier"))
    async with notifier.connection:
        for event in sorted(EVENTS):
            with pytest.raises(ChannelAccessRefused):
                await notifier.publish(names.events, event)
        with pytest.raises(ChannelAccessRefused):
            await notifier.publish(names.commands, "payment.wallet.credit")


@pytest.mark.parametrize("service", SERVICES)
async def test_a_service_publishes_only_what_it_emits(broker_users, names, declared, service):
    own = SERVICE_PUBLISHES[service]
    user = await session(broker_users.url(service))
    async with user.connection:
        for event in sorted(EVENTS.keys() - own):
            with pytest.raises(ChannelAccessRefused):
                await user.publish(names.events, event)
        if "payment.wallet.credit" not in own:  # only inventory refunds; payment cannot mint credit
            with pytest.raises(ChannelAccessRefused):
                await user.publish(names.commands, "payment.wallet.credit")
        for event in sorted(own & EVENTS.keys()):
            await user.publish(names.events, event)


async def test_no_service_can_read_another_services_queue_or_any_dead_letter_queue(broker_users, names, declared):
    for service in SERVICES:
        user = await session(broker_users.url(service))
        async with user.connection:
            await user.take(names.queue(service))  # its own: allowed
            for other in SERVICES:
                if other != service:
                    with pytest.raises(ChannelAccessRefused):
                        await user.take(names.queue(other))
                with pytest.raises(ChannelAccessRefused):
                    await user.take(names.dead_letter_queue(other))


async def test_a_service_dead_letters_into_its_own_dead_letter_queue_and_no_other(
    amqp_url, broker_users, names, declared
):
    payment = await session(broker_users.url("payment"))
    async with payment.connection:
        await payment.dead_letter(names.dead_letters, names.queue("payment"), "own")
    [landed] = await dead_letters(amqp_url, names, "payment")
    assert landed.message_id == "own"
    notifier = await session(broker_users.url("notifier"))
    async with notifier.connection:
        with pytest.raises(ChannelAccessRefused, match=rf"{names.queue('payment')}"):
            await notifier.dead_letter(names.dead_letters, names.queue("payment"), "forged")
    for service in SERVICES:  # nor through the broker's own dead-letter exchange, a direct one
        user = await session(broker_users.url(service))
        async with user.connection:
            with pytest.raises(ChannelAccessRefused, match=rf"{names.dlx}"):
                await user.dead_letter(names.dlx, names.queue(service), "forged")


async def test_analysts_read_settlement_events_only_and_publish_nothing(broker_users, names, declared):
    analysts = await session(broker_users.url("analysts"))
    async with analysts.connection:
        for event in sorted(SETTLEMENT_EVENTS):
            await analysts.bind(names.events, event)
        # A durable feed of their own, under their prefix, survives their restarts.
        channel = await analysts.connection.channel()
        async with channel:
            feed = await channel.declare_queue(f"{names.namespace}.analysts.feed", durable=True)
            await feed.bind(names.events, routing_key="payment.settled")
            await feed.delete()
        channel = await analysts.connection.channel()
        with pytest.raises(ChannelAccessRefused):
            await channel.declare_queue(f"{names.namespace}.payment.copy", durable=True)
        for forbidden in ("order.created", "#", "payment.*"):
            with pytest.raises(ChannelAccessRefused):
                await analysts.bind(names.events, forbidden)
        with pytest.raises(ChannelAccessRefused):
            await analysts.take(names.queue("payment"))
        for exchange, routing_key in ((names.events, "payment.settled"), (names.commands, "payment.wallet.credit")):
            with pytest.raises(ChannelAccessRefused):
                await analysts.publish(exchange, routing_key)


async def test_billing_credits_and_the_platform_registers_but_neither_stops_a_cluster(broker_users, names, declared):
    for principal, allowed in (("billing", "payment.wallet.credit"), ("platform", "inventory.cluster.upsert")):
        user = await session(broker_users.url(principal))
        async with user.connection:
            await user.publish(names.commands, allowed)
            with pytest.raises(ChannelAccessRefused):
                await user.publish(names.commands, "inventory.stop_poc.request")


async def test_neither_billing_nor_the_platform_publishes_an_event_and_the_platform_mints_no_credit(
    broker_users, names, declared
):
    for principal in ("billing", "platform"):
        user = await session(broker_users.url(principal))
        async with user.connection:
            for event in sorted(EVENTS):  # payment.settled for an order nobody paid, among them
                with pytest.raises(ChannelAccessRefused):
                    await user.publish(names.events, event)
    platform = await session(broker_users.url("platform"))
    async with platform.connection:
        with pytest.raises(ChannelAccessRefused, match=r"payment\.wallet\.credit"):
            await platform.publish(names.commands, "payment.wallet.credit")
        with pytest.raises(ChannelAccessRefused, match=r"checkout\.coupon\.upsert"):
            await platform.publish(names.commands, "checkout.coupon.upsert")


async def test_only_the_deployer_declares_and_it_publishes_nothing(broker_users, names):
    for principal in (*SERVICES, "portal", "operator"):
        with pytest.raises(ChannelAccessRefused):
            await topology.declare_at(broker_users.url(principal), names, registry.topology())
    await topology.declare_at(broker_users.url("deployer"), names, registry.topology())
    deployer = await session(broker_users.url("deployer"))
    async with deployer.connection:
        with pytest.raises(ChannelAccessRefused):
            await deployer.publish(names.commands, "payment.wallet.credit")
        # (It may read the service queues: RabbitMQ asks that of whoever declares a queue with a
        # dead-letter exchange. Not the dead letters.)
        with pytest.raises(ChannelAccessRefused):
            await deployer.take(names.dead_letter_queue("payment"))


async def test_the_operator_reads_dead_letters_and_replays_them_but_reads_no_service_queue(
    broker_users, names, declared
):
    operator = await session(broker_users.url("operator"))
    async with operator.connection:
        for service in SERVICES:
            await operator.take(names.dead_letter_queue(service))
            with pytest.raises(ChannelAccessRefused):
                await operator.take(names.queue(service))
        await operator.publish(names.commands, "payment.wallet.credit")  # a replay may be anything
        with pytest.raises(ChannelAccessRefused):
            await topology.declare_at(broker_users.url("operator"), names, registry.topology())
