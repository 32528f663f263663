"""A PostgreSQL server of the test's own, which it may stop and start again: the shared server
must stay up for every other test, so outage tests (readiness, consumers paused while the
database is away) run against this one.

Locally it is a fresh cluster (``initdb``) in a temporary folder on a free port of 127.0.0.1,
run as the ``postgres`` user when the tests run as root; where only Docker is available it is a
testcontainers PostgreSQL, paused and unpaused. Neither: the tests that need it are skipped, saying why.
"""

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.infrastructure import docker_available


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    on_path = shutil.which("initdb")
    if on_path:
        found.append(on_path)
    return Path(found[-1]).parent if found else None


class LocalPostgres:
    """``stop()`` shuts the server down (fast: connections are cut); ``start()`` brings it back
    on the same port with the same data."""

    def __init__(self, bindir: Path, folder: Path) -> None:
        self.bindir = bindir
        self.data = folder / "data"
        self.port = _free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as_postgres:
            shutil.chown(folder, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self._as_postgres, str(self.bindir / tool), *args], check=True, capture_output=True)

    def start(self) -> None:
        options = f"-p {self.port} -h 127.0.0.1 -k {self.data} -c fsync=off -c max_connections=100"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.data / "server.log"), "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


class ContainerPostgres:
    """A testcontainers PostgreSQL, paused to make it unreachable."""

    def __init__(self) -> None:
        from testcontainers.postgres import PostgresContainer

        self._container = PostgresContainer("postgres:15-alpine", driver=None).start()
        self.url = self._container.get_connection_url()

    def start(self) -> None:
        self._container.get_wrapped_container().unpause()

    def stop(self) -> None:
        self._container.get_wrapped_container().pause()

    def remove(self) -> None:
        self._container.stop()


@contextlib.contextmanager
def stoppable_postgres() -> Iterator[LocalPostgres | ContainerPostgres]:
    """A running server of the test's own; raises LookupError when there is no way to have one."""
    bindir = _binaries()
    if bindir is not None and (os.geteuid() != 0 or shutil.which("runuser")):
        folder = Path(tempfile.mkdtemp(prefix="stoppoc-pg-"))
        server = LocalPostgres(bindir, folder)
        server.start()
        try:
            yield server
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):
                server.stop()
            shutil.rmtree(folder, ignore_errors=True)
        return
    if docker_available():
        container = ContainerPostgres()
        try:
            yield container
        finally:
            container.remove()
        return
    raise LookupError("no PostgreSQL binaries (initdb) and no Docker engine: cannot run a server the test may stop")
