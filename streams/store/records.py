"""A Kafka record's audit-table row: decode its value with the codec, map it with ``rows``.

The sink builds every row it stores with :func:`record_row`; ``ledger verify`` rebuilds the row
from the stored Kafka value with the same function and compares, so a column edited after the
fact is caught even when the value and its leaf hash were left alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from base.errors import LedgerError
from domain.events import Event
from schemas.codec import HEADER_SIZE, decode_dead_letter, decode_emission, decode_event
from schemas.mapping import Coordinates
from streams.store.base import Table
from streams.store.rows import dead_letter_row, decision_row, event_row


class EmptyRecordError(LedgerError):
    """A record without a value (a tombstone): nothing to store."""


def event_record_row(event: Event, value: bytes, at: Coordinates, now: datetime) -> dict[str, Any]:
    """The ``events`` row of ``event``, decoded from ``value`` (so the framing is checked)."""
    # Bytes 2..9 of a single-object message are the writer schema's fingerprint.
    return event_row(event, at, now, bytes(value[2:HEADER_SIZE]).hex())


def record_row(
    table: Table, value: bytes | None, at: Coordinates, emitted_at: datetime, now: datetime
) -> dict[str, Any]:
    """The row of ``table`` for the Kafka ``value`` read at ``at`` (raises a LedgerError if bad).

    ``emitted_at`` (decisions only) is the record's Kafka timestamp; ``now`` the ingestion time.
    """
    if value is None:
        raise EmptyRecordError("empty message (tombstone)")
    if table is Table.EVENTS:
        return event_record_row(decode_event(value), value, at, now)
    if table is Table.DECISIONS:
        return decision_row(decode_emission(value), at, emitted_at, now)
    letter = decode_dead_letter(value)
    return dead_letter_row(
        raw=letter.raw,
        reason=letter.reason,
        source_topic=letter.source_topic,
        source_partition=letter.source_partition,
        source_offset=letter.source_offset,
        source_timestamp=letter.source_timestamp,
        failed_at=letter.failed_at,
        at=at,
        ingested_at=now,
    )
