"""AMQP tables decoded to a bounded depth (stoppoc.client.amqp_tables): what pamqp reads, read
the same; what it cannot (a header nested as deep as a frame holds), read at once as its description."""

import time
import tracemalloc

from hypothesis import given
from hypothesis import strategies as st
from pamqp import commands, decode, encode

from stoppoc.client import amqp_tables
from stoppoc.client.amqp_tables import MAX_DEPTH, Unreadable, publishable, unreadable_in

FRAME_MAX = 131_072
LEVEL = b"\x00F"  # an empty key, then a table


def nested(levels: int, innermost: bytes = b"\x00\x00\x00\x00") -> bytes:
    """An encoded table holding a table ``levels`` deep (built without recursion)."""
    table = innermost
    for _ in range(levels):
        table = len(LEVEL + table).to_bytes(4, "big") + LEVEL + table
    return table


def headers_with(name: bytes, value: bytes) -> bytes:
    entry = bytes([len(name)]) + name + value
    return len(entry).to_bytes(4, "big") + entry


scalars = (
    st.integers(-(2**63), 2**63 - 1)
    | st.booleans()
    | st.none()
    | st.text(max_size=20)
    | st.binary(max_size=20).map(bytearray)
    | st.floats(allow_nan=False, width=32)
)
tables = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)


@given(st.dictionaries(st.text(max_size=8), tables, max_size=5))
def test_a_table_pamqp_can_read_is_read_the_same(table):
    encoded = encode.field_table(table)

    assert amqp_tables.field_table(encoded) == decode.field_table(encoded)


def test_headers_as_deep_as_a_frame_holds_are_read_at_once_as_their_description():
    levels = (FRAME_MAX - 100) // (4 + len(LEVEL))
    encoded = headers_with(b"x-deep", b"F" + nested(levels))
    assert FRAME_MAX - 200 < len(encoded) < FRAME_MAX
    amqp_tables.install()
    properties = commands.Basic.Properties()

    tracemalloc.start()
    started = time.perf_counter()
    properties.unmarshal(commands.Basic.Properties.flags["headers"], encoded)  # as aiormq reads a frame
    took = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert took < 0.5 and peak < 10 * FRAME_MAX  # pamqp itself: a RecursionError, or 2.5 GB and 3 s
    value = properties.headers["x-deep"]
    for _ in range(MAX_DEPTH - 1):
        value = value[""]
    assert isinstance(value, Unreadable) and value.startswith(f"unreadable (nested deeper than {MAX_DEPTH}), ")
    assert unreadable_in(properties.headers) == ["x-deep"]
    # Published again (dead-lettered, replayed), it is its description: small, and pamqp encodes it.
    assert len(encode.field_table(publishable(properties.headers))) < 1000


def test_a_table_exactly_as_deep_as_read_is_read_whole():
    _, table = amqp_tables.field_table(headers_with(b"ok", b"F" + nested(MAX_DEPTH - 2)))

    assert unreadable_in(table) == []


def test_arrays_count_as_levels_too():
    array = b"\x00\x00\x00\x00"
    for _ in range(MAX_DEPTH + 5):
        array = len(b"A" + array).to_bytes(4, "big") + b"A" + array

    _, table = amqp_tables.field_table(headers_with(b"x-list", b"A" + array))

    assert unreadable_in(table) == ["x-list"]


def test_a_long_string_that_is_not_utf8_can_be_published_again():
    raw = b"\xff\xfe"
    _, table = amqp_tables.field_table(headers_with(b"x-bin", b"S" + len(raw).to_bytes(4, "big") + raw))

    assert table == {"x-bin": raw}  # pamqp gives bytes here, and cannot encode bytes
    assert decode.field_table(encode.field_table(publishable(table)))[1] == {"x-bin": bytearray(raw)}
