"""docs/analysts.md, as an analyst uses it: a queue of their own (``settlements tail``) receives
every settlement and refund of a batch, across a restart of the tail, exactly as ``settlements
export`` reports them, and ``reconcile`` finds nothing amiss."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

import aio_pika
import pytest
from aiormq.exceptions import ChannelNotFoundEntity

from tests.cli import stoppoc
from tests.contract_data import SampleCluster, unique_id, wait_until
from tests.faults.probes import fund

pytestmark = pytest.mark.e2e

LINE_FIGURES = ("amount", "cycle_discount", "coupon_discount", "tax", "total")


async def test_the_tail_queue_gets_every_settlement_and_refund_as_export_reports_them_and_reconcile_agrees(
    services, client, names, settings, database
):
    since = datetime.now(UTC) - timedelta(seconds=1)
    queue = f"{names.namespace}.{unique_id('analyst')}"
    await services.start()
    await client.send("checkout.coupon.upsert", {"code": "SPRING15", "kind": "percent", "value": 15})
    await wait_until(lambda: coupon_known(database), what="the coupon in checkout")
    first_tail = asyncio.create_task(
        stoppoc(settings, "settlements", "tail", "--queue", queue, "--from-now", "--limit", "2", timeout=240)
    )
    await wait_until(lambda: exists(settings, queue), what="the analyst's queue declared")
    try:
        requests = []
        for cycle, coupon, funds in ((3, "SPRING15", 50_000_000), (12, None, 50_000_000), (1, None, 1_000)):
            cluster = SampleCluster()
            await cluster.register(client)
            await fund(client, cluster.customer_id, funds)
            request = cluster.stop_request(usage_cycle_months=cycle, coupon_code=coupon)
            await client.send("inventory.stop_poc.request", request)
            requests.append(request)
        outcomes = await client.wait_for_outcomes([r["request_id"] for r in requests])
        assert sorted(o.routing_key for o in outcomes.values()) == ["cluster.poc_stopped"] * 2 + ["stop_poc.failed"]
        settled = [e.data for e in client.seen("payment.settled")]
        # A line given back, as inventory does for a resource gone while its round was paid.
        given_back = settled[0]["lines"][0]
        refund = f"refund:{settled[0]['payment_id']}:{given_back['resource_id']}"
        credit = {"customer_id": settled[0]["customer_id"], "amount": given_back["total"], "reference": refund}
        await client.send("payment.wallet.credit", credit)
        await client.wait_for("wallet.credited", lambda d: d["reference"] == refund)

        first = await first_tail  # it stopped after two events; the others wait in its queue
        second = await stoppoc(settings, "settlements", "tail", "--queue", queue, "--limit", "1")
    finally:
        first_tail.cancel()  # if the test failed before it ended: the command is killed
        await delete_queue(settings, queue)
    until = datetime.now(UTC) + timedelta(seconds=1)
    window = ("--since", since.isoformat(), "--until", until.isoformat())
    exported = await stoppoc(settings, "settlements", "export", *window, "--format", "jsonl")
    as_csv = await stoppoc(settings, "settlements", "export", *window)
    reconciled = await stoppoc(settings, "reconcile", *window, "--json")

    assert first.code == second.code == 0, first.err + second.err
    # Two settlements (the third conversion could not be paid) and the refund; the top-ups are not in the feed.
    tailed = [json.loads(line) for ran in (first, second) for line in ran.out.splitlines()]
    assert len(tailed) == 3 and len({e["id"] for e in tailed}) == 3
    settlements = [e["data"] for e in tailed if e["type"] == "stoppoc.payment.settled.v1"]
    refunds = [e["data"] for e in tailed if e["type"] == "stoppoc.wallet.credited.v1"]
    assert sorted(s["payment_id"] for s in settlements) == sorted(s["payment_id"] for s in settled)
    assert [r["reference"] for r in refunds] == [refund]

    rows = [json.loads(line) for line in exported.out.splitlines()]
    assert exported.code == 0 and len(rows) == sum(len(s["lines"]) for s in settlements) + 1
    by_line = {(row["payment_id"], row["resource_id"], row["kind"]): row for row in rows}
    for event in settlements:
        # Self-contained: the order's figures add up from its lines.
        assert event["vat_percent"] == 10 and event["subtotal"] - event["discount"] == event["amount"]
        assert sum(line["tax"] for line in event["lines"]) == event["tax"]
        for line in event["lines"]:
            row = by_line[(event["payment_id"], line["resource_id"], event["kind"])]
            assert {k: row[k] for k in LINE_FIGURES} == {k: line[k] for k in LINE_FIGURES}
            assert (row["order_id"], row["customer_id"], row["cluster_id"]) == (
                event["order_id"],
                event["customer_id"],
                event["cluster_id"],
            )
            assert datetime.fromisoformat(row["settled_at"]) == datetime.fromisoformat(event["settled_at"])
            assert row["resource_kind"] == line["kind"]
    couponed = next(e for e in settlements if e["coupon_code"] == "SPRING15")
    assert couponed["usage_cycle_months"] == 3 and all(line["coupon_discount"] > 0 for line in couponed["lines"])
    refund_row = by_line[(settled[0]["payment_id"], given_back["resource_id"], "refund")]
    assert refund_row["total"] == -given_back["total"] and refund_row["tax"] == -given_back["tax"]
    assert as_csv.out.splitlines()[0] == (
        "payment_id,order_id,kind,customer_id,cluster_id,resource_id,amount,cycle_discount,coupon_discount,"
        "tax,total,settled_at,resource_kind"
    )
    assert len(as_csv.out.splitlines()) == len(rows) + 1

    assert reconciled.code == 0, reconciled.out
    report = reconciled.json()
    assert report["mismatches"] == []
    assert sum(day["settled"] for day in report["days"]) == sum(s["amount"] for s in settlements)
    assert sum(day["refunded"] for day in report["days"]) == given_back["total"]
    assert sum(day["orders"] for day in report["days"]) == 3


async def coupon_known(database) -> bool:
    return bool(await database.fetchval("SELECT count(*) FROM checkout.coupons WHERE code = 'SPRING15'"))


async def exists(settings, queue: str) -> bool:
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        try:
            await (await connection.channel()).declare_queue(queue, passive=True)
        except ChannelNotFoundEntity:
            return False
        return True


async def delete_queue(settings, queue: str) -> None:
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        await (await connection.channel()).queue_delete(queue)
