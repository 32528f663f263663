"""The four services as separate ``stoppoc run <service>`` processes."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aio_pika

from shared.settings import Settings
from shared.topology import SERVICES, Names


class ServiceProcesses:
    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.settings = settings
        self.names = Names(settings.namespace)
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen] = {}
        self.exit_codes: dict[str, int] = {}

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "STOPPOC_AMQP_URL": self.settings.amqp_url,
            "STOPPOC_DATABASE_URL": self.settings.database_url,
            "STOPPOC_NAMESPACE": self.settings.namespace,
            "STOPPOC_RELAY_POLL_SECONDS": str(self.settings.relay_poll_seconds),
            "STOPPOC_RETRY_BASE_SECONDS": str(self.settings.retry_base_seconds),
            "STOPPOC_MAX_ATTEMPTS": str(self.settings.max_attempts),
            "STOPPOC_SWEEP_SECONDS": str(self.settings.sweep_seconds),
            "STOPPOC_FUNDS_WAIT_SECONDS": str(self.settings.funds_wait_seconds),
        }

    async def start(self, *services: str, timeout: float = 60.0) -> None:
        for service in services or SERVICES:
            log = open(self.log_dir / f"{service}.log", "ab")  # noqa: SIM115 (closed with the process)
            self.processes[service] = subprocess.Popen(
                [sys.executable, "-m", "services", "run", service, "--no-migrate"],
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            log.close()
        await self.wait_until_consuming(services or SERVICES, timeout)

    async def wait_until_consuming(self, services, timeout: float) -> None:
        """Ready means: each service's queue has a consumer."""
        deadline = time.monotonic() + timeout
        connection = await aio_pika.connect(self.settings.amqp_url)
        async with connection:
            channel = await connection.channel()
            for service in services:
                while True:
                    queue = await channel.declare_queue(self.names.queue(service), passive=True)
                    if queue.declaration_result.consumer_count > 0:
                        break
                    if self.processes[service].poll() is not None:
                        raise RuntimeError(f"{service} exited early:\n{self.log(service)}")
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{service} is not consuming after {timeout}s:\n{self.log(service)}")
                    await asyncio.sleep(0.1)

    def log(self, service: str) -> str:
        path = self.log_dir / f"{service}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    async def stop(self, *services: str, timeout: float = 30.0) -> dict[str, int]:
        """SIGTERM, then wait for a graceful exit; SIGKILL only past the timeout."""
        chosen = services or tuple(self.processes)
        for service in chosen:
            self.processes[service].send_signal(signal.SIGTERM)
        for service in chosen:
            process = self.processes.pop(service)
            try:
                code = await asyncio.to_thread(process.wait, timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                code = await asyncio.to_thread(process.wait)
            self.exit_codes[service] = code
        return {s: self.exit_codes[s] for s in chosen}
