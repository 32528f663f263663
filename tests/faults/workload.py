"""The batch of conversions (and renewals, renewal_plan.py) the fault tests run, planned from a seed.

Customers own several clusters each; their wallets are funded for all of their conversions
(rich), about half (partial) or none (broke). Among the requests: unknown coupon codes and
usage cycles not offered (checkout rejects them with a reason), the same request sent twice
(same request id) and the same message published twice (same message id), a second press on a
cluster in flight, resources deleted and nodes joining while a conversion is in flight, a subset
of the cluster confirmed (`resource_ids`), the total the portal showed (`expected_total`: exact,
or one dong off), credits that reuse a reference already credited (another customer, or another
amount: refused), and poison messages (a body that is not JSON, not a CloudEvent, data of the wrong types, an unknown
type), each of which must end in one service's dead-letter queue with its reason.
"""

import asyncio
import json
import random
from dataclasses import dataclass, field

from stoppoc.contract.envelope import new_envelope
from stoppoc.shared.client import ContractClient
from tests.contract_data import SampleCluster, other, server, volume
from tests.faults.renewal_plan import RenewalCase, RenewalSender, plan_case

FLAVORS = ("general-2c4g", "general-4c8g", "general-8c16g")
VOLUME_TYPES = ("ssd-standard", "ssd-premium", "hdd-standard")
CYCLES = (1, 3, 6, 12)
CYCLE_NOT_OFFERED = 2
COUPON_REASONS = {"coupon_not_found", "coupon_not_supported"}
BROKE_CREDIT = 1_000  # less than any resource costs for a month
POISON_SOURCE = "/faults/poison"


@dataclass(frozen=True)
class Catalog:
    server_monthly: dict[str, int]
    volume_gib_monthly: dict[str, int]

    def most(self, resources: list[dict], months: int) -> int:
        """The most these resources can cost for ``months`` (discounts only lower it)."""
        total = 0
        for resource in resources:
            spec = resource["spec"]
            if resource["kind"] == "server":
                total += self.server_monthly[spec["flavor"]] * months
            elif resource["kind"] == "volume":
                total += self.volume_gib_monthly[spec["volume_type"]] * spec["size_gib"] * months
        return total


async def load_catalog(database) -> Catalog:
    servers = await database.fetch("SELECT flavor, monthly_price FROM checkout.server_prices")
    volumes = await database.fetch("SELECT volume_type, price_per_gib_month FROM checkout.volume_prices")
    return Catalog(
        {r["flavor"]: r["monthly_price"] for r in servers},
        {r["volume_type"]: r["price_per_gib_month"] for r in volumes},
    )


@dataclass
class Conversion:
    request: dict
    cluster: SampleCluster
    # What is special about it: "" (nothing), "coupon", "cycle", "same_request", "same_message",
    # "second_press", "deletion", "joiner", "subset", "expected_total", "price_changed".
    twist: str = ""
    # The other request of a second press on the same cluster.
    second: dict | None = None
    joiner: dict | None = None

    @property
    def request_id(self) -> str:
        return self.request["request_id"]


@dataclass(frozen=True)
class Poison:
    message_id: str
    exchange: str  # "commands" or "events"
    routing_key: str
    body: bytes
    service: str  # whose dead-letter queue it must end in
    error: str


@dataclass
class Customer:
    customer_id: str
    funding: str  # "rich", "partial" or "broke"
    credits: list[dict] = field(default_factory=list)  # distinct references
    duplicate_credits: list[dict] = field(default_factory=list)  # sent again, same reference
    # Sent once the credit whose reference they reuse is in: each refused with reference_conflict.
    conflicting_credits: list[dict] = field(default_factory=list)


@dataclass
class Plan:
    customers: dict[str, Customer]
    conversions: list[Conversion]
    poison: list[Poison]
    renewals: list[RenewalCase] = field(default_factory=list)

    @property
    def request_ids(self) -> list[str]:
        ids = [c.request_id for c in self.conversions]
        return ids + [c.second["request_id"] for c in self.conversions if c.second]

    @property
    def clusters(self) -> list[SampleCluster]:
        return [c.cluster for c in self.conversions]

    def conversion_of(self, request_id: str) -> Conversion:
        for conversion in self.conversions:
            if request_id in (conversion.request_id, conversion.second and conversion.second["request_id"]):
                return conversion
        raise KeyError(request_id)

    @property
    def commands(self) -> int:
        """Commands and poison messages the plan sends (duplicates included)."""
        registrations = sum(1 + len(c.cluster.resources) for c in self.conversions)
        credits = sum(
            len(c.credits) + len(c.duplicate_credits) + len(c.conflicting_credits) for c in self.customers.values()
        )
        twists = sum(
            c.twist in ("same_request", "same_message", "second_press", "deletion", "joiner") for c in self.conversions
        )
        renewals = sum(1 + len(c.cluster.resources) + bool(c.manual) for c in self.renewals)
        return registrations + credits + len(self.conversions) + twists + len(self.poison) + renewals


TWISTS = (
    ("coupon", 0.07),
    ("cycle", 0.03),
    ("same_request", 0.08),
    ("same_message", 0.05),
    ("second_press", 0.05),
    ("deletion", 0.08),
    ("joiner", 0.05),
)
# Given to plain conversions, a few of each in every plan (the small fault test's too).
CONSENT_TWISTS = ("subset", "expected_total", "price_changed")


def plan(conversions: int, seed: int, catalog: Catalog, seconds: float = 20.0) -> Plan:
    """``seconds``: how long the run's requests are spread over (renewals fall due within it)."""
    rng = random.Random(seed)
    customers: dict[str, Customer] = {}
    planned: list[Conversion] = []
    while len(planned) < conversions:
        customer_id = f"customer-{seed}-{len(customers) + 1}"
        funding = rng.choices(("rich", "partial", "broke"), weights=(6, 3, 1))[0]
        customers[customer_id] = Customer(customer_id, funding)
        for _ in range(min(rng.randint(2, 4), conversions - len(planned))):
            planned.append(_conversion(rng, customer_id, len(planned) + 1))
    _consent(rng, planned, catalog)
    renewals = [case for c in customers if (case := plan_case(rng, c, seconds))]
    for customer in customers.values():
        owned = [c for c in planned if c.cluster.customer_id == customer.customer_id]
        _fund(rng, customer, owned, [r for r in renewals if r.customer_id == customer.customer_id], catalog)
    _conflict(rng, list(customers.values()))
    kinds = [*POISON_KINDS, *rng.choices(POISON_KINDS, k=max(0, conversions // 20 - len(POISON_KINDS)))]
    poison = [_poison(kind, f"poison-{seed}-{i}") for i, kind in enumerate(kinds, 1)]
    return Plan(customers, planned, poison, renewals)


def _cluster(rng: random.Random, customer_id: str, number: int) -> SampleCluster:
    cluster = SampleCluster()
    cid = f"{customer_id}-cluster-{number}"
    cluster.cluster_id, cluster.customer_id = cid, customer_id
    cluster.cluster = {"cluster_id": cid, "customer_id": customer_id, "name": f"shop-{number}", "poc": True}
    cluster.servers, cluster.volumes = [], []
    for n in range(1, rng.randint(1, 3) + 1):
        cluster.servers.append(server(cid, rid=f"{cid}-srv-{n}", flavor=rng.choice(FLAVORS)))
        cluster.volumes.append(volume(cid, "boot", rid=f"{cid}-boot-{n}", size_gib=rng.choice((20, 50, 100))))
    for n in range(1, rng.randint(0, 2) + 1):
        cluster.volumes.append(
            volume(
                cid, "pvc", rid=f"{cid}-pvc-{n}", size_gib=rng.randint(10, 200), volume_type=rng.choice(VOLUME_TYPES)
            )
        )
    cluster.others = [other(cid, kind) for kind in ("load_balancer", "snapshot") if rng.random() < 0.5]
    return cluster


def _conversion(rng: random.Random, customer_id: str, number: int) -> Conversion:
    cluster = _cluster(rng, customer_id, number)
    roll, twist = rng.random(), ""
    for name, share in TWISTS:
        if roll < share:
            twist = name
            break
        roll -= share
    request = cluster.stop_request(
        request_id=f"{cluster.cluster_id}-request",
        usage_cycle_months=rng.choice(CYCLES),
        auto_renew=rng.random() < 0.5,
    )
    conversion = Conversion(request, cluster, twist)
    if twist == "coupon":
        request["coupon_code"] = f"NO-SUCH-COUPON-{number}"
    elif twist == "cycle":
        request["usage_cycle_months"] = CYCLE_NOT_OFFERED
    elif twist == "second_press":
        conversion.second = {**request, "request_id": f"{cluster.cluster_id}-request-again"}
    elif twist == "joiner":
        conversion.joiner = server(cluster.cluster_id, rid=f"{cluster.cluster_id}-joiner", flavor=rng.choice(FLAVORS))
    return conversion


def _consent(rng: random.Random, planned: list[Conversion], catalog: Catalog) -> None:
    """A few plain conversions confirm a subset of their cluster, or the total the portal showed:
    exact, or one dong off (the catalog changed in between: refused as price_changed)."""
    plain = [c for c in planned if not c.twist]
    each = min(max(1, len(planned) // 15), len(plain) // len(CONSENT_TWISTS))
    chosen = rng.sample(plain, each * len(CONSENT_TWISTS))
    for n, conversion in enumerate(chosen):
        conversion.twist = CONSENT_TWISTS[n % len(CONSENT_TWISTS)]
        request, cluster = conversion.request, conversion.cluster
        if conversion.twist == "subset":
            ids = cluster.convertible_ids  # a server and its boot volume at least
            request["resource_ids"] = sorted(rng.sample(ids, rng.randint(1, len(ids) - 1)))
        else:
            # One month, no coupon: the total is the catalog's price.
            request["usage_cycle_months"] = 1
            request["expected_total"] = catalog.most([*cluster.servers, *cluster.volumes], 1)
            request["expected_total"] -= conversion.twist == "price_changed"


def _fund(
    rng: random.Random, customer: Customer, conversions: list[Conversion], renewals: list[RenewalCase], catalog: Catalog
) -> None:
    most = sum(
        catalog.most(
            [*c.cluster.servers, *c.cluster.volumes, *([c.joiner] if c.joiner else [])], c.request["usage_cycle_months"]
        )
        for c in conversions
    )
    most += sum(catalog.most(r.cluster.resources, r.months_charged) for r in renewals)
    total = {"rich": most, "partial": most // 2, "broke": BROKE_CREDIT}[customer.funding]
    parts = rng.randint(1, 3)
    amounts = [total // parts] * (parts - 1) + [total - total // parts * (parts - 1)]
    customer.credits = [
        {"customer_id": customer.customer_id, "amount": amount, "reference": f"{customer.customer_id}-topup-{n}"}
        for n, amount in enumerate(amounts, 1)
        if amount > 0
    ]
    if rng.random() < 0.3:  # a retried top-up: the same reference credits once
        customer.duplicate_credits = [dict(rng.choice(customer.credits))]


def _conflict(rng: random.Random, customers: list[Customer]) -> None:
    """A few customers send a credit whose reference a credit used already: one of their own,
    for another amount, or another customer's, for the same amount."""
    for n, customer in enumerate(rng.sample(customers, min(len(customers), 2 * max(1, len(customers) // 6)))):
        others = [c for c in customers if c is not customer]
        owner = customer if n % 2 == 0 or not others else rng.choice(others)
        used = rng.choice(owner.credits)
        amount = used["amount"] + 1 if owner is customer else used["amount"]
        customer.conflicting_credits.append(
            {"customer_id": customer.customer_id, "amount": amount, "reference": used["reference"]}
        )


def _envelope(routing_key: str, data: dict, message_id: str) -> bytes:
    return new_envelope(routing_key, data, source=POISON_SOURCE, message_id=message_id).to_json()


def _poison(kind: str, message_id: str) -> Poison:
    if kind == "not_json":
        return Poison(
            message_id,
            "commands",
            "inventory.stop_poc.request",
            b'{"specversion": "1.0", "id": ',
            "inventory",
            "invalid_envelope",
        )
    if kind == "not_a_cloudevent":
        return Poison(
            message_id,
            "events",
            "stop_poc.requested",
            json.dumps({"hello": "world"}).encode(),
            "checkout",
            "invalid_envelope",
        )
    if kind == "wrong_types_request":
        data = {
            "request_id": message_id,
            "customer_id": "c",
            "cluster_id": "k",
            "usage_cycle_months": "three",
            "auto_renew": "maybe",
        }
        return Poison(
            message_id,
            "commands",
            "inventory.stop_poc.request",
            _envelope("inventory.stop_poc.request", data, message_id),
            "inventory",
            "invalid_data",
        )
    if kind == "wrong_types_credit":
        data = {"customer_id": "c", "amount": "lots", "reference": message_id}
        return Poison(
            message_id,
            "commands",
            "payment.wallet.credit",
            _envelope("payment.wallet.credit", data, message_id),
            "payment",
            "invalid_data",
        )
    if kind == "unknown_type":
        return Poison(
            message_id,
            "commands",
            "inventory.cluster.explode",
            _envelope("inventory.cluster.explode", {"cluster_id": "k"}, message_id),
            "inventory",
            "unknown_type",
        )
    raise ValueError(kind)


POISON_KINDS = ("not_json", "not_a_cloudevent", "wrong_types_request", "wrong_types_credit", "unknown_type")


class Sender:
    """Sends a plan through the contract, as the platform, the portal and billing would."""

    def __init__(self, client: ContractClient, rng: random.Random) -> None:
        self.client = client
        self.rng = rng
        self._background: list[asyncio.Task] = []
        self._renewals = RenewalSender(client)

    async def register(self, plan_: Plan) -> None:
        messages = [("inventory.cluster.upsert", c.cluster) for c in plan_.clusters]
        messages += [("inventory.resource.upsert", r) for c in plan_.clusters for r in c.resources]
        self.rng.shuffle(messages)  # the platform's messages arrive in any order
        for routing_key, data in messages:
            await self.client.send(routing_key, data)

    async def fund(self, plan_: Plan) -> None:
        for customer in plan_.customers.values():
            for credit in [*customer.credits, *customer.duplicate_credits]:
                await self.client.send("payment.wallet.credit", credit)

    async def press(self, plan_: Plan, seconds: float) -> None:
        """Every stop request with its twist, and the poison, spread over about ``seconds``,
        so that faults land while conversions are in flight."""
        actions = [self._conversion(c) for c in plan_.conversions] + [self._poison(p) for p in plan_.poison]
        actions += [self._conflicting(c) for customer in plan_.customers.values() for c in customer.conflicting_credits]
        actions += [self._renewals.register(case) for case in plan_.renewals]
        self.rng.shuffle(actions)
        gap = seconds / len(actions)
        for action in actions:
            await action
            await asyncio.sleep(self.rng.uniform(0, 2 * gap))
        await asyncio.gather(*self._background, *self._renewals.background)

    async def _conversion(self, conversion: Conversion) -> None:
        sent = await self.client.send("inventory.stop_poc.request", conversion.request)
        if conversion.twist == "same_message":
            await self.client.send("inventory.stop_poc.request", conversion.request, message_id=sent.id)
        elif conversion.twist == "same_request":
            self._later(self.client.send("inventory.stop_poc.request", conversion.request))
        elif conversion.twist == "second_press":
            await self.client.send("inventory.stop_poc.request", conversion.second)
        elif conversion.twist == "deletion":
            doomed = self.rng.choice(conversion.cluster.convertible_ids)
            self._later(self.client.send("inventory.resource.delete", {"resource_id": doomed}))
        elif conversion.twist == "joiner":
            self._later(self.client.send("inventory.resource.upsert", conversion.joiner))

    async def _conflicting(self, credit: dict) -> None:
        """After the credit whose reference it reuses is in (else that one would be refused)."""
        reference = credit["reference"]

        async def once_credited() -> None:
            await self.client.wait_for("wallet.credited", lambda d: d["reference"] == reference, timeout=120)
            await self.client.send("payment.wallet.credit", credit)

        self._background.append(asyncio.create_task(once_credited()))

    async def _poison(self, poison: Poison) -> None:
        exchange = {"commands": self.client.names.commands, "events": self.client.names.events}[poison.exchange]
        await self.client.publish(exchange, poison.routing_key, poison.body, message_id=poison.message_id)

    def _later(self, send) -> None:
        async def after_a_while() -> None:
            await asyncio.sleep(self.rng.uniform(0, 0.3))
            await send

        self._background.append(asyncio.create_task(after_a_while()))
