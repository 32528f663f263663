"""A portal developer's few lines of Python, in a fresh environment that installed only the
client (``pip install ./client``: stoppoc.contract and stoppoc.client with pydantic and aio-pika),
quote and stop a cluster against running services."""

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.contract_data import SampleCluster
from tests.faults.probes import fund
from tests.infrastructure import running

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[2]
PORTAL = """
import asyncio, json, sys
from stoppoc.client import QuoteRefused, StopPocClient, new_request_id
from stoppoc.contract.commands import StopPocQuote, StopPocRequest

async def main(amqp_url, namespace, customer, cluster):
    async with StopPocClient(amqp_url, namespace) as client:
        quote = await client.quote(StopPocQuote(customer_id=customer, cluster_id=cluster, usage_cycle_months=3))
        try:
            await client.quote(StopPocQuote(customer_id=customer, cluster_id="no-such", usage_cycle_months=3))
        except QuoteRefused as refused:
            reason = refused.reason
        request = StopPocRequest(request_id=new_request_id(), customer_id=customer, cluster_id=cluster,
                                 usage_cycle_months=3, auto_renew=True, expected_total=quote.total)
        outcome = await client.stop_poc(request, timeout=120)
        print(json.dumps({"total": quote.total, "refused": reason, "final": outcome.routing_key,
                          "succeeded": outcome.succeeded, "rounds": outcome.event.rounds}))

asyncio.run(main(*sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def client_only_python(tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("portal") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(ROOT / "client")],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr
    return python


def test_the_client_environment_has_the_contract_and_the_client_and_nothing_of_the_services(client_only_python):
    probe = (
        "import importlib.util as u, json;"
        "print(json.dumps({m: u.find_spec(m) is not None for m in"
        " ['stoppoc.client', 'stoppoc.contract', 'stoppoc.shared', 'faststream', 'asyncpg', 'aio_pika', 'pydantic']}))"
    )
    found = subprocess.run([str(client_only_python), "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(found.stdout) == {
        "stoppoc.client": True,
        "stoppoc.contract": True,
        "stoppoc.shared": False,
        "faststream": False,
        "asyncpg": False,
        "aio_pika": True,
        "pydantic": True,
    }


async def test_a_portal_quotes_and_stops_a_cluster_with_the_client_alone(client_only_python, settings, client):
    cluster = SampleCluster()
    async with running(settings, "inventory", "checkout", "payment"):
        await cluster.register(client)
        await fund(client, cluster.customer_id, 50_000_000)
        process = await asyncio.create_subprocess_exec(
            str(client_only_python),
            "-c",
            PORTAL,
            settings.amqp_url,
            settings.namespace,
            cluster.customer_id,
            cluster.cluster_id,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), 180)
        finally:
            if process.returncode is None:
                process.kill()

    assert process.returncode == 0, err.decode()
    said = json.loads(out)
    order = await client.wait_for("order.created", lambda d: d["cluster_id"] == cluster.cluster_id)
    assert said == {
        "total": order.data["total"],
        "refused": "cluster_not_found",
        "final": "cluster.poc_stopped",
        "succeeded": True,
        "rounds": 1,
    }
