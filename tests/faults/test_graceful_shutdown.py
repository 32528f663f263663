"""SIGTERM in the middle of a burst: the service stops taking messages, acknowledges those it
handled, flushes its outbox and exits 0 before the deadline (past it, it would be killed);
started again, it takes the rest, and every conversion reaches its final event once. A message
still in hand when the graceful timeout (STOPPOC_GRACEFUL_TIMEOUT_SECONDS) is over is handed back, not
waited for again."""

import time

import pytest

from tests.contract_data import SampleCluster, unique_id, wait_until
from tests.faults.probes import fund, lock_wallet, queued_ids, waiting_on_locks

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

DEADLINE = 30.0  # seconds between SIGTERM and SIGKILL


async def test_sigterm_in_a_burst_leaves_nothing_in_hand_and_nothing_unpublished(settings, services, client, database):
    await services.start()
    clusters = [SampleCluster() for _ in range(20)]
    for cluster in clusters:
        await cluster.register(client)
        await fund(client, cluster.customer_id, 50_000_000)
    requests = [cluster.stop_request() for cluster in clusters]
    for request in requests:
        await client.send("inventory.stop_poc.request", request)
    await client.wait_for("payment.settled")  # the burst is flowing through every service

    began = time.monotonic()
    codes = await services.stop("inventory", "payment", timeout=DEADLINE)
    print(f"inventory and payment stopped {time.monotonic() - began:.2f} s after SIGTERM")
    stopped = {}
    for service in ("inventory", "payment"):
        handled = {r["message_id"] for r in await database.fetch(f"SELECT message_id FROM {service}.inbox")}
        waiting = await queued_ids(settings.amqp_url, services.names.queue(service))
        pending = await database.fetchval(f"SELECT count(*) FROM {service}.outbox WHERE published_at IS NULL")
        stopped[service] = (handled & waiting, pending)
    in_flight = [r for r in requests if r["request_id"] not in client.outcomes]
    await services.start("inventory", "payment")
    outcomes = await client.wait_for_outcomes([r["request_id"] for r in requests])

    assert codes == {"inventory": 0, "payment": 0}  # graceful, within the deadline
    # Nothing it handled went back to its queue unacknowledged; nothing it wrote stayed unpublished.
    assert stopped == {"inventory": (set(), 0), "payment": (set(), 0)}
    assert in_flight  # the SIGTERM did land mid-burst
    assert {e.routing_key for e in outcomes.values()} == {"cluster.poc_stopped"}
    assert all(len(client.outcomes[r["request_id"]]) == 1 for r in requests)
    assert len({e.id for e in client.seen("payment.settled")}) == len(requests)


async def test_a_message_stuck_past_the_graceful_timeout_is_handed_back_and_handled_after_the_restart(
    settings, services, client, database
):
    services.extra_env["STOPPOC_GRACEFUL_TIMEOUT_SECONDS"] = "4"  # rather than 20 s, for the test's time
    await services.start("payment")
    customer = unique_id("customer")
    await fund(client, customer, 5)
    holder = await lock_wallet(settings.database_url, customer)  # its credit cannot finish
    stuck = {"customer_id": customer, "amount": 7, "reference": unique_id("topup")}
    await client.send("payment.wallet.credit", stuck)
    await wait_until(lambda: waiting_on_locks(database, "payment"), what="the credit in hand")

    began = time.monotonic()
    codes = await services.stop("payment", timeout=DEADLINE)
    print(f"payment stopped {time.monotonic() - began:.2f} s after SIGTERM, a message stuck in hand")
    await holder.execute("ROLLBACK")
    await holder.close()
    await services.start("payment")
    credited = await client.wait_for("wallet.credited", lambda d: d["reference"] == stuck["reference"])

    assert codes == {"payment": 0}  # within the deadline: the stuck message was not waited for twice
    assert credited.data["balance_after"] == 12
    assert len(client.seen("wallet.credited", lambda d: d["reference"] == stuck["reference"])) == 1
