"""Inventory's selection and request checks, with no infrastructure."""

from datetime import UTC, datetime, timedelta

import pytest

from stoppoc.contract.base import Billing, ResourceKind
from stoppoc.services.inventory import domain


def resource(rid: str, kind: str = "server", billing: str = "poc", **kw) -> domain.Resource:
    return domain.Resource(rid, kw.pop("cluster_id", "c1"), ResourceKind(kind), Billing(billing), {}, **kw)


CLUSTER = [
    resource("srv"),
    resource("boot", "volume"),
    resource("pvc", "volume"),
    resource("lb", "load_balancer"),
    resource("snap", "snapshot"),
    resource("paid", billing="real"),
    resource("held", held_by="other-request"),
]


def test_by_default_every_poc_server_and_volume_is_selected_and_nothing_else():
    selected = domain.select_resources("c1", CLUSTER, None, None)
    assert [r.resource_id for r in selected] == ["srv", "boot", "pvc"]


def test_an_empty_confirmation_means_the_default_selection():
    assert [r.resource_id for r in domain.select_resources("c1", CLUSTER, [], [])] == ["srv", "boot", "pvc"]


def test_confirmed_resources_are_taken_as_confirmed_once_each():
    selected = domain.select_resources("c1", CLUSTER, CLUSTER, ["pvc", "srv", "pvc"])
    assert [r.resource_id for r in selected] == ["pvc", "srv"]


@pytest.mark.parametrize(
    ("confirmed", "reason"),
    [
        (["srv", "missing"], "resource_not_found"),
        (["lb"], "resource_not_convertible"),
        (["snap", "srv"], "resource_not_convertible"),
        (["paid"], "resource_not_poc"),
        (["held"], "resource_busy"),
    ],
)
def test_a_confirmed_resource_that_cannot_be_converted_rejects_the_request(confirmed, reason):
    outcome = domain.select_resources("c1", CLUSTER, CLUSTER, confirmed)
    assert isinstance(outcome, domain.Rejection)
    assert outcome.reason == reason


def test_a_resource_of_another_cluster_is_not_found_and_every_problem_is_detailed():
    foreign = resource("elsewhere", cluster_id="c2")
    outcome = domain.select_resources("c1", CLUSTER, [*CLUSTER, foreign], ["elsewhere", "lb", "paid"])
    assert outcome.reason == "resource_not_found"
    assert (
        outcome.detail
        == "resource_not_found: elsewhere; resource_not_convertible: lb (load_balancer); resource_not_poc: paid"
    )


def test_a_deleted_resource_is_neither_selected_nor_confirmable():
    gone = resource("gone", deleted=True)
    assert domain.select_resources("c1", [gone], None, None) == []
    assert domain.select_resources("c1", [gone], [gone], ["gone"]).reason == "resource_not_found"


@pytest.mark.parametrize(
    ("cluster", "customer", "busy", "reason"),
    [
        (None, "cus", None, "cluster_not_found"),
        (domain.Cluster("c1", "someone-else", True), "cus", None, "cluster_not_owned"),
        (domain.Cluster("c1", "cus", False), "cus", None, "cluster_not_poc"),
        (domain.Cluster("c1", "cus", True), "cus", "req-0", "conversion_in_progress"),
    ],
)
def test_a_request_the_cluster_does_not_allow_is_rejected(cluster, customer, busy, reason):
    assert domain.check_request(cluster, customer, busy).reason == reason


def test_the_owner_of_a_poc_cluster_with_no_conversion_may_stop_it():
    assert domain.check_request(domain.Cluster("c1", "cus", True), "cus", None) is None


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        (datetime(2026, 1, 15, 9, 30, tzinfo=UTC), 1, datetime(2026, 2, 15, 9, 30, tzinfo=UTC)),
        (datetime(2026, 1, 31, tzinfo=UTC), 1, datetime(2026, 2, 28, tzinfo=UTC)),
        (datetime(2027, 11, 30, tzinfo=UTC), 3, datetime(2028, 2, 29, tzinfo=UTC)),
        (datetime(2026, 12, 1, tzinfo=UTC), 24, datetime(2028, 12, 1, tzinfo=UTC)),
    ],
)
def test_paid_until_is_the_same_day_months_later_or_the_end_of_a_shorter_month(start, months, end):
    assert domain.add_months(start, months) == end


NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expires_in_days", "reminded", "due"),
    [
        (10, [], None),  # too early for any reminder
        (6.5, [], 7),
        (6.5, [7], None),  # sent already
        (0.5, [7], 1),
        (0.5, [], 1),  # registered late: only the closest reminder, the 7-day one is skipped
        (0.5, [1], None),
        (-0.1, [], None),  # expired: nothing to remind
    ],
)
def test_each_reminder_is_due_once_and_only_the_closest_when_several_passed(expires_in_days, reminded, due):
    expires_at = NOW + timedelta(days=expires_in_days)
    assert domain.due_reminder(expires_at, NOW, [7, 1], reminded) == due


def test_a_cluster_whose_poc_option_is_off_still_takes_a_stop_while_poc_resources_remain():
    # A node registered as POC after the option went off is not stranded: a later press converts it.
    assert domain.check_request(domain.Cluster("c1", "cus", False), "cus", None, poc_left=True) is None


@pytest.mark.parametrize(
    ("whole_cluster", "left", "ending"),
    [
        (True, [resource("newcomer")], domain.Ending.NEXT_ROUND),
        (False, [resource("not-confirmed")], domain.Ending.COMPLETED),
        (True, [], domain.Ending.STOPPED),
        (False, [], domain.Ending.STOPPED),
    ],
)
def test_a_paid_round_goes_on_only_for_the_whole_cluster_and_stops_the_poc_option_only_when_none_is_left(
    whole_cluster, left, ending
):
    assert domain.after_paid_round(whole_cluster, left) is ending
