"""The four services as separate ``stoppoc run <service>`` processes, for ``stoppoc bench``."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aio_pika

from stoppoc.services.registry import SERVICES
from stoppoc.shared.settings import Settings
from stoppoc.shared.topology import Names

STOP_TIMEOUT_SECONDS = 40.0  # past the services' own graceful timeout and outbox flush (about 30 s)


class ServiceProcesses:
    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self._settings = settings
        self._log_dir = log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def _environment(self) -> dict[str, str]:
        # Everything else (prefetch, retries, …) as the operator configured it.
        return {
            **os.environ,
            "STOPPOC_AMQP_URL": self._settings.amqp_url,
            "STOPPOC_DATABASE_URL": self._settings.database_url,
            "STOPPOC_NAMESPACE": self._settings.namespace,
            "STOPPOC_LOG_LEVEL": self._settings.log_level,
            "STOPPOC_MIGRATE_ON_START": "false",
        }

    async def start(self, timeout: float = 60.0) -> None:
        for service in SERVICES:
            self._spawn(service)
        await self._wait_until_consuming(timeout)

    def _spawn(self, service: str) -> None:
        with open(self._log_dir / f"{service}.log", "ab") as log:
            self.processes[service] = subprocess.Popen(
                [sys.executable, "-m", "stoppoc.cli", "run", service],
                env=self._environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def _wait_until_consuming(self, timeout: float) -> None:
        names = Names(self._settings.namespace)
        deadline = time.monotonic() + timeout
        async with await aio_pika.connect(self._settings.amqp_url) as connection:
            channel = await connection.channel()
            for service in SERVICES:
                while True:
                    queue = await channel.declare_queue(names.queue(service), passive=True)
                    if queue.declaration_result.consumer_count:
                        break
                    self.check_running()
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{service} is not consuming after {timeout}s:\n{self.log(service)}")
                    await asyncio.sleep(0.1)

    def check_running(self) -> None:
        for service, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{service} exited with {process.returncode}:\n{self.log(service)}")

    def log(self, service: str) -> str:
        path = self._log_dir / f"{service}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    async def stop(self) -> dict[str, int]:
        """SIGTERM, a graceful exit; SIGKILL only past the timeout. Each service's exit code."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = {}
        for service, process in self.processes.items():
            try:
                codes[service] = await asyncio.to_thread(process.wait, STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[service] = await asyncio.to_thread(process.wait)
        return codes
