"""Webhooks: the CloudEvent that caused a notification, POSTed to the customer's URL and signed
the Standard Webhooks way (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``).

The request goes to the very address the URL policy checked (webhook_rules.py; the host is sent
as ``Host`` and as the TLS server name), so a DNS answer that changes between the check and the
connection cannot redirect it.
"""

import logging
import time

import httpx

from stoppoc.contract.envelope import CONTENT_TYPE
from stoppoc.services.notifier.outcome import Outcome
from stoppoc.services.notifier.webhook_rules import RefusedUrl, resolve, sign

USER_AGENT = "stoppoc-notifier"
ANSWER_BYTES = 200  # of a receiver's answer kept in the delivery log


class WebhookSender:
    """Posts webhooks, each over a connection of its own; ``close`` when done."""

    def __init__(self, timeout_seconds: float, allow_private: bool) -> None:
        self._timeout = timeout_seconds
        self._allow_private = allow_private
        # No connection is kept for another request: httpx pools by the URL's host, here the checked
        # IP, so two customers' hosts on one IP would share a TLS connection checked for one of them.
        self._client = httpx.AsyncClient(
            timeout=timeout_seconds, follow_redirects=False, limits=httpx.Limits(max_keepalive_connections=0)
        )
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
        try:
            signature = sign(secret, webhook_id, timestamp, body)
        except ValueError as error:  # a secret stored before secrets were checked strictly
            return Outcome.failed(f"the contact's webhook secret cannot sign: {error}")
        headers = {
            "host": target.host,
            "content-type": CONTENT_TYPE,
            "user-agent": USER_AGENT,
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature,
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
