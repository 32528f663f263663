"""A RabbitMQ node of the test's own, on ports, a node name and folders of its own, configured
with a given rabbitmq.conf: for tests of how the broker itself is set up (what it loads at boot).
Stopped (SIGTERM to its own process group) and removed afterwards; the shared broker is never
touched. Needs RabbitMQ's scripts on this machine (/usr/lib/rabbitmq/bin)."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


class NoRabbitmqServer(Exception):
    """RabbitMQ's server scripts are not on this machine."""


@dataclass(frozen=True)
class Node:
    port: int
    folder: Path

    def url(self, user: str, password: str) -> str:
        return f"amqp://{user}:{password}@127.0.0.1:{self.port}/"

    def log(self) -> str:
        return "\n".join(path.read_text(errors="replace")[-3000:] for path in (self.folder / "log").glob("*.log"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def rabbitmq_node(folder: Path, conf: str, timeout: float = 120.0) -> Iterator[Node]:
    """Boot a node whose rabbitmq.conf is ``conf`` (a listener on a free port is added)."""
    if not SERVER.exists():
        raise NoRabbitmqServer(f"{SERVER} is not on this machine")
    node = Node(free_port(), folder)
    for name in ("mnesia", "log"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    (folder / "enabled_plugins").write_text("[].")  # no management listener to collide with
    (folder / "rabbitmq-env.conf").write_text("")  # not the shared node's
    (folder / "rabbitmq.conf").write_text(f"{conf}\nlisteners.tcp.default = 127.0.0.1:{node.port}\n")
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(folder),
        "RABBITMQ_NODENAME": f"stoppoc-test-{node.port}@localhost",
        "RABBITMQ_DIST_PORT": str(free_port()),
        "RABBITMQ_CONF_ENV_FILE": str(folder / "rabbitmq-env.conf"),
        "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
        "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
        "RABBITMQ_LOG_BASE": str(folder / "log"),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
    }
    with open(folder / "output", "wb") as output:
        process = subprocess.Popen(
            [str(SERVER)], env=environment, cwd=folder, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + timeout
        while not _listening(node.port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the test's RabbitMQ node did not start:\n{node.log()}")
            time.sleep(0.2)
        yield node
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        deadline = time.monotonic() + 30
        while _listening(node.port) and time.monotonic() < deadline:  # the node itself, not its script
            time.sleep(0.2)
        shutil.rmtree(folder / "mnesia", ignore_errors=True)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0
