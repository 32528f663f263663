"""Webhooks: the CloudEvent that caused a notification, POSTed to the customer's URL and signed
the Standard Webhooks way (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``).

The URL policy guards against server-side request forgery: http or https only, and the host's
resolved addresses must all be public unless ``STOPPOC_WEBHOOK_ALLOW_PRIVATE`` is on. The request
then goes to the very address that was checked (the host is sent as ``Host`` and as the TLS
server name), so a DNS answer that changes between the check and the connection cannot
redirect it.
"""

import asyncio
import base64
import binascii
import hashlib
import hmac
import ipaddress
import logging
import socket
import time
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

import httpx

from stoppoc.contract.envelope import CONTENT_TYPE
from stoppoc.contract.errors import redact
from stoppoc.services.notifier.outcome import Outcome

SECRET_PREFIX = "whsec_"
USER_AGENT = "stoppoc-notifier"
ANSWER_BYTES = 200  # of a receiver's answer kept in the delivery log
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedUrl(ValueError):
    """The URL is not one a webhook may be sent to."""


def secret_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: the base64 after an optional ``whsec_``,
    decoded as the reference libraries decode it."""
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX) + "==")
    except (binascii.Error, ValueError) as error:
        raise ValueError("a webhook secret is whsec_ followed by base64") from error
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


class WebhookSender:
    """Posts webhooks over one HTTP connection pool; ``close`` when done."""

    def __init__(self, timeout_seconds: float, allow_private: bool) -> None:
        self._timeout = timeout_seconds
        self._allow_private = allow_private
        self._client = httpx.AsyncClient(timeout=timeout_seconds, follow_redirects=False)
        # httpx logs every request at INFO; each attempt is logged once by the worker instead.
        logging.getLogger("httpx").setLevel(logging.WARNING)

    async def close(self) -> None:
        await self._client.aclose()

    async def post(self, url: str, secret: str, webhook_id: str, body: bytes) -> Outcome:
        try:
            target = await resolve(url, self._allow_private)
        except RefusedUrl as refused:
            return Outcome.failed(f"refused: {refused}")
        except OSError as error:
            return Outcome.retry(f"cannot resolve the webhook's host: {error}")
        timestamp = int(time.time())
        headers = {
            "host": target.host,
            "content-type": CONTENT_TYPE,
            "user-agent": USER_AGENT,
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, webhook_id, timestamp, body),
        }
        try:
            async with self._client.stream(
                "POST", target.url, content=body, headers=headers, extensions={"sni_hostname": target.server_name}
            ) as response:
                head = await _head(response)
        except httpx.TimeoutException:
            return Outcome.retry(f"no answer within {self._timeout:g} s")
        except httpx.HTTPError as error:
            return Outcome.retry(f"{type(error).__name__}: {error}")
        answer = f"HTTP {response.status_code} {response.reason_phrase}".strip()
        snippet = " ".join(head.decode(errors="replace").split())
        if snippet:
            answer = f"{answer}: {snippet}"
        return Outcome.sent(answer) if response.is_success else Outcome.retry(answer)


async def _head(response: httpx.Response, limit: int = ANSWER_BYTES) -> bytes:
    """The start of the receiver's answer, for the delivery log; the rest is never read."""
    head = b""
    async for chunk in response.aiter_bytes():
        head += chunk
        if len(head) >= limit:
            break
    return head[:limit]
