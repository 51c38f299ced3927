"""A traveller's known history: ordering, corrections and suspected duplicates (DOMAIN.md 4.9).

History is kept sorted by ``(occurred_at, event_id)`` so that the fold never depends on arrival
order. :func:`effective_history` removes events replaced by a ``corrects`` and sets aside crossings
that duplicate another one (same port, direction and instant under a different ``event_id``); the
first by ``event_id`` is kept, the deterministic tie-break.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

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
    if not events:
        return (event,)
    last = events[-1]  # in-order arrival, the common case: compare without building keys
    if last.occurred_at < event.occurred_at or (
        last.occurred_at == event.occurred_at and last.event_id <= event_id
    ):
        return (*events, event)
    as_list = list(events)
    insort(as_list, event, key=sort_key)
    return tuple(as_list)


class EffectiveHistory(NamedTuple):
    """The events that count, in order, plus the crossings set aside as duplicates (one per
    derivation: a named tuple, cheaper to build than a frozen dataclass)."""

    events: tuple[TravellerEvent, ...]
    duplicates: tuple[tuple[CrossingRecorded, CrossingRecorded], ...]  # (kept, duplicate)
    superseded: frozenset[str]


def effective_history(events: Sequence[TravellerEvent]) -> EffectiveHistory:
    """Apply corrections and set aside suspected duplicates."""
    corrected: list[str] | None = None
    distinct = True  # every instant differs from the one before it, in ascending order
    previous: datetime | None = None
    for e in events:
        at = e.occurred_at
        if previous is not None and at <= previous:
            distinct = False
        previous = at
        if type(e) is CrossingRecorded and e.corrects is not None:
            if corrected is None:
                corrected = []
            corrected.append(e.corrects)
    superseded = frozenset(corrected) if corrected is not None else _NONE
    if distinct and not superseded:
        # duplicates share an instant: a sorted history without ties has none to set aside
        events = events if isinstance(events, tuple) else tuple(events)
        return EffectiveHistory(events, (), superseded)
    return _set_aside(events, superseded)


_NONE: frozenset[str] = frozenset()


def _set_aside(events: Sequence[TravellerEvent], superseded: frozenset[str]) -> EffectiveHistory:
    kept: list[TravellerEvent] | None = None  # built from the first event set aside on
    duplicates: list[tuple[CrossingRecorded, CrossingRecorded]] = []
    seen: dict[tuple[str, Direction, datetime], CrossingRecorded] = {}
    for i, e in enumerate(events):
        if superseded and e.event_id in superseded:
            if kept is None:
                kept = list(events[:i])
            continue
        if isinstance(e, CrossingRecorded):
            key = (e.port, e.direction, e.occurred_at)
            first = seen.get(key)
            if first is not None:
                duplicates.append((first, e))
                if kept is None:
                    kept = list(events[:i])
                continue
            seen[key] = e
        if kept is not None:
            kept.append(e)
    if kept is None:  # nothing set aside: share the tuple
        return EffectiveHistory(tuple(events), (), superseded)
    return EffectiveHistory(tuple(kept), tuple(duplicates), superseded)
