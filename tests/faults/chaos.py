"""The fault injector: at random moments (from a seeded generator) it kills an instance with
SIGKILL, or stops one with SIGTERM, and starts it again a moment later; has the broker close a
service's connections; or terminates a service's database connections. Faults overlap: an
instance may be down while another is cut off."""

import asyncio
import contextlib
import random
from dataclasses import dataclass, field

from tests.e2e.processes import ServiceProcesses, instance_name, service_of
from tests.faults.injection import cut_broker_connections, terminate_database_connections

FAULTS = (("kill", 4), ("broker", 2), ("database", 2), ("sigterm", 1))


@dataclass
class FaultCounts:
    kills: int = 0
    sigterm_restarts: int = 0
    broker_cuts: int = 0  # connections the broker closed
    database_cuts: int = 0  # backends the server terminated
    unclean_exits: list[str] = field(default_factory=list)  # SIGTERMs that did not end in exit 0


class Chaos:
    def __init__(
        self,
        services: ServiceProcesses,
        instances: list[str],
        rng: random.Random,
        pause: tuple[float, float] = (0.2, 1.2),
        downtime: tuple[float, float] = (0.0, 1.5),
    ) -> None:
        self.services = services
        self.instances = instances  # every instance that should be running
        self.rng = rng
        self.pause = pause
        self.downtime = downtime
        self.counts = FaultCounts()
        self._task: asyncio.Task | None = None
        self._down: dict[str, asyncio.Task] = {}  # instances taken down, until they consume again

    @classmethod
    def over(cls, services: ServiceProcesses, service_names, per_service: int, rng: random.Random) -> "Chaos":
        instances = [instance_name(s, n) for s in service_names for n in range(1, per_service + 1)]
        return cls(services, instances, rng)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="chaos")

    async def stop(self) -> FaultCounts:
        """Stop injecting and bring every instance back."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.gather(*self._down.values())
        missing = [name for name in self.instances if name not in self.services.processes]
        if missing:
            await self.services.restart(*missing)
        return self.counts

    async def _run(self) -> None:
        first = [fault for fault, _ in FAULTS]
        self.rng.shuffle(first)  # each kind at least once, however short the run
        while True:
            await asyncio.sleep(self.rng.uniform(*self.pause))
            fault = first.pop() if first else self.rng.choices([f for f, _ in FAULTS], [w for _, w in FAULTS])[0]
            up = [name for name in self.instances if name not in self._down]
            if not up:
                continue
            name = self.rng.choice(up)
            if fault in ("kill", "sigterm"):
                self._down[name] = asyncio.create_task(self._take_down(fault, name, self.rng.uniform(*self.downtime)))
            elif fault == "broker":
                self.counts.broker_cuts += await cut_broker_connections(service_of(name), self.services.names.namespace)
            else:
                self.counts.database_cuts += await terminate_database_connections(
                    self.services.settings.database_url, service_of(name)
                )

    async def _take_down(self, fault: str, name: str, downtime: float) -> None:
        try:
            if fault == "kill":
                await self.services.kill(name)
                self.counts.kills += 1
            else:
                code = (await self.services.stop(name))[name]
                self.counts.sigterm_restarts += 1
                if code != 0:
                    self.counts.unclean_exits.append(f"{name} exited {code} on SIGTERM")
            await asyncio.sleep(downtime)  # down for a moment, as a crashed pod is
            await self.services.restart(name)
        finally:
            del self._down[name]
