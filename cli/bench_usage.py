"""CPU time and memory of what a bench run involves: each service process, the broker, and the
database server's processes serving the bench's database.

The broker is the whole RabbitMQ node (whatever else it serves counts too, so on a shared machine
its figure is an upper bound); the database is only the server processes connected to the bench's
own database, which the server's shared helpers (WAL writer, checkpointer) are not.
"""

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import psutil

from stoppoc.shared import queries

MIB = 1024 * 1024
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class Backend:
    pid: int


SQL = queries.load("stoppoc.cli", "bench.sql", rows={"Backend": Backend})


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def peak_rss_mib(process: psutil.Process) -> float | None:
    """The most resident memory the process ever had (Linux's VmHWM), where the system says."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / MIB
    return None


def broker_process(amqp_url: str) -> psutil.Process | None:
    """The local RabbitMQ node listening on the URL's port; None when it runs elsewhere or
    cannot be told apart."""
    parts = urlsplit(amqp_url)
    if parts.hostname not in LOCAL_HOSTS:
        return None
    port = parts.port or 5672
    nodes = [p for p in psutil.process_iter(["name"]) if p.info["name"] == "beam.smp"]
    for node in nodes:
        with contextlib.suppress(psutil.Error):
            if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in node.net_connections("tcp")):
                return node
    return nodes[0] if len(nodes) == 1 else None


@dataclass(frozen=True)
class Mark:
    """CPU seconds used so far by each part, at one moment."""

    at: float  # time.perf_counter()
    cpu: dict[str, float | None]  # service names, "broker" and "bench" (the driver)
    database: dict[int, float]  # by server process id


def cpu_between(first: Mark, last: Mark) -> dict[str, float | None]:
    """CPU seconds each service, the broker and the database spent from one mark to the other."""
    spent: dict[str, float | None] = {}
    for name, value in last.cpu.items():
        start = first.cpu.get(name)
        spent[name] = None if value is None or start is None else value - start
    # A server process first seen after the first mark started after it: all its time counts.
    spent["database"] = sum(cpu - first.database.get(pid, 0.0) for pid, cpu in last.database.items())
    return spent


@dataclass
class UsageMeter:
    """Once watching, samples every ``interval`` each service's resident memory and the CPU time
    of the database processes serving ``database_url`` (pools open and close connections, so they
    come and go); ``mark()`` takes the CPU time of every part at one moment."""

    broker: psutil.Process | None
    database_url: str
    interval: float = 0.5
    services: dict[str, psutil.Process] = field(default_factory=dict)
    rss_mib: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # (seconds since start, MiB)
    _backends: dict[int, tuple[psutil.Process, float]] = field(default_factory=dict)
    _started: float = field(default_factory=time.monotonic)

    async def __aenter__(self) -> "UsageMeter":
        self._conn = await asyncpg.connect(self.database_url)
        self._lock = asyncio.Lock()  # the sampler and mark() share the connection
        self._sampling: asyncio.Task[None] | None = None
        return self

    def watch(self, services: dict[str, psutil.Process]) -> None:
        """Start sampling, with these service processes."""
        self.services = services
        self._started = time.monotonic()
        self._sampling = asyncio.create_task(self._run())

    async def __aexit__(self, *exc: object) -> None:
        if self._sampling:
            self._sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampling
        await self._conn.close()

    async def _run(self) -> None:
        while True:
            await self._sample()
            await asyncio.sleep(self.interval)

    async def _sample(self) -> None:
        now = time.monotonic() - self._started
        for name, process in self.services.items():
            with contextlib.suppress(psutil.Error):
                self.rss_mib.setdefault(name, []).append((now, process.memory_info().rss / MIB))
        async with self._lock:
            rows = await SQL.bind(self._conn).backend_pids()
        for backend in rows:
            pid = backend.pid
            if pid == self._conn.get_server_pid():
                continue
            with contextlib.suppress(psutil.Error):
                process = self._backends[pid][0] if pid in self._backends else psutil.Process(pid)
                self._backends[pid] = (process, cpu_seconds(process))

    async def mark(self) -> Mark:
        await self._sample()
        # The bench's own process drives the load on the same cores: its share is shown too.
        parts = {**self.services, "broker": self.broker, "bench": psutil.Process()}
        cpu: dict[str, float | None] = {}
        for name, process in parts.items():
            try:
                cpu[name] = cpu_seconds(process) if process else None
            except psutil.Error:
                cpu[name] = None
        return Mark(time.perf_counter(), cpu, {pid: used for pid, (_, used) in self._backends.items()})

    def peak_mib(self) -> dict[str, float]:
        peaks = {}
        for name, process in self.services.items():
            sampled = max((mib for _, mib in self.rss_mib.get(name, [])), default=0.0)
            peaks[name] = max(sampled, peak_rss_mib(process) or 0.0)
        return peaks
