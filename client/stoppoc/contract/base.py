import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

# Input limits, as a bank's API has them: whatever arrives beyond them is refused with its reason
# (a dead letter `invalid_data` naming the field, or a rejection event), never stored.
MAX_ID_LENGTH = 128
MAX_REFERENCE_LENGTH = 256  # a credit's reference: `refund:<payment id>:<resource id>` must fit
MAX_NAME_LENGTH = 256
MAX_RESOURCE_IDS = 1000  # resource ids one request may name
MAX_AMOUNT = 10**13  # VND in one amount a client sends: sums of many stay far inside BIGINT
MAX_COUNT = 2**31 - 1  # counts and sizes are PostgreSQL integers
MAX_EMAIL_LENGTH = 254  # the longest address SMTP carries (RFC 5321)
MAX_URL_LENGTH = 2048
MAX_SECRET_LENGTH = 256  # a Standard Webhooks secret is `whsec_` and the base64 of 24 to 64 bytes
MAX_TIMEZONE_LENGTH = 64  # IANA names are at most about 30 characters
# A resource's spec is stored as the platform sends it: a flat or nested JSON object of at most
# this many keys at its top and bytes in all, its strings printable.
MAX_SPEC_KEYS = 32
MAX_SPEC_BYTES = 4096
# The largest message body the services take; the broker's `max_message_size` is set to the
# same figure (deploy/rabbitmq/rabbitmq.conf, the Helm chart).
MAX_MESSAGE_BYTES = 1024 * 1024


def _visible_ascii(value: str) -> str:
    """Ids and references are printable ASCII without spaces: nothing that looks like another
    id on a screen or in a log line (a trailing space, a control character, a look-alike letter)."""
    for position, character in enumerate(value):
        if not "!" <= character <= "~":
            raise ValueError(f"only printable ASCII characters without spaces: {character!r} at {position}")
    return value


def _printable(value: str) -> str:
    if not value.isprintable():
        raise ValueError("only printable characters")
    return value


def _bounded_spec(spec: dict[str, Any]) -> dict[str, Any]:
    if len(spec) > MAX_SPEC_KEYS:
        raise ValueError(f"at most {MAX_SPEC_KEYS} keys, not {len(spec)}")
    size = len(json.dumps(spec, separators=(",", ":"), ensure_ascii=False, default=str).encode())
    if size > MAX_SPEC_BYTES:
        raise ValueError(f"at most {MAX_SPEC_BYTES} bytes of JSON, not {size}")
    _printable_strings(spec)
    return spec


def _printable_strings(value: Any, where: str = "") -> None:
    """Every key and string in a JSON value is printable (PostgreSQL refuses a NUL in jsonb)."""
    if isinstance(value, str) and not value.isprintable():
        raise ValueError(f"only printable characters in {where or 'it'}")
    if isinstance(value, dict):
        for key, item in value.items():
            if not key.isprintable():
                raise ValueError(f"only printable characters in the keys of {where or 'it'}")
            _printable_strings(item, f"{where}.{key}" if where else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _printable_strings(item, f"{where}.{index}")


Id = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH), AfterValidator(_visible_ascii)]
Reference = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_REFERENCE_LENGTH), AfterValidator(_visible_ascii)
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH), AfterValidator(_printable)]
# A catalog key a resource's spec names (a server's flavor, a volume's type).
CatalogKey = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH), AfterValidator(_printable)]
Email = Annotated[
    str,
    StringConstraints(max_length=MAX_EMAIL_LENGTH, pattern=r"^[^@\s]+@[^@\s]+$"),
    AfterValidator(_printable),
]
Url = Annotated[str, StringConstraints(min_length=1, max_length=MAX_URL_LENGTH), AfterValidator(_visible_ascii)]
Secret = Annotated[str, StringConstraints(min_length=1, max_length=MAX_SECRET_LENGTH), AfterValidator(_visible_ascii)]
Spec = Annotated[dict[str, Any], AfterValidator(_bounded_spec)]


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


def amount(**kwargs: Any) -> Any:
    """An amount a client sends: integer VND, at most ``MAX_AMOUNT``."""
    return money(le=MAX_AMOUNT, **kwargs)


def count(**kwargs: Any) -> Any:
    """A count or size a client sends: it fits the integer column it is stored in."""
    return Field(le=MAX_COUNT, **kwargs)


def id_list(**kwargs: Any) -> Any:
    """A list of resource ids a client sends: at most ``MAX_RESOURCE_IDS``."""
    return Field(max_length=MAX_RESOURCE_IDS, **kwargs)


@dataclass(frozen=True)
class Rejection:
    """Why something asked for cannot be done: a machine-readable ``reason`` code and a sentence."""

    reason: str
    detail: str
