"""The fault-injection suite, small and seeded, in every test run. The full size:
``python -m tests.faults --conversions 300 --seed 7`` (see docs/reliability.md)."""

import pytest

from tests.faults.suite import run_suite

pytestmark = [pytest.mark.faults, pytest.mark.e2e]


async def test_a_seeded_batch_under_kills_and_cut_connections_keeps_every_promise(settings, tmp_path):
    figures = await run_suite(settings, conversions=30, seed=7, instances=2, log_dir=tmp_path, seconds=20)
    print("\n".join(figures.lines()))

    assert figures.violations == []
    faults = figures.faults
    assert min(faults.kills, faults.sigterm_restarts, faults.broker_cuts, faults.database_cuts) > 0
    assert sum(figures.outcomes.values()) == figures.requests
    assert sum(figures.dead_letters.values()) >= 5  # one poison message of each kind at least
