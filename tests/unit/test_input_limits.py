"""The contract's input limits: what a client may send, and the reason it is told when it sends more."""

from dataclasses import replace

import pytest

from stoppoc.contract import validate_data
from stoppoc.contract.base import MAX_AMOUNT, MAX_COUNT, MAX_ID_LENGTH, MAX_REFERENCE_LENGTH, MAX_RESOURCE_IDS
from stoppoc.contract.commands import ClusterUpsert, CouponUpsert, ResourceUpsert, StopPocRequest, WalletCredit
from stoppoc.contract.errors import InvalidData
from stoppoc.services.payment import domain
from stoppoc.services.payment.queries import RefundedPayment


def credit(**overrides) -> dict:
    return {"customer_id": "cus-1", "amount": 1_000, "reference": "topup-1", **overrides}


def stop_request(**overrides) -> dict:
    return {
        "request_id": "req-1",
        "customer_id": "cus-1",
        "cluster_id": "cl-1",
        "usage_cycle_months": 1,
        "auto_renew": True,
        **overrides,
    }


def refusal(model, data: dict) -> str:
    with pytest.raises(InvalidData) as refused:
        validate_data(model, data)
    return str(refused.value)


def test_an_id_of_128_printable_characters_is_taken():
    longest = "a" * (MAX_ID_LENGTH - 3) + "-_:"
    assert validate_data(WalletCredit, credit(customer_id=longest)).customer_id == longest


def test_a_longer_id_is_refused_naming_the_field_and_the_limit():
    detail = refusal(WalletCredit, credit(customer_id="c" * 100_000))
    assert detail == f"customer_id: String should have at most {MAX_ID_LENGTH} characters"


@pytest.mark.parametrize("bad", ["", "cus 1", "cus-1 ", "cus\n1", "cus\x00", "khách-1", "cus\u200b1"])
def test_an_id_with_anything_but_visible_ascii_is_refused(bad):
    assert refusal(WalletCredit, credit(customer_id=bad)).startswith("customer_id: ")


def test_ids_in_lists_and_other_commands_have_the_same_limit():
    detail = refusal(StopPocRequest, stop_request(resource_ids=["ok", "x" * (MAX_ID_LENGTH + 1)]))
    assert detail.startswith("resource_ids.1: String should have at most")
    assert refusal(ClusterUpsert, {"cluster_id": "k\t", "customer_id": "c", "name": "n", "poc": True}).startswith(
        "cluster_id: "
    )


def test_a_list_of_resource_ids_is_bounded():
    most = [f"r-{n}" for n in range(MAX_RESOURCE_IDS)]
    assert len(validate_data(StopPocRequest, stop_request(resource_ids=most)).resource_ids or []) == MAX_RESOURCE_IDS
    detail = refusal(StopPocRequest, stop_request(resource_ids=[*most, "one-more"]))
    assert detail == f"resource_ids: List should have at most {MAX_RESOURCE_IDS} items after validation, not 1001"


def test_amounts_are_bounded():
    assert validate_data(WalletCredit, credit(amount=MAX_AMOUNT)).amount == MAX_AMOUNT
    assert refusal(WalletCredit, credit(amount=MAX_AMOUNT + 1)).startswith("amount: Input should be less than")
    assert refusal(StopPocRequest, stop_request(expected_total=MAX_AMOUNT + 1)).startswith("expected_total: ")
    fixed = {"code": "BIG", "kind": "fixed", "value": MAX_AMOUNT + 1}
    assert refusal(CouponUpsert, fixed).startswith("value: ")


def test_counts_fit_their_integer_columns():
    server = {"resource_id": "s", "cluster_id": "k", "kind": "server", "billing": "poc"}
    spec = {"flavor": "f", "vcpu": MAX_COUNT + 1, "ram_gib": 4}
    assert "vcpu" in refusal(ResourceUpsert, {**server, "spec": spec})
    assert refusal(StopPocRequest, stop_request(usage_cycle_months=MAX_COUNT + 1)).startswith("usage_cycle_months: ")


def test_a_reference_may_be_longer_than_an_id_but_is_bounded_too():
    refund = f"refund:{'p' * 36}:{'r' * MAX_ID_LENGTH}"
    assert validate_data(WalletCredit, credit(reference=refund)).reference == refund
    detail = refusal(WalletCredit, credit(reference="r" * (MAX_REFERENCE_LENGTH + 1)))
    assert detail == f"reference: String should have at most {MAX_REFERENCE_LENGTH} characters"


def test_a_cluster_name_may_be_any_printable_text_within_its_limit():
    upsert = {"cluster_id": "k", "customer_id": "c", "poc": True}
    assert validate_data(ClusterUpsert, {**upsert, "name": "Cụm thử nghiệm"}).name == "Cụm thử nghiệm"
    assert refusal(ClusterUpsert, {**upsert, "name": "a\x07b"}).startswith("name: ")


def test_a_credit_above_the_ceiling_is_refused_but_a_refund_is_bounded_by_its_payment_instead():
    assert domain.credit_refusal("topup-1", 1_000, ceiling=1_000) is None
    reason = domain.credit_refusal("topup-1", 1_001, ceiling=1_000)
    assert reason == "a credit of 1001 VND is above the ceiling of 1000 VND (STOPPOC_MAX_CREDIT)"
    assert domain.credit_refusal("refund:pay-1:srv-1", 5_000, ceiling=1_000) is None


PAID = RefundedPayment(
    order_id="o-1", customer_id="cus-1", status="settled", amount=5_000, line_total=4_000, refunded=0
)


def refund_reason(reference: str = "refund:pay-1:srv-1", amount: int = 4_000, **paid) -> str | None:
    found = None if paid.get("missing") else replace(PAID, **paid)
    refusal = domain.refund_refusal(reference, "cus-1", amount, found)
    return refusal.reason if refusal else None


def test_a_refund_of_a_whole_line_of_a_settled_payment_of_the_customer_is_taken():
    assert refund_reason() is None
    assert refund_reason(amount=1_000, refunded=4_000) is None  # the last of the payment


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ({"reference": "refund:"}, "refund_unknown_payment"),
        ({"reference": "refund:pay-1"}, "refund_unknown_payment"),
        ({"missing": True}, "refund_unknown_payment"),
        ({"customer_id": "cus-2"}, "refund_unknown_payment"),
        ({"status": "awaiting_funds"}, "refund_unknown_payment"),
        ({"status": "failed"}, "refund_unknown_payment"),
        ({"line_total": None}, "refund_unknown_payment"),  # the payment has no line for the resource
        ({"amount": 4_001}, "refund_exceeds_payment"),  # more than the line
        ({"amount": 1_001, "line_total": 2_000, "refunded": 4_000}, "refund_exceeds_payment"),  # more than the rest
    ],
)
def test_any_other_refund_is_refused_with_its_reason(case, reason):
    assert refund_reason(**case) == reason
