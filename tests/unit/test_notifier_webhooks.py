"""Standard Webhooks signatures, checked against the reference library's test vector and its
verifier, and the URL policy against server-side request forgery. Nothing here connects anywhere."""

import ipaddress
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from stoppoc.services.notifier.webhook_rules import RefusedUrl, parse_url, resolve, secret_key, sign, why_refused

# The vector of the reference libraries (libraries/python/tests/test_webhooks.py, test_sign_function).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_signature_of_the_reference_test_vector():
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE
    # The prefix is optional, as in the reference libraries.
    assert sign(VECTOR_SECRET.removeprefix("whsec_"), VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE


def test_the_reference_verifier_accepts_our_signature_and_refuses_a_changed_body():
    timestamp = int(datetime.now(UTC).timestamp())
    body = b'{"specversion":"1.0","id":"evt-1","data":{"total":8700000}}'
    headers = {
        "webhook-id": "evt-1",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(VECTOR_SECRET, "evt-1", timestamp, body),
    }

    assert Webhook(VECTOR_SECRET).verify(body, headers)["data"]["total"] == 8_700_000
    with pytest.raises(WebhookVerificationError):
        Webhook(VECTOR_SECRET).verify(body.replace(b"8700000", b"1"), headers)


@pytest.mark.parametrize(
    "secret",
    # Not base64, unpadded, stray characters: the reference libraries would sign with a key made of
    # what is left, one the customer never chose.
    ["whsec_", "", "whsec_***", "secret", "whsec_secret", "whsec_YWI", "whsec_YW Jj", "whsec_YW-j", "whsec_YWJj\n"],
)
def test_a_secret_that_is_not_standard_padded_base64_is_refused(secret):
    with pytest.raises(ValueError, match="webhook secret"):
        secret_key(secret)


@pytest.mark.parametrize("secret", ["whsec_YWJj", "YWJj"])
def test_the_key_is_the_base64_decoded_with_or_without_the_prefix(secret):
    assert secret_key(secret) == b"abc"


@pytest.mark.parametrize(
    ("address", "refused_as"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.9", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "private or reserved"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
    ],
)
def test_private_loopback_and_link_local_addresses_are_refused(address, refused_as):
    reason = why_refused(ipaddress.ip_address(address), allow_private=False)
    assert reason is not None and refused_as in reason


def test_allowing_private_addresses_lets_them_through_but_never_unspecified_ones():
    assert why_refused(ipaddress.ip_address("127.0.0.1"), allow_private=True) is None
    assert why_refused(ipaddress.ip_address("10.0.0.1"), allow_private=True) is None
    assert why_refused(ipaddress.ip_address("0.0.0.0"), allow_private=True) is not None


def test_public_addresses_are_allowed():
    assert why_refused(ipaddress.ip_address("203.113.131.1"), allow_private=False) is None
    assert why_refused(ipaddress.ip_address("2001:4860:4860::8888"), allow_private=False) is None


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "http:///path", "gopher://h/", "x"])
def test_only_http_and_https_urls_with_a_host_are_taken(url):
    with pytest.raises(RefusedUrl):
        parse_url(url)


async def test_the_check_is_made_on_the_resolved_address():
    # localhost is a name: what it resolves to is what is checked.
    with pytest.raises(RefusedUrl, match="loopback"):
        await resolve("http://localhost:9/hook", allow_private=False)


async def test_an_allowed_url_is_sent_to_the_address_that_was_checked():
    target = await resolve("https://user:pw@127.0.0.1:8443/hooks?x=1", allow_private=True)

    assert target.url == "https://user:pw@127.0.0.1:8443/hooks?x=1"
    assert (target.host, target.server_name) == ("127.0.0.1:8443", "127.0.0.1")
