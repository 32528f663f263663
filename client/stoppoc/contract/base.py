from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Id = str


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=False)


class ResourceKind(StrEnum):
    SERVER = "server"
    VOLUME = "volume"
    LOAD_BALANCER = "load_balancer"
    SNAPSHOT = "snapshot"


# Only servers and volumes are ever billed through POC (the product page's Attention note).
CONVERTIBLE_KINDS = frozenset({ResourceKind.SERVER, ResourceKind.VOLUME})


class Billing(StrEnum):
    POC = "poc"
    REAL = "real"


class OrderKind(StrEnum):
    """What an order pays for: the rounds of a Stop POC, or a renewal of real resources."""

    CONVERSION = "conversion"
    RENEWAL = "renewal"


class RenewalReason(StrEnum):
    """Why a renewal was requested (``renewal.requested`` reason)."""

    AUTO_RENEW = "auto_renew"  # paid_until passed with auto-renew on, or a retry of that
    MANUAL = "manual"  # the customer's inventory.renewal.request


class Language(StrEnum):
    VI = "vi"
    EN = "en"


class VolumeRole(StrEnum):
    BOOT = "boot"
    PVC = "pvc"
    DATA = "data"


def money(**kwargs: Any) -> Any:
    """A field of integer VND: strict, so that 1.5 or "100" never slips in."""
    return Field(strict=True, **kwargs)


@dataclass(frozen=True)
class Rejection:
    """Why something asked for cannot be done: a machine-readable ``reason`` code and a sentence."""

    reason: str
    detail: str
