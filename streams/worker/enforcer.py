"""Per-message enforcement logic, free of Faust so it can be tested without a broker.

:meth:`Enforcer.handle` takes one raw Kafka message and its coordinates and returns what the agent
must publish. A message that does not decode, or decodes into an event that breaks the contract,
becomes a dead letter carrying the raw bytes, the reason and the coordinates; any error that is not
a :class:`LedgerError` propagates and stops the worker loudly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from schemas.codec import DeadLetter, decode_event, encode_dead_letter
from streams.domain.errors import LedgerError
from streams.domain.events import Event

log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Coordinates:
    """Where a message sits in Kafka."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None = None


@dataclass(slots=True)
class Outcome:
    """What the agent must publish for one input message (encoded, ready to send)."""

    event: Event | None = None
    dead_letters: list[bytes] = field(default_factory=list)


@dataclass(slots=True)
class Enforcer:
    """Decodes input messages and dead-letters the ones that break the contract."""

    clock: Callable[[], datetime] = _utc_now
    processed: int = 0
    dead_lettered: int = 0

    def handle(self, raw: bytes | None, where: Coordinates) -> Outcome:
        """Decode one message; on a project error return a dead letter instead of raising."""
        try:
            if raw is None:
                raise _EmptyMessageError("message has no value (tombstone)")
            event = decode_event(raw)
        except LedgerError as e:
            self.dead_lettered += 1
            reason = f"{type(e).__name__}: {e}"
            log.warning(
                "dead-lettering %s[%d]@%d: %s", where.topic, where.partition, where.offset, reason
            )
            return Outcome(dead_letters=[encode_dead_letter(self._dead_letter(raw, reason, where))])
        self.processed += 1
        return Outcome(event=event)

    def _dead_letter(self, raw: bytes | None, reason: str, where: Coordinates) -> DeadLetter:
        source_ts = (
            datetime.fromtimestamp(where.timestamp_ms / 1000, UTC)
            if where.timestamp_ms is not None
            else None
        )
        return DeadLetter(
            raw=raw or b"",
            reason=reason,
            source_topic=where.topic,
            source_partition=where.partition,
            source_offset=where.offset,
            source_timestamp=source_ts,
            failed_at=self.clock(),
        )


class _EmptyMessageError(LedgerError):
    """A message with no value cannot carry an event."""
