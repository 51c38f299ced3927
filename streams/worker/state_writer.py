"""The ``TravellerState`` Avro body, assembled from cached bodies of its events and decisions.

A state is rewritten every batch that changes it, but almost all of it is unchanged: its events
are immutable and shared between successive states, and a decision that did not change keeps
its object. Avro's binary form is a plain concatenation (a union is its branch index then the
value; an array is a count, the items, then 0), so the state body is assembled here from the
body of each event and decision, encoded once by fastavro with exactly the schema the state's
union branch or array item embeds, and kept per object. The bytes are identical to fastavro
writing the whole record (``tests/unit/test_state_format.py`` checks it on simulated states).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import fastavro

from schemas.state_schema import build_state_schema

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND: Final = timedelta(milliseconds=1)
NULL: Final = b"\x00"
SECOND_BRANCH: Final = b"\x02"  # union index 1 (zigzag varint)
END_OF_ARRAY: Final = b"\x00"


def write_long(n: int) -> bytes:
    """Avro ``long``: zigzag, then a little-endian base-128 varint."""
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z & ~0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


_SMALL: Final = [write_long(n) for n in range(256)]


def write_count(n: int) -> bytes:
    """An array block count or a union index (small non-negative longs, precomputed)."""
    return _SMALL[n] if n < 256 else write_long(n)


def write_string(text: str) -> bytes:
    """Avro ``string``: byte length, then UTF-8."""
    data = text.encode()
    return write_count(len(data)) + data


def write_instant(value: datetime) -> bytes:
    """``timestamp-millis``."""
    return write_long((value - EPOCH) // MILLISECOND)


def write_optional_instant(value: datetime | None) -> bytes:
    """``["null", timestamp-millis]``."""
    return NULL if value is None else SECOND_BRANCH + write_instant(value)


class BodyCache:
    """Bodies of immutable values by object; holding the object keeps its ``id`` unique."""

    def __init__(self, write: Callable[[Any], bytes], limit: int) -> None:
        self._write = write
        self._limit = limit
        self._by_id: dict[int, tuple[Any, bytes]] = {}

    def body(self, value: Any) -> bytes:
        """``value``'s body, written on first use."""
        hit = self._by_id.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        body = self._write(value)
        self.seed(value, body)
        return body

    def seed(self, value: Any, body: bytes) -> None:
        """Take ``body`` as ``value``'s: the caller knows it is what writing ``value`` gives."""
        if len(self._by_id) >= self._limit:
            self._by_id.clear()  # simple bound: the live states' values come back on next use
        self._by_id[id(value)] = (value, body)


def item_schemas() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The state's event union branches and its decision item, parsed for fastavro."""
    fields = {f["name"]: f["type"] for f in build_state_schema()["fields"]}
    branches = [fastavro.parse_schema(s) for s in fields["events"]["items"]]
    decision = fastavro.parse_schema(fields["decisions"]["items"])
    return branches, decision  # type: ignore[return-value]  # records parse to dicts


def body_writer(schema: dict[str, Any], mapping: Callable[[Any], dict[str, Any]]) -> Any:
    """A function writing a value's Avro body with ``schema`` from ``mapping(value)``."""

    def write(value: Any) -> bytes:
        out = io.BytesIO()
        fastavro.schemaless_writer(out, schema, mapping(value))
        return out.getvalue()

    return write
