"""Event time: the one watermark rule, shared by the offline engine and the stream workers.

The watermark is the greatest ``occurred_at`` of the gate events seen (crossings and heartbeats)
minus the allowed lateness, and it never moves back. :class:`EventClock` is that rule as an
immutable value: ``ledger check`` keeps one for the whole stream, a worker one per partition
(stored by the worker in its ``clocks`` table, see ``streams.worker.state_format``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from domain.events import CrossingRecorded, Event, GateHeartbeat


def advances_watermark(event: Event) -> bool:
    """Whether ``event`` moves event time: gate traffic (crossings and heartbeats) only.

    Gates stamp their events with the crossing instant and send heartbeats to every partition,
    so the gate stream is the ledger's clock. Authority events (permits, extensions, consent,
    pre-registrations) travel on their own topic, which a stream processor reads independently
    of the gate stream: letting them move the clock would make decisions depend on how the two
    topics happen to interleave, and the offline and live engines would disagree. They are
    judged by the clock, never drive it.
    """
    return isinstance(event, CrossingRecorded | GateHeartbeat)


@dataclass(frozen=True, slots=True)
class EventClock:
    """Greatest gate-event ``occurred_at`` seen, and the watermark it allows."""

    max_seen: datetime | None = None
    watermark: datetime | None = None

    def observe(self, event: Event, lateness: timedelta) -> EventClock:
        """The clock after ``event`` (unchanged unless it is a later gate event)."""
        at = event.occurred_at
        if not advances_watermark(event) or (self.max_seen is not None and at <= self.max_seen):
            return self
        candidate = at - lateness if lateness else at
        watermark = self.watermark
        if watermark is None or candidate > watermark:
            watermark = candidate
        return _clock(at, watermark)

    def advance_to(self, instant: datetime) -> EventClock:
        """The clock with the watermark moved forward to ``instant`` (never back)."""
        if self.watermark is not None and instant <= self.watermark:
            return self
        return _clock(self.max_seen, instant)


# The slot setters of EventClock: a clock is built for nearly every gate event (heartbeats
# included), and the frozen dataclass __init__ (object.__setattr__ per field) is slower.
_set_max_seen, _set_watermark = (getattr(EventClock, f.name).__set__ for f in fields(EventClock))
_new = EventClock.__new__  # compiled, object.__new__ is refused (see decisions.py)


def _clock(max_seen: datetime | None, watermark: datetime | None) -> EventClock:
    """``EventClock(max_seen, watermark)``, built by setting its slots directly."""
    clock: EventClock = _new(EventClock)
    _set_max_seen(clock, max_seen)
    _set_watermark(clock, watermark)
    return clock
