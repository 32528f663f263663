"""Step 4 and 5 of the product page, black-box: quotes, usage cycles, auto-renew, coupons and
the credit wallet, through four service processes and the public contract only. Every charge
is checked against its quote, VND for VND."""

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta

import pytest

from tests.contract_data import SampleCluster, unique_id, wait_until

pytestmark = pytest.mark.e2e


async def credit(client, customer_id: str, amount: int) -> dict:
    reference = unique_id("topup")
    await client.send("payment.wallet.credit", {"customer_id": customer_id, "amount": amount, "reference": reference})
    return (await client.wait_for("wallet.credited", lambda d: d["reference"] == reference)).data


async def quote(client, cluster: SampleCluster, months: int, coupon: str | None = None):
    return await client.request(
        "inventory.stop_poc.quote",
        {
            "customer_id": cluster.customer_id,
            "cluster_id": cluster.cluster_id,
            "usage_cycle_months": months,
            "coupon_code": coupon,
        },
    )


async def upsert_coupon(client, database, **coupon) -> str:
    code = coupon.setdefault("code", unique_id("COUPON").upper())
    await client.send("checkout.coupon.upsert", coupon)

    async def stored() -> bool:
        return bool(
            await database.fetchval("SELECT count(*) FROM checkout.coupons WHERE upper(code) = upper($1)", code)
        )

    await wait_until(stored, what=f"coupon {code} stored")
    return code


async def convert(client, cluster: SampleCluster, months: int, auto_renew: bool, coupon: str | None = None):
    request = cluster.stop_request(usage_cycle_months=months, auto_renew=auto_renew, coupon_code=coupon)
    await client.send("inventory.stop_poc.request", request)
    return request, await client.wait_for_outcome(request["request_id"])


def of(request: dict):
    return lambda d: d.get("request_id") == request["request_id"]


async def ready_cluster(client, funds: int = 500_000_000) -> SampleCluster:
    cluster = SampleCluster()
    await cluster.register(client)
    await credit(client, cluster.customer_id, funds)
    return cluster


@pytest.mark.parametrize(("months", "auto_renew"), [(1, False), (3, True), (6, False), (12, True), (24, True)])
async def test_each_cycle_charges_exactly_its_quote(services, client, database, months, auto_renew):
    await services.start()
    cluster = await ready_cluster(client)
    quoted = await quote(client, cluster, months)
    request, outcome = await convert(client, cluster, months, auto_renew)

    assert quoted.type == "stoppoc.stop_poc.quoted.v1", quoted.data
    assert outcome.routing_key == "cluster.poc_stopped", outcome.data
    order = (await client.wait_for("order.created", of(request))).data
    paid = (await client.wait_for("payment.settled", of(request))).data
    q = quoted.data
    assert q["total"] == order["total"] == paid["amount"] == sum(line["total"] for line in q["lines"])

    def figures(lines: list[dict]) -> list[tuple]:
        return sorted((line["resource_id"], line["total"], line["tax"]) for line in lines)

    assert figures(q["lines"]) == figures(order["lines"])
    assert q["wallet_covers"] is True and q["wallet_balance"] - paid["balance_after"] == q["total"]
    converted = (await client.wait_for("resources.converted", of(request))).data
    assert (converted["usage_cycle_months"], converted["auto_renew"]) == (months, auto_renew)
    shown = await _cli(services, "clusters", "show", cluster.cluster_id, "--json")
    for resource in shown:
        if resource["resource_id"] in cluster.convertible_ids:
            assert (resource["billing"], resource["auto_renew"], resource["usage_cycle_months"]) == (
                "real",
                auto_renew,
                months,
            )
            assert resource["paid_until"][:10] == converted["paid_until"][:10]


async def test_longer_cycles_cost_less_a_month(services, client):
    await services.start()
    cluster = await ready_cluster(client)
    monthly = {m: (await quote(client, cluster, m)).data["total"] / m for m in (1, 12)}
    assert monthly[12] < monthly[1]


async def test_a_cycle_that_is_not_offered_is_refused_by_quote_and_by_order(services, client):
    await services.start()
    cluster = await ready_cluster(client)
    quoted = await quote(client, cluster, 5)
    _, outcome = await convert(client, cluster, 5, False)
    assert (quoted.type, quoted.data["reason"]) == ("stoppoc.stop_poc.quote_rejected.v1", "invalid_usage_cycle")
    assert (outcome.routing_key, outcome.data["reason"]) == ("stop_poc.failed", "invalid_usage_cycle")


async def test_a_valid_coupon_is_charged_as_quoted_and_split_across_the_lines(services, client, database):
    await services.start()
    cluster = await ready_cluster(client)
    percent = await upsert_coupon(client, database, kind="percent", value=15)
    quoted = (await quote(client, cluster, 3, percent)).data
    request, outcome = await convert(client, cluster, 3, True, percent)

    assert outcome.routing_key == "cluster.poc_stopped", outcome.data
    order = (await client.wait_for("order.created", of(request))).data
    assert order["coupon_code"].upper() == percent
    assert quoted["total"] == order["total"] == sum(line["total"] for line in order["lines"])
    assert order["discount"] == sum(line["discount"] for line in order["lines"]) > 0
    assert all(0 <= line["total"] <= line["amount"] for line in order["lines"])
    redemptions = await _cli(services, "coupons", "show", percent, "--json")
    assert redemptions, "the coupon shows its redemption"


async def test_a_fixed_coupon_takes_exactly_its_value_off(services, client, database):
    await services.start()
    cluster = await ready_cluster(client)
    fixed = await upsert_coupon(client, database, kind="fixed", value=150_000)
    without = (await quote(client, cluster, 1)).data
    with_coupon = (await quote(client, cluster, 1, fixed)).data
    request, _ = await convert(client, cluster, 1, False, fixed)

    assert without["total"] - with_coupon["total"] == 150_000
    paid = (await client.wait_for("payment.settled", of(request))).data
    assert paid["amount"] == with_coupon["total"]


async def test_coupons_that_cannot_be_used_are_refused_each_with_its_reason(services, client, database):
    await services.start()
    now = datetime.now(UTC)
    expired = await upsert_coupon(
        client, database, kind="percent", value=10, valid_until=(now - timedelta(days=1)).isoformat()
    )
    exhausted = await upsert_coupon(client, database, kind="percent", value=10, max_redemptions=1)
    first = await ready_cluster(client)
    _, used = await convert(client, first, 1, False, exhausted)
    assert used.routing_key == "cluster.poc_stopped", used.data

    cluster = await ready_cluster(client)
    reasons = {}
    for name, code in (("expired", expired), ("exhausted", exhausted), ("unknown", unique_id("NOPE"))):
        quoted = await quote(client, cluster, 1, code)
        _, outcome = await convert(client, cluster, 1, False, code)
        assert quoted.data["reason"] == outcome.data["reason"]
        assert outcome.routing_key == "stop_poc.failed"
        reasons[name] = outcome.data["reason"]

    assert reasons == {"expired": "coupon_expired", "exhausted": "coupon_exhausted", "unknown": "coupon_not_found"}
    assert not client.seen("payment.settled", lambda d: d["cluster_id"] == cluster.cluster_id)


async def test_a_short_wallet_topped_up_in_time_pays_and_the_coupon_is_kept_for_a_failed_one(
    services, client, database
):
    services.settings = services.settings.model_copy(update={"funds_wait_seconds": 30})
    await services.start()
    once = await upsert_coupon(client, database, kind="percent", value=20, max_redemptions=1)
    cluster = SampleCluster()
    await cluster.register(client)
    quoted = (await quote(client, cluster, 3, once)).data
    assert quoted["wallet_covers"] is False and quoted["wallet_balance"] == 0

    request = cluster.stop_request(usage_cycle_months=3, auto_renew=True, coupon_code=once)
    await client.send("inventory.stop_poc.request", request)
    waiting = (await client.wait_for("payment.awaiting_funds", of(request))).data
    assert waiting["shortfall"] == quoted["total"]
    await credit(client, cluster.customer_id, waiting["shortfall"])
    outcome = await client.wait_for_outcome(request["request_id"])

    assert outcome.routing_key == "cluster.poc_stopped", outcome.data
    paid = (await client.wait_for("payment.settled", of(request))).data
    assert paid["amount"] == quoted["total"] and paid["balance_after"] == 0


async def test_a_short_wallet_not_topped_up_in_time_fails_and_releases_its_coupon(services, client, database):
    services.settings = services.settings.model_copy(update={"funds_wait_seconds": 1})
    await services.start()
    once = await upsert_coupon(client, database, kind="percent", value=20, max_redemptions=1)
    cluster = SampleCluster()
    await cluster.register(client)
    await credit(client, cluster.customer_id, 1_000)
    quoted = (await quote(client, cluster, 1, once)).data
    request, outcome = await convert(client, cluster, 1, False, once)

    assert (outcome.routing_key, outcome.data["reason"]) == ("stop_poc.failed", "insufficient_funds")
    failed = (await client.wait_for("payment.failed", of(request))).data
    assert (failed["amount"], failed["shortfall"]) == (quoted["total"], quoted["total"] - 1_000)
    # The failed payment did not use the coupon up: a top-up and a new press get it.
    await credit(client, cluster.customer_id, quoted["total"])
    retry, outcome = await convert(client, cluster, 1, False, once)
    assert outcome.routing_key == "cluster.poc_stopped", outcome.data
    assert (await client.wait_for("payment.settled", of(retry))).data["amount"] == quoted["total"]


async def _cli(services, *args: str):
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stoppoc.cli",
        *args,
        env=services.environment(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return json.loads(out)
