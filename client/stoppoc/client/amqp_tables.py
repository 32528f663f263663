"""AMQP field tables (message headers, queue arguments) read to a bounded depth.

pamqp decodes a table nested in a table by recursion and copies the rest of the frame at each
level: a header nested ~900 deep raises ``RecursionError`` in the connection's reader, and one as
deep as a frame allows (~21,000 levels in 128 KiB) takes gigabytes and seconds. aiormq decodes a
frame before anyone sees the message, so one such header closed the connection of whoever took
it (a service on every reconnect, ``stoppoc dlq`` on every look, a portal's client). ``install()`` makes pamqp decode
tables here instead, without copying and only ``MAX_DEPTH`` levels deep: a table or array below
that is skipped by its length and read as an ``Unreadable`` string that describes it, which a
service dead-letters (``unreadable_headers``) and an operator sees in ``stoppoc dlq show``.
"""

from collections.abc import Callable
from typing import Any

from pamqp import decode

MAX_DEPTH = 64  # the headers themselves are level 1; x-death, the deepest the broker writes, is 3
PREFIX_BYTES = 80
_FIXED_SIZE_MAX = 9  # the longest fixed-size value (a timestamp, a double) is 8 bytes; a decimal 5
_LENGTH_PREFIXED = (b"S", b"x")  # long string and byte array: a 4-byte length, then the bytes


class Unreadable(str):
    """A table or array nested deeper than ``MAX_DEPTH``, not decoded: what it was, in a line."""


def _scalar_decoders() -> dict[bytes, Callable[..., tuple[int, Any]]]:
    return {kind: fn for kind, fn in decode.TABLE_MAPPING.items() if kind not in (b"F", b"A")}


_SCALARS = _scalar_decoders()


def _length(data: bytes, offset: int, what: str) -> int:
    if offset + 4 > len(data):
        raise ValueError(f"Could not unpack {what} length")
    return int.from_bytes(data[offset : offset + 4], "big")


def _unreadable(data: bytes, start: int, end: int) -> Unreadable:
    prefix = data[start : start + PREFIX_BYTES].decode("utf-8", errors="backslashreplace")
    shown = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in prefix)
    more = "…" if end - start > PREFIX_BYTES else ""
    return Unreadable(f"unreadable (nested deeper than {MAX_DEPTH}), {end - start:,} bytes: {shown}{more}")


def _value(data: bytes, offset: int, depth: int) -> tuple[int, Any]:
    """The value whose type byte is at ``offset``, and where the next one starts."""
    kind, start = data[offset : offset + 1], offset + 1
    if kind == b"F":
        return _table(data, start, depth + 1)
    if kind == b"A":
        return _array(data, start, depth + 1)
    decoder = _SCALARS.get(kind)
    if decoder is None:
        raise ValueError(f"Unknown type: {kind!r}")
    # Hand the decoder only its own bytes: pamqp's copy of the whole rest, per value, is quadratic.
    size = 4 + _length(data, start, "value") if kind in _LENGTH_PREFIXED else _FIXED_SIZE_MAX
    consumed, value = decoder(data[start : start + size])
    return start + consumed, value


def _table(data: bytes, offset: int, depth: int) -> tuple[int, Any]:
    start = offset + 4
    end = start + _length(data, offset, "field table")
    if end > len(data):
        raise ValueError("Field table length exceeds available data")
    if depth > MAX_DEPTH:
        return end, _unreadable(data, offset - 1, end)
    table: dict[str, Any] = {}
    position = start
    while position < end:
        key_end = position + 1 + data[position]
        if key_end > end:
            raise ValueError("Field table key length exceeds data")
        key = data[position + 1 : key_end].decode("utf-8")
        position, table[key] = _value(data, key_end, depth)
    return end, table


def _array(data: bytes, offset: int, depth: int) -> tuple[int, Any]:
    start = offset + 4
    end = start + _length(data, offset, "field array")
    if end > len(data):
        raise ValueError("Field array length exceeds available data")
    if depth > MAX_DEPTH:
        return end, _unreadable(data, offset - 1, end)
    items = []
    position = start
    while position < end:
        position, item = _value(data, position, depth)
        items.append(item)
    return end, items


def field_table(data: bytes) -> tuple[int, Any]:
    """pamqp's ``decode.field_table``, bounded: bytes consumed and the table."""
    return _table(bytes(data), 0, 1)


def field_array(data: bytes) -> tuple[int, Any]:
    """pamqp's ``decode.field_array``, bounded: bytes consumed and the array."""
    return _array(bytes(data), 0, 1)


def install() -> None:
    """Make pamqp (hence aiormq, aio-pika and FastStream) decode tables here. Idempotent."""
    decode.METHODS["table"] = field_table
    decode.METHODS["array"] = field_array
    decode.TABLE_MAPPING[b"F"] = field_table
    decode.TABLE_MAPPING[b"A"] = field_array


def unreadable_in(headers: Any) -> list[str]:
    """The names of the headers that hold an ``Unreadable`` value, at any depth; empty when none."""
    found: set[str] = set()
    stack: list[tuple[str, Any]] = [(str(name), value) for name, value in (headers or {}).items()]
    while stack:
        name, value = stack.pop()
        if isinstance(value, Unreadable):
            found.add(name)
        elif isinstance(value, dict):
            stack.extend((name, item) for item in value.values())
        elif isinstance(value, list):
            stack.extend((name, item) for item in value)
    return sorted(found)


def publishable(value: Any) -> Any:
    """``value`` as pamqp can encode it again: a long string that was not UTF-8 (decoded as
    ``bytes``, which pamqp does not encode) becomes a byte array. Depth is bounded by the decoder."""
    if isinstance(value, bytes):
        return bytearray(value)
    if isinstance(value, dict):
        return {key: publishable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [publishable(item) for item in value]
    return value
