from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

Id = str
# Money is an integer number of VND; strict so that 1.5 or "100" never slips in.
Vnd = int


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


class VolumeRole(StrEnum):
    BOOT = "boot"
    PVC = "pvc"
    DATA = "data"


def money(**kwargs) -> object:
    return Field(strict=True, **kwargs)
