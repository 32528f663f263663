"""What operators' commands make of whatever bytes a queue holds, and of the times they are given."""

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from stoppoc.cli.letters import READABLE_BYTES, DeadLetter, age, read_body
from stoppoc.cli.timing import parse_duration, parse_moment


class Incoming:
    """The properties of an incoming message that a dead letter is read from."""

    def __init__(self, body: bytes, message_id: str | None = "m-1", headers: dict | None = None) -> None:
        self.body = body
        self.message_id = message_id
        self.headers = headers or {}
        self.content_type = None
        self.correlation_id = None
        self.reply_to = None
        self.redelivered = False


def test_a_cloudevent_is_readable_and_its_type_known():
    body = json.dumps({"type": "stoppoc.payment.wallet.credit.v1", "data": {"amount": 5}}).encode()

    letter = DeadLetter.of(Incoming(body))

    assert letter.body.readable and letter.body.parsed["data"] == {"amount": 5}
    assert letter.type == "stoppoc.payment.wallet.credit.v1"
    assert letter.body.describe() == ""


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe\x00 binary", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "JSON nested too deep"),
        (b"[" * 900 + b"]" * 900, "JSON nested too deep"),  # parses, but would not print
        (b'{"data": "' + b"x" * (READABLE_BYTES + 1) + b'"}', f"larger than {READABLE_BYTES:,} bytes"),
    ],
    ids=["not-json", "not-utf8", "nested-100000-deep", "nested-900-deep", "megabytes"],
)
def test_an_unreadable_body_is_described_by_its_problem_size_and_prefix(body, problem):
    read = read_body(body)

    assert not read.readable and read.problem == problem
    assert read.size == len(body)
    assert 0 < len(read.prefix) <= 81 and read.prefix.isprintable()
    assert read.describe().startswith(f"unreadable ({problem}), {len(body):,} bytes: ")


def test_a_prefix_never_carries_terminal_control_characters():
    read = read_body(b"\x1b[31mred\x07 [bold]markup[/]")

    assert read.prefix == "\\x1b[31mred\\x07 [bold]markup[/]"


def test_a_message_without_id_is_named_by_its_body_digest_and_its_verdict_read_from_headers():
    body = b"[" * 5000
    headers = {
        "x-stoppoc-error": b"invalid_envelope",
        "x-stoppoc-attempts": 1,
        "x-stoppoc-failed-at": "2026-01-01T00:00:00+00:00",
    }

    letter = DeadLetter.of(Incoming(body, message_id=None, headers=headers))

    assert letter.id == "sha256:" + hashlib.sha256(body).hexdigest()[:16]
    assert (letter.error, letter.headers["attempts"]) == ("invalid_envelope", 1)
    assert letter.age_seconds(datetime(2026, 1, 1, 0, 2, tzinfo=UTC)) == 120


def test_a_dead_letter_names_a_request_in_its_envelope_or_anywhere_in_unreadable_bytes():
    readable = DeadLetter.of(Incoming(json.dumps({"correlationid": "r-1", "data": {}}).encode()))
    renewal = DeadLetter.of(Incoming(json.dumps({"data": {"renewal_id": "r-2"}}).encode()))
    broken = DeadLetter.of(Incoming(b'\xff{"request_id": "r-3", '))

    assert readable.names("r-1") and not readable.names("r-2")
    assert renewal.names("r-2")
    assert broken.names("r-3") and not broken.names("r-")


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("0s", 0)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "5", "1x", "m5", "1h 30m", "-1h"])
def test_a_bad_duration_says_what_is_expected(text):
    with pytest.raises(ValueError, match="such as 90s"):
        parse_duration(text)


def test_moments_are_utc_unless_they_say_otherwise():
    assert parse_moment("2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_moment("2026-11-01T08:00:00+07:00") == datetime(2026, 11, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_moment("yesterday")


def test_ages_read_at_a_glance():
    assert [age(s) for s in (None, 5, 125, 7300, 200_000)] == ["-", "5s", "2m", "2h", "2d"]
