"""The four services as separate ``stoppoc run <service>`` processes.

A service may run as several instances, competing consumers of its queue: the first is named
after the service (``payment``), the others ``payment-2``, ``payment-3``… Every method that
takes names takes instance names.
"""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import aio_pika

from stoppoc.services.registry import SERVICES
from stoppoc.shared.settings import Settings
from stoppoc.shared.topology import Names


def instance_name(service: str, number: int) -> str:
    return service if number == 1 else f"{service}-{number}"


def service_of(name: str) -> str:
    return name.split("-", 1)[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, str]:
    """A GET on 127.0.0.1:port, as an operator's curl: (status, body); (0, why) when it cannot connect."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError as error:
        return 0, repr(error)


async def readiness(port: int) -> tuple[int, dict]:
    status, body = await asyncio.to_thread(http_get, port, "/health/ready")
    return status, (json.loads(body) if status else {})


class ServiceProcesses:
    def __init__(
        self, settings: Settings, log_dir: Path, *, http: bool = False, extra_env: dict[str, str] | None = None
    ) -> None:
        """``http``: each instance serves /health and /metrics on a port of its own (``ports``), and
        is ready when /health/ready says so. ``extra_env``: more variables, ``{name}`` standing for
        the instance's name."""
        self.settings = settings
        self.names = Names(settings.namespace)
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen] = {}
        self.exit_codes: dict[str, int] = {}
        # Variables of one service's own (its broker user and password, say), by service.
        self.service_environment: dict[str, dict[str, str]] = {}
        self.http = http
        self.ports: dict[str, int] = {}
        self.extra_env = extra_env or {}

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "STOPPOC_AMQP_URL": self.settings.amqp_url,
            "STOPPOC_DATABASE_URL": self.settings.database_url,
            "STOPPOC_NAMESPACE": self.settings.namespace,
            "STOPPOC_RELAY_POLL_SECONDS": str(self.settings.relay_poll_seconds),
            "STOPPOC_RETRY_BASE_SECONDS": str(self.settings.retry_base_seconds),
            "STOPPOC_MAX_ATTEMPTS": str(self.settings.max_attempts),
            "STOPPOC_MAX_DELIVERIES": str(self.settings.max_deliveries),
            "STOPPOC_PREFETCH": str(self.settings.prefetch),
            "STOPPOC_SWEEP_SECONDS": str(self.settings.sweep_seconds),
            "STOPPOC_FUNDS_WAIT_SECONDS": str(self.settings.funds_wait_seconds),
            "STOPPOC_ORDER_GAP_SECONDS": str(self.settings.order_gap_seconds),
            "STOPPOC_SUSPEND_AFTER_DAYS": str(self.settings.suspend_after_days),
            "STOPPOC_DELETE_AFTER_DAYS": str(self.settings.delete_after_days),
            "STOPPOC_RENEWAL_REMINDER_DAYS": json.dumps(self.settings.renewal_reminder_days),
            "STOPPOC_RENEWAL_RETRY_DAYS": str(self.settings.renewal_retry_days),
            "STOPPOC_LOG_LEVEL": self.settings.log_level,
            "STOPPOC_QUEUE_TYPE": self.settings.queue_type,
            "STOPPOC_AMQP_FAILOVER_URLS": ",".join(self.settings.amqp_failover_urls),
            "STOPPOC_OUTAGE_HOLD_SECONDS": str(self.settings.outage_hold_seconds),
            "STOPPOC_GRACEFUL_TIMEOUT_SECONDS": str(self.settings.graceful_timeout_seconds),
        }

    async def start(self, *services: str, timeout: float = 60.0, instances: int = 1) -> None:
        """Start ``instances`` instances of each service (every service by default); those
        already running are left as they are."""
        chosen = services or SERVICES
        wanted = [instance_name(s, n) for s in chosen for n in range(1, instances + 1)]
        await self.restart(*(name for name in wanted if name not in self.processes), timeout=timeout)

    async def restart(self, *names: str, timeout: float = 60.0) -> None:
        """Start these instances (stopped or killed before) and wait until they consume."""
        for name in names:
            self._spawn(name)
        if self.http:
            await self.wait_until_ready(names, timeout)
        else:
            await self.wait_until_consuming(sorted({service_of(name) for name in names}), timeout)

    def _spawn(self, name: str) -> None:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        env = {**self.environment(), **{key: value.format(name=name) for key, value in self.extra_env.items()}}
        if self.http:
            self.ports[name] = free_port()
            env["STOPPOC_HTTP_PORT"] = str(self.ports[name])
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "stoppoc.cli", "run", service_of(name), "--no-migrate"],
            env={**env, **self.service_environment.get(service_of(name), {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def instances(self, service: str) -> list[str]:
        """The running instances of a service."""
        return sorted(name for name in self.processes if service_of(name) == service)

    async def wait_until_consuming(self, services, timeout: float) -> None:
        """Ready means: each service's queue has a consumer per running instance."""
        deadline = time.monotonic() + timeout
        connection = await aio_pika.connect(self.settings.amqp_url)
        async with connection:
            channel = await connection.channel()
            for service in services:
                while True:
                    queue = await channel.declare_queue(self.names.queue(service), passive=True)
                    running = self.instances(service)  # after the await: others may have stopped
                    if queue.declaration_result.consumer_count >= len(running):
                        break
                    for name in running:
                        if self.processes[name].poll() is not None:
                            raise RuntimeError(f"{name} exited early:\n{self.log(name)}")
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{service} is not consuming after {timeout}s:\n{self.log(running[0])}")
                    await asyncio.sleep(0.1)

    async def wait_until_ready(self, names, timeout: float) -> None:
        """Ready means: /health/ready answers 200 (broker, database, relay, consumer)."""
        deadline = time.monotonic() + timeout
        for name in names:
            while (await readiness(self.ports[name]))[0] != 200:
                if self.processes[name].poll() is not None:
                    raise RuntimeError(f"{name} exited early:\n{self.log(name)}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name} is not ready after {timeout}s:\n{self.log(name)}")
                await asyncio.sleep(0.1)

    def log(self, service: str) -> str:
        path = self.log_dir / f"{service}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    async def stop(self, *services: str, timeout: float = 30.0) -> dict[str, int]:
        """SIGTERM, then wait for a graceful exit; SIGKILL only past the timeout."""
        chosen = {name: self.processes.pop(name) for name in services or tuple(self.processes)}
        for process in chosen.values():
            process.send_signal(signal.SIGTERM)
        for service, process in chosen.items():
            try:
                code = await asyncio.to_thread(process.wait, timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                code = await asyncio.to_thread(process.wait)
            self.exit_codes[service] = code
        return {s: self.exit_codes[s] for s in chosen}

    async def kill(self, *names: str) -> dict[str, int]:
        """``kill -9``: no shutdown at all, as when a machine dies."""
        chosen = {name: self.processes.pop(name) for name in names}
        for process in chosen.values():
            process.kill()
        for name, process in chosen.items():
            self.exit_codes[name] = await asyncio.to_thread(process.wait)
        return {name: self.exit_codes[name] for name in names}
