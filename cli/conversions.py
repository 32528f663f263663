"""``stoppoc conversions``: each conversion's story from the four services' own data, and the
conversions that have not ended.

A conversion's story: inventory's conversion, rounds and resources; checkout's orders and
rejections; payment's payments and refunds; notifier's notifications; and the dead letters, in
any service's dead-letter queue, that name its request id.
"""

import sys
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import click

from stoppoc.cli.database import NEGATIVE, fail, read, run_async
from stoppoc.cli.dead_letter_queues import peek_all
from stoppoc.cli.letters import DeadLetter, age
from stoppoc.cli.output import as_dict, echo_json, json_option, show
from stoppoc.cli.timing import Duration
from stoppoc.contract.envelope import utc_now
from stoppoc.services.checkout.queries import QUERIES as CHECKOUT
from stoppoc.services.checkout.queries import OrderRow, RejectionRow
from stoppoc.services.inventory.queries import QUERIES as INVENTORY
from stoppoc.services.inventory.queries import ConversionSummary, RoundSummary
from stoppoc.services.notifier.queries import QUERIES as NOTIFIER
from stoppoc.services.notifier.queries import NotificationOfRequest
from stoppoc.services.payment.queries import QUERIES as PAYMENT
from stoppoc.services.payment.queries import PaymentRow
from stoppoc.services.registry import SERVICES
from stoppoc.shared.queries import BoundQueries
from stoppoc.shared.settings import get_settings
from stoppoc.shared.topology import Names

CONVERSION_COLUMNS = [
    "request_id",
    "customer_id",
    "cluster_id",
    "status",
    "rounds",
    "reason",
    "created_at",
    "finished_at",
]
STUCK_COLUMNS = ["request_id", "customer_id", "cluster_id", "age", "waiting_on", "dead_letters"]


@dataclass
class Story:
    conversion: ConversionSummary | None
    rounds: list[RoundSummary]
    resources: list[Any]
    orders: list[OrderRow]
    rejections: list[RejectionRow]
    payments: list[PaymentRow]
    refunds: list[Any]
    notifications: list[NotificationOfRequest]
    dead_letters: dict[str, list[DeadLetter]]

    def waiting_on(self) -> str:
        """What a conversion that has not ended waits for: the service whose step is missing."""
        if not self.rounds:
            return "inventory: no round started"
        last = self.rounds[-1]
        if last.status != "awaiting_payment":
            return f"inventory: round {last.round} is {last.status} and the conversion has not ended"
        if rejected := [r for r in self.rejections if r.round == last.round]:
            return f"inventory: order.rejected ({rejected[0].reason}) of round {last.round} not taken"
        order = next((o for o in self.orders if o.round == last.round), None)
        if order is None:
            return f"checkout: round {last.round} not priced (stop_poc.requested not taken)"
        payment = next((p for p in self.payments if p.order_id == order.order_id), None)
        if payment is None:
            return f"payment: order {order.order_id} not taken (order.created)"
        if payment.status == "awaiting_funds":
            return f"payment: order {order.order_id} awaits funds until {payment.wait_until:%Y-%m-%d %H:%M}"
        return f"inventory: payment.{payment.status} of order {order.order_id} not taken"

    def dead_letter_summary(self) -> str:
        return ", ".join(
            f"{service} {letter.error} {letter.id}"
            for service, letters in self.dead_letters.items()
            for letter in letters
        )

    def as_json(self, now: Any) -> dict[str, Any]:
        return {
            "conversion": as_dict(self.conversion) if self.conversion else None,
            "rounds": [as_dict(r) for r in self.rounds],
            "resources": [as_dict(r) for r in self.resources],
            "orders": [as_dict(o) for o in self.orders],
            "rejections": [as_dict(r) for r in self.rejections],
            "payments": [as_dict(p) for p in self.payments],
            "refunds": [as_dict(r) for r in self.refunds],
            "notifications": [as_dict(n) for n in self.notifications],
            "dead_letters": {s: [x.row(now) for x in letters] for s, letters in self.dead_letters.items()},
        }


async def _read_story(
    request_id: str, inventory: BoundQueries, checkout: BoundQueries, payment: BoundQueries, notifier: BoundQueries
) -> Story:
    conversion = await inventory.conversion_summary(request_id=request_id)
    orders = await checkout.orders_of_request(request_id=request_id)
    payments = await payment.payments_of_request(request_id=request_id)
    customer = conversion.customer_id if conversion else (orders[0].customer_id if orders else None)
    refunds = (
        await payment.refunds_of_orders(customer_id=customer, order_ids=[o.order_id for o in orders])
        if customer
        else []
    )
    return Story(
        conversion=conversion,
        rounds=await inventory.conversion_rounds(request_id=request_id),
        resources=await inventory.conversion_resources(request_id=request_id),
        orders=orders,
        rejections=await checkout.rejections_of_request(request_id=request_id),
        payments=payments,
        refunds=refunds,
        notifications=await notifier.notifications_of_request(request_id=request_id),
        dead_letters={},
    )


SERVICE_QUERIES = {"inventory": INVENTORY, "checkout": CHECKOUT, "payment": PAYMENT, "notifier": NOTIFIER}


def dead_letters_naming(request_ids: set[str]) -> dict[str, dict[str, list[DeadLetter]]]:
    """By request id, by service: the dead letters that name it."""
    settings = get_settings()
    found = run_async(peek_all(settings.amqp_url, Names(settings.namespace), SERVICES))
    named: dict[str, dict[str, list[DeadLetter]]] = {request_id: {} for request_id in request_ids}
    for service, letters in found.items():
        for letter in letters or []:
            for request_id in request_ids:
                if letter.names(request_id):
                    named[request_id].setdefault(service, []).append(letter)
    return named


@click.group()
def conversions() -> None:
    """Conversions: their stories from every service, and those that have not ended."""


@conversions.command("list")
@click.option("--customer", help="Only this customer's conversions.")
@click.option("--state", help="Only conversions in this state (in_progress, stopped, failed, rejected, …).")
@json_option
def list_conversions(customer: str | None, state: str | None, as_json: bool) -> None:
    """Conversions oldest first, with their state, rounds and reason."""

    async def query(inventory: BoundQueries) -> Any:
        return await inventory.list_conversions(customer_id=customer, status=state)

    show(read(query, inventory=INVENTORY), CONVERSION_COLUMNS, as_json=as_json)


@conversions.command("show")
@click.argument("request_id")
@json_option
def show_conversion(request_id: str, as_json: bool) -> None:
    """The whole story of a conversion: rounds, orders, payments, resources, refunds,
    notifications and the dead letters that name it. Exit 1 when inventory has no such conversion."""

    async def query(**services: BoundQueries) -> Story:
        return await _read_story(request_id, **services)

    story = read(query, **SERVICE_QUERIES)
    story.dead_letters = dead_letters_naming({request_id})[request_id]
    now = utc_now()
    if as_json:
        echo_json({"request_id": request_id, **story.as_json(now)})
    else:
        _print_story(request_id, story, now)
    if story.conversion is None:
        fail(f"inventory has no conversion {request_id!r}" + (" (dead letters name it)" if story.dead_letters else ""))


def _print_story(request_id: str, story: Story, now: Any) -> None:
    if story.conversion:
        show([story.conversion], CONVERSION_COLUMNS, as_json=False, title=f"conversion {request_id}")
        if story.conversion.status == "in_progress":
            click.echo(f"waiting on: {story.waiting_on()}")
    sections: list[tuple[str, list[Any], list[str]]] = [
        ("rounds", story.rounds, ["round", "status", "resource_ids", "payment_id", "amount", "finished_at"]),
        ("orders", story.orders, ["order_id", "round", "coupon_code", "subtotal", "discount", "tax", "total"]),
        ("order rejections", story.rejections, ["round", "reason", "detail", "created_at"]),
        ("payments", story.payments, ["payment_id", "round", "amount", "status", "reason", "wait_until", "decided_at"]),
        ("refunds", story.refunds, ["reference", "amount", "order_id", "created_at"]),
        ("resources", story.resources, ["resource_id", "kind", "billing", "usage_cycle_months", "paid_until"]),
        ("notifications", story.notifications, ["kind", "title", "created_at", "delivered_at"]),
    ]
    for title, rows, columns in sections:
        if rows:
            show(rows, columns, as_json=False, title=title)
    letters = [
        {"queue": s, **x.row(now), "age": age(x.age_seconds(now))} for s, xs in story.dead_letters.items() for x in xs
    ]
    if letters:
        show(
            letters, ["queue", "id", "type", "error", "attempts", "age", "detail"], as_json=False, title="dead letters"
        )


@conversions.command("stuck")
@click.option("--older-than", type=Duration(), required=True, help="Started longer ago than this: 30m, 2h, 1d.")
@json_option
def stuck_conversions(older_than: timedelta, as_json: bool) -> None:
    """Conversions with no final event that started longer ago than --older-than, with what each
    waits on and the dead letters that name it. Exit 1 when there are any."""

    async def query(**services: BoundQueries) -> list[tuple[ConversionSummary, Story]]:
        found = await services["inventory"].stuck_conversions(older_than_seconds=older_than.total_seconds())
        return [(c, await _read_story(c.request_id, **services)) for c in found]

    stuck = read(query, **SERVICE_QUERIES)
    named = dead_letters_naming({c.request_id for c, _ in stuck}) if stuck else {}
    now = utc_now()
    rows = []
    for conversion, story in stuck:
        story.dead_letters = named[conversion.request_id]
        rows.append(
            {
                **as_dict(conversion),
                "age_seconds": (now - conversion.created_at).total_seconds(),
                "age": age((now - conversion.created_at).total_seconds()),
                "waiting_on": story.waiting_on(),
                "dead_letters": story.dead_letter_summary() or None,
                "dead_letter_ids": {s: [x.id for x in xs] for s, xs in story.dead_letters.items()},
            }
        )
    if as_json:
        echo_json(rows)
    else:
        show(
            rows, STUCK_COLUMNS, as_json=False, title=f"{len(rows)} conversions without an end, older than {older_than}"
        )
    if rows:
        sys.exit(NEGATIVE)
