"""Builders of contract messages for the tests: a sample cluster and its resources."""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

from stoppoc.contract.envelope import Envelope, new_envelope
from stoppoc.shared.client import ContractClient


def unique_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def server(cluster_id: str, rid: str | None = None, flavor: str = "general-2c4g", billing: str = "poc") -> dict:
    return {
        "resource_id": rid or unique_id("srv"),
        "cluster_id": cluster_id,
        "kind": "server",
        "billing": billing,
        "spec": {"flavor": flavor, "vcpu": 2, "ram_gib": 4},
    }


def volume(
    cluster_id: str,
    role: str,
    rid: str | None = None,
    size_gib: int = 50,
    volume_type: str = "ssd-standard",
    billing: str = "poc",
) -> dict:
    return {
        "resource_id": rid or unique_id(role),
        "cluster_id": cluster_id,
        "kind": "volume",
        "billing": billing,
        "spec": {"size_gib": size_gib, "volume_type": volume_type, "role": role},
    }


def other(cluster_id: str, kind: str) -> dict:
    return {"resource_id": unique_id(kind), "cluster_id": cluster_id, "kind": kind, "billing": "poc", "spec": {}}


class SampleCluster:
    """A POC cluster with two servers, their boot volumes, a PVC, a load balancer and a snapshot."""

    def __init__(self, poc: bool = True) -> None:
        self.cluster_id = unique_id("cluster")
        self.customer_id = unique_id("customer")
        self.cluster = {"cluster_id": self.cluster_id, "customer_id": self.customer_id, "name": "shop", "poc": poc}
        self.servers = [server(self.cluster_id, flavor="general-4c8g"), server(self.cluster_id)]
        self.volumes = [
            volume(self.cluster_id, "boot"),
            volume(self.cluster_id, "boot"),
            volume(self.cluster_id, "pvc", size_gib=100, volume_type="ssd-premium"),
        ]
        self.others = [other(self.cluster_id, "load_balancer"), other(self.cluster_id, "snapshot")]

    @property
    def resources(self) -> list[dict]:
        return [*self.servers, *self.volumes, *self.others]

    @property
    def convertible_ids(self) -> list[str]:
        return sorted(r["resource_id"] for r in [*self.servers, *self.volumes])

    async def register(self, client: ContractClient, timeout: float = 30.0) -> None:
        await client.send("inventory.cluster.upsert", self.cluster)
        for resource in self.resources:
            await client.send("inventory.resource.upsert", resource)
        # Each one: upserts are handled side by side, so the last sent may be applied first.
        for resource in self.resources:
            rid = resource["resource_id"]
            await client.wait_for("resource.registered", lambda d, rid=rid: d["resource_id"] == rid, timeout=timeout)

    def stop_request(self, **overrides) -> dict:
        return {
            "request_id": unique_id("request"),
            "customer_id": self.customer_id,
            "cluster_id": self.cluster_id,
            "usage_cycle_months": 1,
            "auto_renew": False,
            "coupon_code": None,
            **overrides,
        }


async def publish_event(
    client: ContractClient,
    routing_key: str,
    data: dict,
    *,
    message_id: str | None = None,
    source: str = "/tests/fake",
    traceparent: str | None = None,
) -> Envelope:
    """Publish an event as another service would (for tests that run one service alone)."""
    envelope = new_envelope(
        routing_key,
        data,
        source=source,
        message_id=message_id,
        correlationid=data.get("request_id"),
        subject=data.get("cluster_id"),
        traceparent=traceparent,
    )
    await client.publish(client.names.events, routing_key, envelope.to_json(), message_id=envelope.id)
    return envelope


async def wait_until(check: Callable[[], Awaitable[bool]], *, timeout: float = 15.0, what: str = "condition") -> None:
    """For effects no event announces (rows in a table): poll ``check`` until a deadline."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout}s")
        await asyncio.sleep(0.05)


async def handled(database, schema: str, *message_ids: str) -> bool:
    """Whether ``schema``'s service has committed its handling of every one of these messages."""
    query = f"SELECT count(*) FROM {schema}.inbox WHERE message_id = any($1::text[])"
    count = await database.fetchval(query, list(message_ids))
    return count == len(set(message_ids))
