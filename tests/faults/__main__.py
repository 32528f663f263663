"""The fault-injection suite at full size:

    python -m tests.faults --conversions 300 --seed 7

Uses STOPPOC_AMQP_URL and STOPPOC_DATABASE_URL (a server: the suite creates and drops its own
database and broker namespace). Prints its figures; exits 1 if any invariant was violated, and
then keeps the services' logs.
"""

import argparse
import asyncio
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import asyncpg

from stoppoc.cli.runner import migrate_all
from stoppoc.services.registry import SERVICES
from stoppoc.shared import topology
from stoppoc.shared.settings import Settings
from tests.faults.suite import run_suite
from tests.infrastructure import postgres_url, rabbitmq_url, with_database


async def main(conversions: int, seed: int, instances: int, seconds: float | None, log_level: str) -> int:
    suffix = uuid.uuid4().hex[:8]
    with rabbitmq_url() as amqp, postgres_url() as server:
        name = f"stoppoc_faults_{suffix}"
        settings = Settings(
            amqp_url=amqp, database_url=with_database(server, name), namespace=f"faults{suffix}", log_level=log_level
        )
        await migrate_all(settings)
        logs = Path(tempfile.mkdtemp(prefix="stoppoc-faults-"))
        try:
            figures = await run_suite(
                settings, conversions=conversions, seed=seed, instances=instances, log_dir=logs, seconds=seconds
            )
        finally:
            await topology.delete(amqp, topology.Names(settings.namespace), SERVICES)
            admin = await asyncpg.connect(server)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
        print("\n".join(figures.lines()))
        if figures.violations:
            print(f"  service logs kept in {logs}")
            return 1
        shutil.rmtree(logs)
        return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversions", type=int, default=300, help="stop requests in the batch (default 300)")
    parser.add_argument("--seed", type=int, default=7, help="seeds the batch and the faults (default 7)")
    parser.add_argument("--instances", type=int, default=2, help="instances of each service (default 2)")
    parser.add_argument("--seconds", type=float, help="spread the stop requests over this long (default: 5 a second)")
    parser.add_argument("--log-level", default="WARNING", help="the services' log level (default WARNING)")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.conversions, args.seed, args.instances, args.seconds, args.log_level)))
