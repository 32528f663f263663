"""What a webhook may be sent to, and how it is signed: the Standard Webhooks signature and
the URL policy against server-side request forgery (http or https only; every address the host
resolves to must be public unless ``STOPPOC_WEBHOOK_ALLOW_PRIVATE`` is on). No HTTP client here,
so the contact handler can check a URL without one."""

import asyncio
import base64
import binascii
import hashlib
import hmac
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

from stoppoc.contract.errors import redact

SECRET_PREFIX = "whsec_"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedUrl(ValueError):
    """The URL is not one a webhook may be sent to."""


def secret_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: the base64 after an optional ``whsec_``,
    decoded (the key the reference libraries derive from either form). Strict: anything but
    standard base64 with its padding is refused, where the reference libraries would drop the
    stray characters and sign with a key the customer never chose."""
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError("a webhook secret is standard base64, padded, after an optional whsec_") from error
    if not key:
        raise ValueError("a webhook secret may not be empty")
    return key


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """``v1,`` + base64(HMAC-SHA256(key, ``{webhook-id}.{webhook-timestamp}.{body}``))."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def parse_url(url: str) -> SplitResult:
    """The URL's parts, if it is one a webhook may go to at all (before any address is looked up)."""
    parts, shown = urlsplit(url), redact(url)
    if parts.scheme not in ("http", "https"):
        raise RefusedUrl(f"webhook URLs are http or https, not {parts.scheme or 'schemeless'}: {shown}")
    if not parts.hostname:
        raise RefusedUrl(f"the webhook URL has no host: {shown}")
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number or out of range)
    except ValueError as error:
        raise RefusedUrl(f"the webhook URL has a bad port: {shown}") from error
    return parts


def why_refused(address: IPAddress, allow_private: bool) -> str | None:
    """Why a webhook may not go to ``address``, or None if it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.is_unspecified or address.is_multicast:
        return "an unspecified or multicast address"
    if allow_private or address.is_global:
        return None
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    return "a private or reserved address"


@dataclass(frozen=True)
class Target:
    """Where a webhook goes: the checked address, and the URL's host for ``Host`` and TLS."""

    url: str  # the URL with the checked address in place of the host
    host: str  # the URL's host[:port], for the Host header
    server_name: str  # the URL's host name, for TLS


async def resolve(url: str, allow_private: bool) -> Target:
    """Check ``url`` against the policy on its resolved addresses (every one of them), and the
    address to send to. Raises RefusedUrl (permanent) or OSError (name resolution failed: try later)."""
    parts = parse_url(url)
    hostname = parts.hostname
    assert hostname is not None  # parse_url checked it
    port = parts.port or (443 if parts.scheme == "https" else 80)
    found = await asyncio.get_running_loop().getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    addresses = [ipaddress.ip_address(info[4][0]) for info in found]
    for address in addresses:
        if reason := why_refused(address, allow_private):
            raise RefusedUrl(
                f"{hostname} resolves to {address}, {reason}; webhooks to it are refused "
                "(STOPPOC_WEBHOOK_ALLOW_PRIVATE is off)"
            )
    chosen = addresses[0]
    literal = f"[{chosen}]" if chosen.version == 6 else str(chosen)
    userinfo, _, host = parts.netloc.rpartition("@")
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    pinned = urlunsplit(parts._replace(netloc=f"{userinfo}@{netloc}" if userinfo else netloc))
    return Target(pinned, host, hostname)
