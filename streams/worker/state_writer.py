"""The ``TravellerState`` Avro body, assembled from cached bodies of its events and decisions.

A state is rewritten every batch that changes it, but almost all of it is unchanged: its events
are immutable and shared between successive states, and a decision that did not change keeps
its object. Avro's binary form is a plain concatenation (:mod:`schemas.avro_binary`), so the state
body is assembled from the body of each event and decision, kept per object. An event's body is
the one its input message carried when that message was written with the current schema
(``state_format.keep_input_body``), else fastavro writes it once with exactly the schema the
state's union branch embeds; a decision's is written by :mod:`schemas.decision_body`. The bytes
are identical to fastavro writing the whole record (``tests/unit/test_state_format.py`` checks it
on simulated states) whenever the input came from a standard Avro writer; an input body with
over-long varints, which Avro readers accept, is kept as it came and reads back to the same event.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import fastavro

from schemas.state_schema import build_state_schema


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


def event_branch_schemas() -> list[dict[str, Any]]:
    """The state's event union branches, parsed for fastavro."""
    fields = {f["name"]: f["type"] for f in build_state_schema()["fields"]}
    return [fastavro.parse_schema(s) for s in fields["events"]["items"]]  # type: ignore[misc]


def body_writer(schema: dict[str, Any], mapping: Callable[[Any], dict[str, Any]]) -> Any:
    """A function writing a value's Avro body with ``schema`` from ``mapping(value)``."""

    def write(value: Any) -> bytes:
        out = io.BytesIO()
        fastavro.schemaless_writer(out, schema, mapping(value))
        return out.getvalue()

    return write
