"""Commands (exchange ``NS.commands``): each is sent to the one service that owns it."""

from datetime import datetime
from typing import Any

from pydantic import Field, model_validator

from shared.contract.base import Billing, Id, Message, ResourceKind, VolumeRole, money


class ServerSpec(Message):
    flavor: str = Field(min_length=1)
    vcpu: int = Field(gt=0)
    ram_gib: int = Field(gt=0)


class VolumeSpec(Message):
    size_gib: int = Field(gt=0)
    volume_type: str = Field(min_length=1)
    role: VolumeRole


SPEC_BY_KIND = {ResourceKind.SERVER: ServerSpec, ResourceKind.VOLUME: VolumeSpec}


class ClusterUpsert(Message):
    cluster_id: Id = Field(min_length=1)
    customer_id: Id = Field(min_length=1)
    name: str = Field(min_length=1)
    poc: bool
    poc_expires_at: datetime | None = None


class ResourceUpsert(Message):
    resource_id: Id = Field(min_length=1)
    cluster_id: Id = Field(min_length=1)
    kind: ResourceKind
    billing: Billing
    spec: dict[str, Any] = Field(default_factory=dict)

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
    usage_cycle_months: int = Field(gt=0)
    auto_renew: bool
    coupon_code: str | None = None
    resource_ids: list[Id] | None = None


class StopPocQuote(Message):
    customer_id: Id = Field(min_length=1)
    cluster_id: Id = Field(min_length=1)
    usage_cycle_months: int = Field(gt=0)
    coupon_code: str | None = None


class CouponUpsert(Message):
    code: str = Field(min_length=1)
    kind: str = Field(pattern="^(percent|fixed)$")
    value: int = money(gt=0)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    max_redemptions: int | None = Field(default=None, ge=0)
    per_customer_limit: int | None = Field(default=None, ge=0)


class WalletCredit(Message):
    customer_id: Id = Field(min_length=1)
    amount: int = money(gt=0)
    reference: str = Field(min_length=1)


BY_ROUTING_KEY: dict[str, type[Message]] = {
    "inventory.cluster.upsert": ClusterUpsert,
    "inventory.resource.upsert": ResourceUpsert,
    "inventory.resource.delete": ResourceDelete,
    "inventory.stop_poc.request": StopPocRequest,
    "inventory.stop_poc.quote": StopPocQuote,
    "checkout.coupon.upsert": CouponUpsert,
    "payment.wallet.credit": WalletCredit,
}
