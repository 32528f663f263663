"""The renewals in the fault suite's batch, planned from the same seed as its conversions.

Some customers also own a cluster the platform already sells: a real server and its boot
volume with a paid_until a few seconds into the run (or long past), so that their renewals,
grace, suspension and deletion-due happen while the conversions run and the faults land.
What becomes of each: ``auto`` renews itself at paid_until; ``late`` was registered long past
its paid_until and renews at once (or, unpaid, goes through every stage at once); ``lapse`` has
auto-renew off and runs out; ``manual`` is renewed by hand at some moment of the run, before or
after its paid_until; ``manual_invalid`` asks for a cycle not offered and is rejected.
"""

import asyncio
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from stoppoc.shared.client import ContractClient
from tests.contract_data import SampleCluster, server, volume

TWISTS = (("auto", 0.4), ("late", 0.1), ("lapse", 0.2), ("manual", 0.2), ("manual_invalid", 0.1))
SHARE_OF_CUSTOMERS = 0.5
CYCLES = (1, 3)
LATE = timedelta(days=20)  # past every stage with the suite's fast lifecycle, within one cycle
CYCLE_NOT_OFFERED = 2


@dataclass
class RenewalCase:
    customer_id: str
    cluster: SampleCluster
    twist: str
    months: int
    offset: float  # paid_until, in seconds after the case is registered
    manual_after: float = 0.0  # the renewal by hand, in seconds after the case is registered
    manual: dict | None = None
    paid_until: datetime | None = None  # set when registered

    @property
    def auto_renew(self) -> bool:
        return self.twist in ("auto", "late")

    @property
    def resource_ids(self) -> list[str]:
        return sorted(r["resource_id"] for r in self.cluster.resources)

    @property
    def months_charged(self) -> int:
        """The months it may be charged for in the run (what a rich customer is funded for)."""
        if self.twist in ("auto", "late"):
            return self.months
        if self.twist == "manual" and self.manual:
            return int(self.manual["usage_cycle_months"])
        return 0


def plan_case(rng: random.Random, customer_id: str, seconds: float) -> RenewalCase | None:
    if rng.random() >= SHARE_OF_CUSTOMERS:
        return None
    roll, twist = rng.random(), TWISTS[-1][0]
    for name, share in TWISTS:
        if roll < share:
            twist = name
            break
        roll -= share
    cid = f"{customer_id}-paid-cluster"
    cluster = SampleCluster(poc=False)
    cluster.cluster_id, cluster.customer_id = cid, customer_id
    cluster.cluster = {"cluster_id": cid, "customer_id": customer_id, "name": "paid", "poc": False}
    cluster.servers = [
        server(cid, rid=f"{cid}-srv", flavor=rng.choice(("general-2c4g", "general-4c8g")), billing="real")
    ]
    cluster.volumes = [volume(cid, "boot", rid=f"{cid}-boot", size_gib=rng.choice((20, 50)), billing="real")]
    cluster.others = []
    # Due within half the run, so that what follows (the stages) is over soon after the last request.
    case = RenewalCase(customer_id, cluster, twist, rng.choice(CYCLES), offset=rng.uniform(1, max(2.0, seconds / 2)))
    if twist.startswith("manual"):
        case.manual_after = rng.uniform(0, max(1.0, seconds / 2))
        case.manual = {
            "request_id": f"{cid}-renewal",
            "customer_id": customer_id,
            "cluster_id": cid,
            "usage_cycle_months": CYCLE_NOT_OFFERED if twist == "manual_invalid" else rng.choice(CYCLES),
        }
    return case


@dataclass
class RenewalSender:
    """Registers each case at its moment of the run and renews by hand where it says."""

    client: ContractClient
    background: list[asyncio.Task] = field(default_factory=list)

    async def register(self, case: RenewalCase) -> None:
        now = datetime.now(UTC)
        case.paid_until = now - LATE if case.twist == "late" else now + timedelta(seconds=case.offset)
        billing = {
            "paid_until": case.paid_until.isoformat(),
            "usage_cycle_months": case.months,
            "auto_renew": case.auto_renew,
        }
        await self.client.send("inventory.cluster.upsert", case.cluster.cluster)
        for resource in case.cluster.resources:
            await self.client.send("inventory.resource.upsert", {**resource, **billing})
        if case.manual:
            self.background.append(asyncio.create_task(self._renew_by_hand(case)))

    async def _renew_by_hand(self, case: RenewalCase) -> None:
        assert case.manual is not None
        for resource_id in case.resource_ids:  # a renewal by hand of every real one: all registered
            await self.client.wait_for(
                "resource.registered", lambda d, r=resource_id: d["resource_id"] == r, timeout=120
            )
        await asyncio.sleep(case.manual_after)  # the customer renews at some moment of the run
        await self.client.send("inventory.renewal.request", case.manual)
