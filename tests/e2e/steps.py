"""What a portal, the platform and billing do through the contract, in a few words each: the
steps the black-box tests of rounds, consent, the wallet's order and renewals are made of."""

from datetime import UTC, datetime, timedelta

from stoppoc.contract.envelope import Envelope
from stoppoc.shared.client import ContractClient
from tests.contract_data import SampleCluster, server, unique_id, volume, wait_until
from tests.e2e.processes import ServiceProcesses

# What a purchase goes through; these tests read events, not notifications, so the notifier is left out.
PURCHASE = ("inventory", "checkout", "payment")
# Sample catalog prices (services/checkout/migrations): per month, VAT included.
GENERAL_2C4G, HDD_STANDARD_GIB = 600_000, 1_500


def with_settings(services: ServiceProcesses, **changes: object) -> None:
    """Settings for the processes started from now on (before ``services.start()``)."""
    services.settings = services.settings.model_copy(update=changes)


def seconds_from_now(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def of(request_id: str):
    return lambda d: d.get("request_id") == request_id


def about(renewal_id: str):
    return lambda d: d.get("renewal_id") == renewal_id


async def credit(client: ContractClient, customer_id: str, amount: int) -> dict:
    reference = unique_id("topup")
    await client.send("payment.wallet.credit", {"customer_id": customer_id, "amount": amount, "reference": reference})
    return (await client.wait_for("wallet.credited", lambda d: d["reference"] == reference)).data


async def quote(
    client: ContractClient,
    cluster: SampleCluster,
    *,
    months: int = 1,
    coupon: str | None = None,
    resource_ids: list[str] | None = None,
) -> dict:
    reply = await client.request(
        "inventory.stop_poc.quote",
        {
            "customer_id": cluster.customer_id,
            "cluster_id": cluster.cluster_id,
            "usage_cycle_months": months,
            "coupon_code": coupon,
            "resource_ids": resource_ids,
        },
    )
    assert reply.type == "stoppoc.stop_poc.quoted.v1", reply.data
    return reply.data


async def press(client: ContractClient, cluster: SampleCluster, **terms: object) -> dict:
    """Stop POC pressed: the request sent."""
    request = cluster.stop_request(**terms)
    await client.send("inventory.stop_poc.request", request)
    return request


async def upsert_coupon(client: ContractClient, database, **coupon: object) -> str:
    code = str(coupon.setdefault("code", unique_id("COUPON").upper()))
    await client.send("checkout.coupon.upsert", coupon)

    async def stored() -> bool:
        return bool(await database.fetchval("SELECT count(*) FROM checkout.coupons WHERE code = upper($1)", code))

    await wait_until(stored, what=f"coupon {code} stored")
    return code


def small_cluster() -> SampleCluster:
    """A POC cluster with one 20 GiB HDD volume (30,000 VND a month): a round cheaper than a coupon."""
    cluster = SampleCluster()
    cluster.servers, cluster.others = [], []
    cluster.volumes = [volume(cluster.cluster_id, "pvc", size_gib=20, volume_type="hdd-standard")]
    return cluster


async def join(client: ContractClient, cluster: SampleCluster) -> dict:
    """A node the autoscaler added to the cluster, as POC, registered."""
    newcomer = server(cluster.cluster_id)
    await client.send("inventory.resource.upsert", newcomer)
    await client.wait_for("resource.registered", lambda d: d["resource_id"] == newcomer["resource_id"])
    return newcomer


def paid_cluster(paid_until: str, *, auto_renew: bool, months: int = 1) -> SampleCluster:
    """A cluster the platform already sells: a real server and its boot volume, paid until ``paid_until``."""
    cluster = SampleCluster(poc=False)
    billing = {"paid_until": paid_until, "usage_cycle_months": months, "auto_renew": auto_renew}
    cluster.servers = [{**server(cluster.cluster_id, billing="real"), **billing}]
    cluster.volumes = [{**volume(cluster.cluster_id, "boot", billing="real"), **billing}]
    cluster.others = []
    return cluster


async def outcome(client: ContractClient, request: dict) -> Envelope:
    return await client.wait_for_outcome(request["request_id"])


async def balance(database, customer_id: str) -> int:
    return await database.fetchval(
        "SELECT coalesce(max(balance), 0) FROM payment.wallets WHERE customer_id = $1", customer_id
    )
