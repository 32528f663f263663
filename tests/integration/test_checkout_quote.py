"""``checkout.quote.price``: priced like an order, reserving nothing; answered with a rejection,
or forwarded to payment (``payment.quote.fund``), which answers the same caller."""

import asyncio
import uuid

import aio_pika
import pytest

from stoppoc.contract.envelope import Envelope, new_envelope
from stoppoc.contract.replies import QuoteFund
from tests.contract_data import publish_event
from tests.infrastructure import running
from tests.integration.test_checkout import BOOT, GPU_SERVER, PVC, SERVER, for_request, requested
from tests.integration.test_coupons import coupon, upsert

pytestmark = pytest.mark.integration


def quote(**overrides) -> dict:
    return {
        "customer_id": "cus-1",
        "cluster_id": "cl-1",
        "usage_cycle_months": 12,
        "coupon_code": None,
        "resources": [SERVER, BOOT, PVC],
        **overrides,
    }


class PaymentStandIn:
    """A queue bound where checkout forwards a priced quote, standing in for payment."""

    def __init__(self, settings, names) -> None:
        self.settings, self.names = settings, names

    async def __aenter__(self) -> "PaymentStandIn":
        self.connection = await aio_pika.connect(self.settings.amqp_url)
        channel = await self.connection.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(self.names.commands, routing_key="payment.quote.fund")
        self.received: asyncio.Queue = asyncio.Queue()
        await queue.consume(self.received.put, no_ack=True)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.connection.close()

    async def forwarded(self) -> aio_pika.abc.AbstractIncomingMessage:
        return await asyncio.wait_for(self.received.get(), 15)


async def ask(client, data: dict, reply_to: str) -> Envelope:
    """Send a quote request whose answer goes to ``reply_to`` (not awaited here)."""
    envelope = new_envelope("checkout.quote.price", data, source="/tests/inventory", subject=data["cluster_id"])
    await client.publish(
        client.names.commands,
        "checkout.quote.price",
        envelope.to_json(),
        message_id=envelope.id,
        reply_to=reply_to,
        correlation_id=envelope.id,
    )
    return envelope


@pytest.mark.parametrize(
    ("overrides", "reason", "named"),
    [
        ({"usage_cycle_months": 2}, "invalid_usage_cycle", "2 months"),
        ({"resources": [SERVER, GPU_SERVER]}, "unpriced_resource", "srv-9 (server flavor 'gpu-a100')"),
        ({"coupon_code": "nope"}, "coupon_not_found", "'NOPE'"),
    ],
)
async def test_a_quote_that_cannot_be_priced_is_answered_with_its_reason(settings, client, overrides, reason, named):
    async with running(settings, "checkout"):
        reply = await client.request("checkout.quote.price", quote(**overrides))

    assert reply.type == "stoppoc.stop_poc.quote_rejected.v1"
    assert reply.data["cluster_id"] == "cl-1" and reply.data["reason"] == reason and named in reply.data["detail"]


async def test_a_quote_counts_the_customers_redemptions_against_the_coupon(settings, client, database):
    async with running(settings, "checkout"):
        await upsert(client, database, coupon("ONCE", per_customer_limit=1))
        data = requested(coupon_code="ONCE", customer_id="cus-1")
        await publish_event(client, "stop_poc.requested", data)
        await client.wait_for("order.created", for_request(data["request_id"]))
        reply = await client.request("checkout.quote.price", quote(coupon_code="once"))

    assert (reply.data["reason"], reply.type) == ("coupon_limit_reached", "stoppoc.stop_poc.quote_rejected.v1")


async def test_a_priced_quote_is_forwarded_to_payment_for_the_same_caller(settings, client, database, names):
    async with running(settings, "checkout"), PaymentStandIn(settings, names) as payment:
        await upsert(client, database, coupon("SAVE", kind="fixed", value=1_000_000, max_redemptions=1))
        asked = await ask(client, quote(coupon_code="save"), reply_to="the-portals-reply-queue")
        message = await payment.forwarded()
        # The quote reserved nothing: the coupon's one redemption still prices an order.
        data = requested(coupon_code="SAVE")
        await publish_event(client, "stop_poc.requested", data)
        created = await client.wait_for("order.created", for_request(data["request_id"]))

    forwarded = Envelope.parse(message.body)
    assert forwarded.type == "stoppoc.payment.quote.fund.v1" and forwarded.causationid == asked.id
    assert (message.reply_to, message.correlation_id) == ("the-portals-reply-queue", asked.id)
    funded = QuoteFund.model_validate(forwarded.data)
    assert (funded.customer_id, funded.cluster_id, funded.usage_cycle_months, funded.coupon_code) == (
        "cus-1",
        "cl-1",
        12,
        "SAVE",
    )
    # The quote is exactly the order the same inputs make.
    assert [line.model_dump() for line in funded.lines] == created.data["lines"]
    assert (funded.subtotal, funded.discount, funded.tax, funded.total) == tuple(
        created.data[k] for k in ("subtotal", "discount", "tax", "total")
    )
    assert funded.discount == 2_112_000 + 1_000_000 and funded.total == 21_120_000 - funded.discount
    assert await database.fetchval("SELECT count(*) FROM checkout.coupon_redemptions") == 1


async def test_a_cluster_with_nothing_left_to_convert_quotes_zero(settings, client, names):
    async with running(settings, "checkout"), PaymentStandIn(settings, names) as payment:
        await ask(client, quote(resources=[], coupon_code=""), reply_to=f"reply-{uuid.uuid4()}")
        forwarded = Envelope.parse((await payment.forwarded()).body)

    funded = QuoteFund.model_validate(forwarded.data)
    assert (funded.lines, funded.subtotal, funded.discount, funded.tax, funded.total) == ([], 0, 0, 0, 0)
    assert funded.coupon_code is None  # an empty code is no code, not an unknown one


async def test_payment_answers_a_forwarded_quote_with_the_wallet(settings, client):
    async with running(settings, "checkout", "payment"):
        await client.send("payment.wallet.credit", {"customer_id": "cus-1", "amount": 20_000_000, "reference": "r"})
        await client.wait_for("wallet.credited")
        reply = await client.request("checkout.quote.price", quote())

    assert reply.type == "stoppoc.stop_poc.quoted.v1"
    assert (reply.data["total"], reply.data["wallet_balance"], reply.data["wallet_covers"]) == (
        19_008_000,
        20_000_000,
        True,
    )
