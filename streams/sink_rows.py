"""The sink's rows: a Kafka record to the row of its table, after every check the row must pass.

An event must pass the worker's edge checks (``streams.edge.check_record``): the events table
holds only events the ledger accepts. Every instant of a row must fit ClickHouse's ``DateTime``
(the server refuses a whole batch over one of them, chDB clamps it in silence). A record that
fails raises a :class:`~base.errors.LedgerError`; the sink counts it and passes over it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from base.settings import Settings
from schemas.codec import decode_event
from schemas.mapping import Coordinates
from streams.edge import (
    STORABLE_FROM,
    STORABLE_UNTIL,
    EdgeLimits,
    EdgeViolation,
    check_record,
    check_storable,
    record_instant,
)
from streams.sink_retry import SinkError
from streams.store.base import Table
from streams.store.records import event_record_row, record_row


class SinkRows:
    """Builds the sink's rows under one set of settings (topics, plausible range, skew)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.limits = EdgeLimits.from_settings(settings)

    def row(
        self, table: Table, record: Any, at: Coordinates, now: datetime, now_storable: bool
    ) -> dict[str, Any]:
        """The row of ``record`` read at ``at`` into ``table``, ingested ``now``.

        ``now_storable``: whether ``now`` fits ``DateTime`` (the caller checks it once for
        the records of a poll, see :func:`storable`). An events row holds two instants:
        ``occurred_at`` passed ``check_record``'s plausible range, which
        ``EdgeLimits.from_settings`` keeps inside ``DateTime``'s, and ``ingested_at`` is
        ``now``; so only other rows are checked column by column.
        """
        value: bytes | None = record.value
        timestamp_ms: int | None = getattr(record, "timestamp", None)
        if value is None:
            raise SinkError("empty message (tombstone)")
        if table is Table.EVENTS:
            event = decode_event(value)
            key = getattr(record, "key", None)
            check_record(
                event,
                self.limits,
                self.settings,
                topic=at.topic,
                key=key,
                timestamp_ms=timestamp_ms,
            )
            row = event_record_row(event, value, at, now)
            if now_storable:
                return row
        else:
            row = record_row(table, value, at, record_time(timestamp_ms, now), now)
        for column, cell in row.items():
            if isinstance(cell, datetime):
                check_storable(cell, column)
        return row


def storable(now: datetime) -> bool:
    """Whether ``now``, stored to the second, fits ClickHouse's ``DateTime``."""
    return STORABLE_FROM <= now.replace(microsecond=0) <= STORABLE_UNTIL


def record_time(timestamp_ms: int | None, fallback: datetime) -> datetime:
    """A Kafka record timestamp (epoch ms) as an aware instant; ``fallback`` when it has none.

    kafka-python reports -1 (or None) when the record carries no timestamp (old message format).
    """
    if timestamp_ms is None or timestamp_ms < 0:
        return fallback
    instant = record_instant(int(timestamp_ms))
    if instant is None:
        raise EdgeViolation(
            "timestamp", f"record timestamp {timestamp_ms} ms is beyond the calendar"
        )
    return instant
