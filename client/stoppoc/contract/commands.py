"""Commands (exchange ``NS.commands``): each is sent to the one service that owns it."""

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from stoppoc.contract.base import (
    MAX_TIMEZONE_LENGTH,
    Billing,
    CatalogKey,
    Email,
    Id,
    Language,
    Message,
    Name,
    Reference,
    ResourceKind,
    Secret,
    Spec,
    Url,
    VolumeRole,
    amount,
    count,
    id_list,
)


class ServerSpec(Message):
    flavor: CatalogKey
    vcpu: int = count(gt=0)
    ram_gib: int = count(gt=0)


class VolumeSpec(Message):
    size_gib: int = count(gt=0)
    volume_type: CatalogKey
    role: VolumeRole


SPEC_BY_KIND: dict[ResourceKind, type[ServerSpec] | type[VolumeSpec]] = {
    ResourceKind.SERVER: ServerSpec,
    ResourceKind.VOLUME: VolumeSpec,
}


class ClusterUpsert(Message):
    cluster_id: Id = Field(min_length=1)
    customer_id: Id = Field(min_length=1)
    name: Name
    poc: bool
    poc_expires_at: datetime | None = None


class ResourceUpsert(Message):
    resource_id: Id = Field(min_length=1)
    cluster_id: Id = Field(min_length=1)
    kind: ResourceKind
    billing: Billing
    spec: Spec = Field(default_factory=dict)
    # Added: a real server or volume the platform already sells, and its billing period.
    paid_until: datetime | None = None
    usage_cycle_months: int | None = count(default=None, gt=0)
    auto_renew: bool | None = None

    @model_validator(mode="after")
    def _spec_matches_kind(self) -> "ResourceUpsert":
        if spec_model := SPEC_BY_KIND.get(self.kind):
            spec_model.model_validate(self.spec)
        return self


class ResourceDelete(Message):
    resource_id: Id = Field(min_length=1)


class StopPocRequest(Message):
    request_id: Id = Field(min_length=1)
    customer_id: Id = Field(min_length=1)
    cluster_id: Id = Field(min_length=1)
    usage_cycle_months: int = count(gt=0)
    auto_renew: bool
    coupon_code: Id | None = None
    resource_ids: list[Id] | None = id_list(default=None)
    # Added: the total the portal showed from its quote; round 1 is rejected (`price_changed`)
    # when its order's total differs.
    expected_total: int | None = amount(default=None, ge=0)


class StopPocQuote(Message):
    customer_id: Id = Field(min_length=1)
    cluster_id: Id = Field(min_length=1)
    usage_cycle_months: int = count(gt=0)
    coupon_code: Id | None = None
    # Added: a quote of exactly what the customer will confirm.
    resource_ids: list[Id] | None = id_list(default=None)


class RenewalRequest(Message):
    """``inventory.renewal.request``: the customer renews real resources by hand."""

    request_id: Id = Field(min_length=1)
    customer_id: Id = Field(min_length=1)
    cluster_id: Id = Field(min_length=1)
    usage_cycle_months: int = count(gt=0)
    # default: every real server and volume of the cluster
    resource_ids: list[Id] | None = id_list(default=None)


class CouponUpsert(Message):
    code: Id
    kind: str = Field(pattern="^(percent|fixed)$")
    value: int = amount(gt=0)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    max_redemptions: int | None = count(default=None, ge=0)
    per_customer_limit: int | None = count(default=None, ge=0)


class WalletCredit(Message):
    customer_id: Id = Field(min_length=1)
    amount: int = amount(gt=0)  # and at most STOPPOC_MAX_CREDIT, which payment checks
    reference: Reference


class ContactUpsert(Message):
    """``notifier.contact.upsert``: how a customer wants to hear about what happens."""

    customer_id: Id = Field(min_length=1)
    email: Email | None = None
    language: Language = Language.VI
    timezone: str = Field(default="Asia/Ho_Chi_Minh", max_length=MAX_TIMEZONE_LENGTH)
    webhook_url: Url | None = None
    webhook_secret: Secret | None = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone") from None
        return value

    @model_validator(mode="after")
    def _webhook_url_and_secret_together(self) -> "ContactUpsert":
        if (self.webhook_url is None) != (self.webhook_secret is None):
            raise ValueError("webhook_url and webhook_secret go together")
        return self


BY_ROUTING_KEY: dict[str, type[Message]] = {
    "inventory.cluster.upsert": ClusterUpsert,
    "inventory.resource.upsert": ResourceUpsert,
    "inventory.resource.delete": ResourceDelete,
    "inventory.stop_poc.request": StopPocRequest,
    "inventory.stop_poc.quote": StopPocQuote,
    "inventory.renewal.request": RenewalRequest,
    "checkout.coupon.upsert": CouponUpsert,
    "payment.wallet.credit": WalletCredit,
    "notifier.contact.upsert": ContactUpsert,
}
