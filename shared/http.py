"""The HTTP side of ``stoppoc run`` (the contract's "Health and metrics"), one per process
whatever the services it runs, on ``STOPPOC_HTTP_HOST:STOPPOC_HTTP_PORT``:

- ``GET /health/live``: 200 while the process answers at all.
- ``GET /health/ready``: 200 only while, for every service of the process, the broker is
  connected, the database answers, the outbox relay runs and is not stuck and the consumer takes
  messages; otherwise 503. Both with a JSON body naming each check and, for those failing, why.
- ``GET /metrics``: every ``stoppoc_*`` metric in the Prometheus text format.

A small ASGI app served by uvicorn inside the services' own event loop.
"""

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from stoppoc.shared.metrics import REGISTRY

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Probed(Protocol):
    """A running service as readiness sees it (shared.service.Runtime)."""

    @property
    def name(self) -> str: ...

    async def readiness(self) -> dict[str, Any]: ...


class HealthApp:
    """The ASGI app: three routes, GET only."""

    def __init__(self, services: Iterable[Probed]) -> None:
        self.services = list(services)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path not in ("/health/live", "/health/ready", "/metrics"):
            await _respond(send, 404, b'{"error": "not_found"}')
        elif method not in ("GET", "HEAD"):
            await _respond(send, 405, b'{"error": "method_not_allowed"}')
        elif path == "/health/live":
            await _respond(send, 200, b'{"status": "live"}')
        elif path == "/metrics":
            await _respond(send, 200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
        else:
            status, body = await self.ready()
            await _respond(send, status, json.dumps(body).encode())

    async def ready(self) -> tuple[int, dict[str, Any]]:
        checks = await asyncio.gather(*(service.readiness() for service in self.services))
        services = dict(zip((service.name for service in self.services), checks, strict=True))
        ready = bool(services) and all(check["ok"] for each in services.values() for check in each.values())
        return (200 if ready else 503), {"status": "ready" if ready else "not_ready", "services": services}


async def _respond(send: Send, status: int, body: bytes, content_type: str = "application/json") -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class HttpServer:
    """uvicorn driven by hand (startup, main loop, shutdown): ``serve()`` would take over the
    process's signal handlers, which belong to ``stoppoc run``."""

    def __init__(self, host: str, port: int, services: Iterable[Probed]) -> None:
        self.app = HealthApp(services)
        config = uvicorn.Config(self.app, host=host, port=port, lifespan="off", log_config=None, access_log=False)
        self._server = uvicorn.Server(config)
        self._loop: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The port listened on (useful when asked for port 0)."""
        port: int = self._server.servers[0].sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        config = self._server.config
        where = f"{config.host}:{config.port}"
        # What uvicorn's own serve() does before startup.
        if not config.loaded:
            config.load()
        self._server.lifespan = config.lifespan_class(config)
        try:
            await self._server.startup()
        except SystemExit as exit_:  # uvicorn exits when it cannot bind (the port is taken, say)
            raise OSError(f"cannot serve HTTP on {where} (see the log line before)") from exit_
        if self._server.should_exit:
            raise OSError(f"cannot serve HTTP on {where}")
        self._loop = asyncio.create_task(self._server.main_loop(), name="http")

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._loop is not None:
            await self._loop
            await self._server.shutdown()
            self._loop = None
