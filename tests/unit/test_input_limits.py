"""The contract's input limits: what a client may send, and the reason it is told when it sends more."""

from dataclasses import replace

import pytest
from pydantic import ValidationError

from stoppoc.contract import validate_data
from stoppoc.contract.base import (
    MAX_AMOUNT,
    MAX_COUNT,
    MAX_EMAIL_LENGTH,
    MAX_ID_LENGTH,
    MAX_REFERENCE_LENGTH,
    MAX_RESOURCE_IDS,
    MAX_SECRET_LENGTH,
    MAX_SPEC_BYTES,
    MAX_SPEC_KEYS,
    MAX_URL_LENGTH,
    ResourceKind,
)
from stoppoc.contract.commands import (
    SPEC_BY_KIND,
    ClusterUpsert,
    ContactUpsert,
    CouponUpsert,
    ResourceUpsert,
    StopPocRequest,
    WalletCredit,
)
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


def contact(**overrides) -> dict:
    return {"customer_id": "cus-1", **overrides}


def test_a_contact_s_email_url_secret_and_time_zone_are_bounded():
    longest_email = "a" * (MAX_EMAIL_LENGTH - len("@example.vn")) + "@example.vn"
    assert validate_data(ContactUpsert, contact(email=longest_email)).email == longest_email
    assert refusal(ContactUpsert, contact(email="a" * 300_000 + "@x.vn")) == (
        f"email: String should have at most {MAX_EMAIL_LENGTH} characters"
    )
    url, secret = "https://hooks.example.vn/" + "p" * (MAX_URL_LENGTH - 25), "whsec_" + "A" * 250
    taken = validate_data(ContactUpsert, contact(webhook_url=url, webhook_secret=secret))
    assert (taken.webhook_url, taken.webhook_secret) == (url, secret)
    webhook = {"webhook_url": "https://hooks.example.vn/", "webhook_secret": "whsec_AAAA"}
    assert refusal(ContactUpsert, contact(**{**webhook, "webhook_url": url + "p"})) == (
        f"webhook_url: String should have at most {MAX_URL_LENGTH} characters"
    )
    assert refusal(ContactUpsert, contact(**{**webhook, "webhook_secret": "w" * 300_000})) == (
        f"webhook_secret: String should have at most {MAX_SECRET_LENGTH} characters"
    )
    assert refusal(ContactUpsert, contact(timezone="A" * 300_000)).startswith("timezone: String should have at most")


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("email", "a\x00b@example.vn"),
        ("webhook_url", "https://hooks.example.vn/a b"),
        ("webhook_url", "https://hooks.example.vn/\x00"),
        ("webhook_secret", "whsec_AA\nAA"),
    ],
)
def test_a_contact_with_control_characters_is_refused(field, bad):
    webhook = {"webhook_url": "https://hooks.example.vn/", "webhook_secret": "whsec_AAAA"}
    assert refusal(ContactUpsert, contact(**{**webhook, field: bad})).startswith(f"{field}: ")


def resource(kind: str, spec: dict) -> dict:
    return {"resource_id": "r-1", "cluster_id": "k", "kind": kind, "billing": "poc", "spec": spec}


@pytest.mark.parametrize(
    ("kind", "spec", "field"),
    [
        ("server", {"flavor": "a\x00b\tc ", "vcpu": 2, "ram_gib": 4}, "flavor"),
        ("volume", {"size_gib": 50, "volume_type": "ssd\x00", "role": "boot"}, "volume_type"),
    ],
)
def test_a_flavor_or_volume_type_with_control_characters_is_refused(kind, spec, field):
    assert refusal(ResourceUpsert, resource(kind, spec)) == f"spec: Value error, only printable characters in {field}"
    model = SPEC_BY_KIND[ResourceKind(kind)]
    with pytest.raises(ValidationError, match=f"{field}\n  Value error, only printable characters"):
        model.model_validate(spec)


def test_any_kind_s_spec_is_bounded_in_keys_and_size_and_printable():
    most = {f"k{n}": n for n in range(MAX_SPEC_KEYS)}
    assert validate_data(ResourceUpsert, resource("load_balancer", most)).spec == most
    assert refusal(ResourceUpsert, resource("snapshot", {**most, "one-more": 1})) == (
        f"spec: Value error, at most {MAX_SPEC_KEYS} keys, not {MAX_SPEC_KEYS + 1}"
    )
    big = {"note": "x" * MAX_SPEC_BYTES}
    assert refusal(ResourceUpsert, resource("load_balancer", big)).startswith(
        f"spec: Value error, at most {MAX_SPEC_BYTES} bytes of JSON"
    )
    server = {"flavor": "general-2c4g", "vcpu": 2, "ram_gib": 4, "extra": "x" * MAX_SPEC_BYTES}
    assert refusal(ResourceUpsert, resource("server", server)).startswith("spec: ")
    nested_nul = {"listeners": [{"name": "web\x00"}]}
    assert refusal(ResourceUpsert, resource("load_balancer", nested_nul)) == (
        "spec: Value error, only printable characters in listeners.0.name"
    )
    assert refusal(ResourceUpsert, resource("snapshot", {"a": {"b\x00": 1}})) == (
        "spec: Value error, only printable characters in the keys of a"
    )
