"""A traveller's known history: ordering, corrections and suspected duplicates (DOMAIN.md 4.9).

History is kept sorted by ``(occurred_at, event_id)`` so that the fold never depends on arrival
order. :func:`effective_history` removes events replaced by a ``corrects`` and sets aside crossings
that duplicate another one (same port, direction and instant under a different ``event_id``); the
first by ``event_id`` is kept, the deterministic tie-break.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.events import CrossingRecorded, Direction, TravellerEvent


def sort_key(event: TravellerEvent) -> tuple[datetime, str]:
    """The total order of a traveller's history."""
    return (event.occurred_at, event.event_id)


def insert_event(
    events: tuple[TravellerEvent, ...], event: TravellerEvent
) -> tuple[TravellerEvent, ...] | None:
    """``events`` with ``event`` inserted in order, or ``None`` if its ``event_id`` is known."""
    event_id = event.event_id
    for known in events:
        if known.event_id == event_id:
            return None
    if not events or sort_key(events[-1]) <= sort_key(event):
        return (*events, event)
    as_list = list(events)
    insort(as_list, event, key=sort_key)
    return tuple(as_list)


@dataclass(frozen=True, slots=True)
class EffectiveHistory:
    """The events that count, in order, plus the crossings set aside as duplicates."""

    events: tuple[TravellerEvent, ...]
    duplicates: tuple[tuple[CrossingRecorded, CrossingRecorded], ...]  # (kept, duplicate)
    superseded: frozenset[str]


def effective_history(events: Sequence[TravellerEvent]) -> EffectiveHistory:
    """Apply corrections and set aside suspected duplicates."""
    superseded = frozenset(
        e.corrects for e in events if isinstance(e, CrossingRecorded) and e.corrects is not None
    )
    kept: list[TravellerEvent] = []
    duplicates: list[tuple[CrossingRecorded, CrossingRecorded]] = []
    seen: dict[tuple[str, Direction, datetime], CrossingRecorded] = {}
    for e in events:
        if superseded and e.event_id in superseded:
            continue
        if isinstance(e, CrossingRecorded):
            key = (e.port, e.direction, e.occurred_at)
            first = seen.get(key)
            if first is not None:
                duplicates.append((first, e))
                continue
            seen[key] = e
        kept.append(e)
    if len(kept) == len(events) and isinstance(events, tuple):
        return EffectiveHistory(events, (), superseded)  # nothing set aside: share the tuple
    return EffectiveHistory(tuple(kept), tuple(duplicates), superseded)
