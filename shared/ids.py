"""Ids derived from what they name: the same inputs give the same id, so a message handled
twice (under different message ids) creates nothing twice."""

import uuid

_NAMESPACE = uuid.UUID("3c1f0e52-7b7d-4d3a-9d0e-0000000000c1")


def derived_id(kind: str, *parts: object) -> str:
    """``derived_id("order", request_id, round)``: a UUID 5 of the kind and the parts."""
    return str(uuid.uuid5(_NAMESPACE, ":".join([kind, *(str(part) for part in parts)])))
