"""``stoppoc catalog``, ``orders`` and ``coupons`` as billing staff run them: a subprocess against
the test database, after checkout and payment have done their work."""

import asyncio
import json
import os
import sys

import pytest

from tests.contract_data import publish_event, wait_until
from tests.infrastructure import running
from tests.integration.test_checkout import BOOT, SERVER, for_request, requested
from tests.integration.test_coupons import coupon, upsert

pytestmark = pytest.mark.integration

# The sample prices migrations/0003_sample_catalog.sql ships.
SAMPLE_SERVERS = 5
SAMPLE_VOLUMES = 3


async def stoppoc(settings, *args: str) -> tuple[int, str, str]:
    environment = {**os.environ, "STOPPOC_DATABASE_URL": settings.database_url}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stoppoc.cli",
        *args,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, out.decode(), err.decode()


async def test_the_catalog_shows_as_the_sample_file_and_loads_changes(settings, client, tmp_path):
    code, out, _ = await stoppoc(settings, "catalog", "show", "--json")
    shown = json.loads(out)
    assert code == 0 and (len(shown["servers"]), len(shown["volumes"])) == (SAMPLE_SERVERS, SAMPLE_VOLUMES)
    assert {"flavor": "general-4c8g", "vcpu": 4, "ram_gib": 8, "monthly_price": 1_200_000} in shown["servers"]

    changes = {
        "servers": [
            {"flavor": "general-4c8g", "vcpu": 4, "ram_gib": 8, "monthly_price": 1_250_000},
            {"flavor": "gpu-a100", "vcpu": 8, "ram_gib": 64, "monthly_price": 40_000_000},
            {"flavor": "general-2c4g", "vcpu": 2, "ram_gib": 4, "monthly_price": 600_000},
        ],
        "volumes": [{"volume_type": "ssd-standard", "price_per_gib_month": 3_100}],
    }
    (tmp_path / "prices.json").write_text(json.dumps(changes))
    code, out, err = await stoppoc(settings, "catalog", "load", str(tmp_path / "prices.json"))
    assert code == 0, err
    assert "3 server flavors and 1 volume types; 1 added, 2 changed, 1 unchanged" in out

    code, out, _ = await stoppoc(settings, "catalog", "show")
    assert code == 0 and "1,250,000" in out and "gpu-a100" in out and "40,000,000" in out

    data = requested(usage_cycle_months=1, resources=[SERVER, BOOT])
    async with running(settings, "checkout"):
        await publish_event(client, "stop_poc.requested", data)
        created = await client.wait_for("order.created", for_request(data["request_id"]))
    assert [line["amount"] for line in created.data["lines"]] == [1_250_000, 20 * 3_100]


NEW_FLAVOR = '{"flavor": "new-1c1g", "vcpu": 1, "ram_gib": 1, "monthly_price": 100000}'


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        # A valid entry before the bad one is not loaded either.
        (
            f'{{"servers": [{NEW_FLAVOR}, {{"flavor": "x", "vcpu": 1, "ram_gib": 1, "monthly_price": 1.5}}]}}',
            "servers.1.monthly_price: Input should be a valid integer",
        ),
        (
            f'{{"servers": [{NEW_FLAVOR}], "volumes": [{{"volume_type": "x", "price_per_gib_month": -1}}]}}',
            "volumes.0.price_per_gib_month: Input should be greater than 0",
        ),
        ("not json", "not JSON"),
    ],
)
async def test_a_bad_price_list_is_refused_whole_with_a_clear_error(settings, tmp_path, content, complaint):
    path = tmp_path / "prices.json"
    path.write_text(content)

    _, before, _ = await stoppoc(settings, "catalog", "show", "--json")
    code, out, err = await stoppoc(settings, "catalog", "load", str(path))

    assert (code, out) == (1, "")
    assert err.startswith(f"stoppoc: {path}: ") and complaint in err
    code, out, _ = await stoppoc(settings, "catalog", "show", "--json")
    assert json.loads(out) == json.loads(before)


async def test_billing_staff_list_and_show_orders_coupons_and_payments(settings, client, database):
    paid = requested(customer_id="cus-1", coupon_code="spring", resources=[SERVER, BOOT])
    other = requested(customer_id="cus-2")
    async with running(settings, "checkout", "payment"):
        await upsert(client, database, coupon("SPRING", max_redemptions=10))
        await client.send("payment.wallet.credit", {"customer_id": "cus-1", "amount": 50_000_000, "reference": "r"})
        await client.wait_for("wallet.credited")
        for data in (paid, other):
            await publish_event(client, "stop_poc.requested", data)
        order = (await client.wait_for("order.created", for_request(paid["request_id"]))).data
        await client.wait_for("payment.settled", for_request(paid["request_id"]))
        await client.wait_for("order.created", for_request(other["request_id"]))
        await wait_until(lambda: redeemed(database), what="the coupon redeemed")

    code, out, _ = await stoppoc(settings, "orders", "list", "--customer", "cus-1", "--json")
    listed = json.loads(out)
    assert code == 0 and [(o["order_id"], o["payment"], o["total"]) for o in listed] == [
        (order["order_id"], "settled", order["total"]),
    ]
    code, out, _ = await stoppoc(settings, "orders", "list", "--json")
    assert sorted(o["customer_id"] for o in json.loads(out)) == ["cus-1", "cus-2"]

    code, out, _ = await stoppoc(settings, "orders", "show", order["order_id"], "--json")
    shown = json.loads(out)
    assert code == 0 and shown["lines"] == order["lines"] and shown["coupon_code"] == "SPRING"
    assert (shown["total"], shown["payment"]["status"], shown["payment"]["amount"]) == (
        order["total"],
        "settled",
        order["total"],
    )
    code, out, _ = await stoppoc(settings, "orders", "show", order["order_id"])
    assert code == 0 and "payment: settled" in out and f"{order['lines'][0]['amount']:,}" in out

    code, out, _ = await stoppoc(settings, "coupons", "list", "--json")
    assert [(c["code"], c["redeemed"], c["reserved"], c["released"]) for c in json.loads(out)] == [
        ("SPRING", 1, 0, 0),
    ]
    code, out, _ = await stoppoc(settings, "coupons", "show", "spring", "--json")
    shown = json.loads(out)
    assert code == 0 and [(r["order_id"], r["customer_id"], r["status"]) for r in shown["redemptions"]] == [
        (order["order_id"], "cus-1", "redeemed"),
    ]
    assert shown["redemptions"][0]["discount"] == sum(line["coupon_discount"] for line in order["lines"]) > 0
    code, out, _ = await stoppoc(settings, "coupons", "show", "SPRING")
    assert code == 0 and "redeemed" in out and "cus-1" in out

    for args in (("orders", "show", "no-such-order"), ("coupons", "show", "nope")):
        code, out, err = await stoppoc(settings, *args)
        assert (code, out) == (1, "") and err.startswith("stoppoc: no ")


async def redeemed(database) -> bool:
    return await database.fetchval("SELECT count(*) FROM checkout.coupon_redemptions WHERE status = 'redeemed'") == 1
