"""A real resource's paid period, without infrastructure: renewals and the stages after paid_until."""

import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from stoppoc.services.inventory import billing
from stoppoc.services.inventory.billing import Stage
from stoppoc.shared.settings import Settings

PAID_UNTIL = datetime(2026, 3, 31, 12, tzinfo=UTC)
GRACE = billing.Grace.of_days(15, 30)


def days_after(days: float) -> datetime:
    return PAID_UNTIL + timedelta(days=days)


@pytest.mark.parametrize(
    ("current", "now", "due"),
    [
        (Stage.ACTIVE, days_after(-0.001), []),
        (Stage.ACTIVE, days_after(0), [Stage.EXPIRED]),
        (Stage.EXPIRED, days_after(14.9), []),
        (Stage.EXPIRED, days_after(15), [Stage.SUSPENDED]),
        (Stage.SUSPENDED, days_after(29), []),
        (Stage.SUSPENDED, days_after(30), [Stage.DELETION_DUE]),
        (Stage.DELETION_DUE, days_after(400), []),
        # Found late: every stage passed, once each and in order.
        (Stage.ACTIVE, days_after(31), [Stage.EXPIRED, Stage.SUSPENDED, Stage.DELETION_DUE]),
        (Stage.EXPIRED, days_after(31), [Stage.SUSPENDED, Stage.DELETION_DUE]),
    ],
)
def test_each_stage_comes_once_in_order_when_its_time_has_come(current, now, due):
    assert billing.stages_due(current, PAID_UNTIL, now, GRACE) == due


def test_fractions_of_days_run_the_lifecycle_in_seconds():
    grace = billing.Grace.of_days(2 / 86_400, 4 / 86_400)
    assert billing.stages_due(Stage.ACTIVE, PAID_UNTIL, PAID_UNTIL + timedelta(seconds=3), grace) == [
        Stage.EXPIRED,
        Stage.SUSPENDED,
    ]


def test_an_automatic_renewal_extends_the_period_that_ended_by_the_cycle_clamped_to_the_month():
    late = days_after(10)
    assert billing.renewed_until(PAID_UNTIL, late, 1, billing.AUTO_RENEW) == datetime(2026, 4, 30, 12, tzinfo=UTC)


def test_a_renewal_by_hand_starts_from_today_once_the_period_is_over():
    now = datetime(2026, 5, 20, 8, tzinfo=UTC)
    assert billing.renewed_until(PAID_UNTIL, now, 3, billing.MANUAL) == datetime(2026, 8, 20, 8, tzinfo=UTC)
    early = datetime(2026, 3, 1, tzinfo=UTC)
    assert billing.renewed_until(PAID_UNTIL, early, 3, billing.MANUAL) == datetime(2026, 6, 30, 12, tzinfo=UTC)
    assert billing.renewed_until(None, now, 1, billing.MANUAL) == datetime(2026, 6, 20, 8, tzinfo=UTC)


@pytest.mark.parametrize(("stage", "suspended"), [(s, s in (Stage.SUSPENDED, Stage.DELETION_DUE)) for s in Stage])
def test_a_resource_due_for_deletion_is_suspended_too(stage, suspended):
    assert billing.is_suspended(stage) is suspended


@dataclass(frozen=True)
class Row:
    resource_id: str
    kind: str = "server"
    billing: str = "real"
    renewing_id: str | None = None


CLUSTER = [
    Row("srv"),
    Row("boot", "volume"),
    Row("trial", billing="poc"),
    Row("lb", "load_balancer"),
    Row("busy", renewing_id="renewal-0"),
]


def test_by_default_a_renewal_by_hand_takes_every_real_server_and_volume():
    chosen = billing.select_renewable("c1", CLUSTER[:4], None)
    assert [r.resource_id for r in chosen] == ["srv", "boot"]


@pytest.mark.parametrize(
    ("asked", "reason"),
    [
        (["srv", "gone"], "resource_not_found"),
        (["trial"], "resource_not_renewable"),
        (["lb"], "resource_not_renewable"),
        (["busy"], "renewal_in_progress"),
    ],
)
def test_a_renewal_by_hand_of_what_cannot_be_renewed_is_rejected(asked, reason):
    assert billing.select_renewable("c1", CLUSTER, asked).reason == reason


def test_every_problem_of_a_renewal_by_hand_is_named():
    rejected = billing.select_renewable("c1", CLUSTER, ["gone", "trial", "busy"])
    assert rejected.detail == (
        "resource_not_found: gone; resource_not_renewable: trial (poc server);"
        " renewal_in_progress: busy (renewal renewal-0)"
    )


def test_a_cluster_with_nothing_real_has_nothing_to_renew():
    assert billing.select_renewable("c1", [Row("trial", billing="poc")], None).reason == "nothing_to_renew"


def test_only_offered_cycles_may_be_chosen():
    assert billing.check_cycle(3, {1: 0, 3: 0}) is None
    assert billing.check_cycle(2, {1: 0, 3: 0}).reason == "invalid_usage_cycle"


def test_a_deletion_due_with_the_suspension_comes_right_after_it():
    grace = billing.Grace.of_days(2, 2)
    assert billing.stages_due(Stage.EXPIRED, PAID_UNTIL, days_after(3), grace) == [Stage.SUSPENDED, Stage.DELETION_DUE]
    with pytest.raises(ValueError, match="later than deleted"):
        billing.Grace.of_days(15, 2)


def test_a_suspension_set_after_the_deletion_is_a_configuration_error(monkeypatch):
    monkeypatch.setenv("STOPPOC_SUSPEND_AFTER_DAYS", "40")
    with pytest.raises(ValidationError, match=r"STOPPOC_SUSPEND_AFTER_DAYS .* is after STOPPOC_DELETE_AFTER_DAYS"):
        Settings()
    done = subprocess.run(
        [sys.executable, "-m", "stoppoc.cli", "dlq", "list", "payment"],
        env={"STOPPOC_SUSPEND_AFTER_DAYS": "40", "STOPPOC_DELETE_AFTER_DAYS": "30", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("stoppoc: bad configuration:") and "STOPPOC_SUSPEND_AFTER_DAYS" in done.stderr


@pytest.mark.parametrize("given", ["7,3,1", " 7, 3 ,1 ", "[7, 3, 1]", "7,3,1,"])
def test_reminder_days_are_json_or_comma_separated(monkeypatch, given):
    monkeypatch.setenv("STOPPOC_RENEWAL_REMINDER_DAYS", given)
    assert Settings().renewal_reminder_days == [7, 3, 1]


def test_reminder_days_that_are_not_numbers_are_refused(monkeypatch):
    monkeypatch.setenv("STOPPOC_RENEWAL_REMINDER_DAYS", "7,three")
    with pytest.raises(ValidationError, match="renewal_reminder_days"):
        Settings()
