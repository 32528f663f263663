"""A RabbitMQ cluster of the test's own on this one machine: three nodes with their own names,
ports, data folders and Erlang cookie, started, clustered, stopped and started again with
``rabbitmq-server`` and ``rabbitmqctl``. The shared node on 5672 is never touched: ours read none
of its configuration and cannot talk to it (another cookie).

As a fixture: ``rabbit_cluster`` in tests/conftest.py. By hand:
``python -m tests.rabbit_cluster`` starts one, prints its URLs and stops it on Enter.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
CTL = Path("/usr/lib/rabbitmq/bin/rabbitmqctl")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Node:
    def __init__(self, folder: Path, name: str, home: Path) -> None:
        self.name = f"{name}@localhost"
        self.port, self.dist_port = _free_port(), _free_port()
        self.folder = folder
        self.home = home
        self.process: subprocess.Popen | None = None
        folder.mkdir(parents=True)
        (folder / "enabled_plugins").write_text("[].\n")  # no management: no port of the shared node's
        (folder / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\nloopback_users = none\n"
            "cluster_partition_handling = pause_minority\n"
        )
        (folder / "rabbitmq-env.conf").write_text("ERL_EPMD_ADDRESS=127.0.0.1\n")

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "HOME": str(self.home),  # the cluster's own cookie
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONF_ENV_FILE": str(self.folder / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(self.folder / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.folder / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.folder / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.folder / "log"),
            "RABBITMQ_PID_FILE": str(self.folder / "node.pid"),
            "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def ctl(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(
            [str(CTL), "-n", self.name, *args],
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl -n {self.name} {' '.join(args)}: {done.stderr or done.stdout}")
        return done.stdout

    def start(self) -> None:
        self.launch()
        self.wait()

    def launch(self) -> None:
        with (self.folder / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(SERVER)], env=self.environment(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait(self) -> None:
        # Waits for the pid file the node writes as it boots, then for the broker to be up.
        self.ctl("wait", str(self.folder / "node.pid"), "--timeout", "120", timeout=150)

    def stop(self) -> None:
        """The whole node down (its Erlang VM stops), as when a machine of the cluster goes away."""
        if self.process is None:
            return
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self.ctl("stop", timeout=60)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # the script and the Erlang VM it started
            self.process.wait()
        self.process = None


class RabbitCluster:
    def __init__(self, size: int = 3) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="stoppoc-rabbit-"))
        home = self.folder / "home"
        home.mkdir()
        (home / ".erlang.cookie").write_text(uuid.uuid4().hex)
        (home / ".erlang.cookie").chmod(0o400)
        tag = uuid.uuid4().hex[:6]
        self.nodes = [Node(self.folder / f"node{n}", f"stoppoc-{tag}-{n}", home) for n in range(1, size + 1)]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def start(self) -> None:
        first, *others = self.nodes
        for node in self.nodes:  # booting side by side, then joining one by one
            node.launch()
        for node in self.nodes:
            node.wait()
        for node in others:
            node.ctl("stop_app")
            node.ctl("join_cluster", first.name)
            node.ctl("start_app")
        first.ctl("await_online_nodes", str(len(self.nodes)))

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def available() -> str | None:
    """Why no cluster can be run here, or None."""
    if not (SERVER.exists() and CTL.exists()):
        return f"no RabbitMQ server here ({SERVER})"
    return None


@contextlib.contextmanager
def rabbit_cluster(size: int = 3) -> Iterator[RabbitCluster]:
    cluster = RabbitCluster(size)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


if __name__ == "__main__":
    with rabbit_cluster() as running:
        print("\n".join(running.urls))
        input("a three-node cluster is running; Enter stops it ")
