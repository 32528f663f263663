"""Whether a customer may use a coupon at a moment: pure rules, no I/O.

Codes are matched case-insensitively and stored upper-case. A coupon is valid from
``valid_from`` to ``valid_until``, both included. Its limits count the redemptions reserved
(the order is not paid yet) and redeemed (paid); a released one (the payment failed) counts
for nothing.

A conversion redeems a coupon once, however many rounds it has: its first round is checked and
reserves the redemption; later rounds use what that redemption holds, without checking the
limits or the window again (the customer was granted the coupon when they pressed Stop POC).
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import overload

from stoppoc.contract.base import Rejection
from stoppoc.contract.commands import CouponUpsert
from stoppoc.contract.errors import InvalidData
from stoppoc.services.checkout.domain import FIXED, PERCENT, CouponDiscount

COUPON_NOT_FOUND = "coupon_not_found"
COUPON_NOT_YET_VALID = "coupon_not_yet_valid"
COUPON_EXPIRED = "coupon_expired"
COUPON_EXHAUSTED = "coupon_exhausted"
COUPON_LIMIT_REACHED = "coupon_limit_reached"


def normalize_code(code: str) -> str:
    return code.upper()


@dataclass(frozen=True)
class Coupon:
    code: str
    kind: str
    value: int
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    max_redemptions: int | None = None
    per_customer_limit: int | None = None

    @property
    def discount(self) -> CouponDiscount:
        return CouponDiscount(self.code, self.kind, self.value)


@dataclass(frozen=True)
class Usage:
    """Redemptions reserved or redeemed: by every customer, and by the one pricing the round."""

    total: int
    by_customer: int


def from_command(command: CouponUpsert) -> Coupon:
    """The coupon a ``checkout.coupon.upsert`` describes; InvalidData if it makes no sense."""
    if command.kind == PERCENT and not 1 <= command.value <= 100:
        raise InvalidData(f"value: a percent coupon takes 1 to 100 percent off, not {command.value}")
    valid_from, valid_until = as_utc(command.valid_from), as_utc(command.valid_until)
    if valid_from and valid_until and valid_from > valid_until:
        raise InvalidData(f"valid_from {valid_from.isoformat()} is after valid_until {valid_until.isoformat()}")
    return Coupon(
        code=normalize_code(command.code),
        valid_from=valid_from,
        valid_until=valid_until,
        **command.model_dump(exclude={"code", "valid_from", "valid_until"}),
    )


@overload
def as_utc(moment: datetime) -> datetime: ...
@overload
def as_utc(moment: None) -> None: ...
def as_utc(moment: datetime | None) -> datetime | None:
    """In UTC; a time without a zone is taken as UTC, as the contract's times are."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def offer(code: str, coupon: Coupon | None, usage: Usage, customer_id: str, at: datetime) -> CouponDiscount | Rejection:
    """The coupon's discount for ``customer_id`` at ``at``, or the reason they cannot use it."""
    at = as_utc(at)
    if coupon is None:
        return Rejection(COUPON_NOT_FOUND, f"there is no coupon {code!r}")
    if coupon.valid_from is not None and at < coupon.valid_from:
        return Rejection(COUPON_NOT_YET_VALID, f"coupon {code!r} is valid from {coupon.valid_from.isoformat()}")
    if coupon.valid_until is not None and at > coupon.valid_until:
        return Rejection(COUPON_EXPIRED, f"coupon {code!r} expired at {coupon.valid_until.isoformat()}")
    if coupon.max_redemptions is not None and usage.total >= coupon.max_redemptions:
        return Rejection(
            COUPON_EXHAUSTED, f"coupon {code!r} has been used {usage.total} of {coupon.max_redemptions} times"
        )
    if coupon.per_customer_limit is not None and usage.by_customer >= coupon.per_customer_limit:
        return Rejection(
            COUPON_LIMIT_REACHED,
            f"customer {customer_id} has used coupon {code!r} {usage.by_customer} times,"
            f" the limit per customer is {coupon.per_customer_limit}",
        )
    return coupon.discount


@dataclass(frozen=True)
class HeldRedemption:
    """The redemption a conversion holds: the coupon's terms when it was reserved, and what the
    conversion's orders took off with it so far."""

    code: str
    kind: str
    value: int
    discount: int
    status: str


def still_to_spend(held: HeldRedemption) -> CouponDiscount:
    """The coupon for a later round: a percent coupon takes its percent off every round; a fixed
    one what is left of its amount after the earlier rounds (nothing once used up)."""
    if held.kind == PERCENT:
        return CouponDiscount(held.code, PERCENT, held.value)
    return CouponDiscount(held.code, FIXED, max(0, held.value - held.discount))
