"""The ``stoppoc`` command as an operator, an analyst or a portal developer runs it: a subprocess
with the test's broker, database and namespace."""

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def environment(settings) -> dict[str, str]:
    return {
        **os.environ,
        "STOPPOC_AMQP_URL": settings.amqp_url,
        "STOPPOC_DATABASE_URL": settings.database_url,
        "STOPPOC_NAMESPACE": settings.namespace,
        "COLUMNS": "200",
    }


async def stoppoc(settings, *args: str, stdin: bytes = b"", timeout: float = 60.0) -> Ran:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stoppoc.cli",
        *args,
        env=environment(settings),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(stdin), timeout)
    except BaseException:  # timed out or cancelled: the command must not outlive the test
        process.kill()
        await process.wait()
        raise
    return Ran(process.returncode, out.decode(), err.decode())
