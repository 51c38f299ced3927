"""The deadline index: Faust has no per-key timers, so deadlines live in heaps scanned by time.

Each shard (a Kafka partition for a worker; the single shard 0 for ``ledger check``) keeps two
heaps of ``(instant, traveller)``: due deadlines and pruning instants. Entries are never removed
when a traveller's instants move; :func:`domain.engine.fire_due` skips stale ones on pop
by comparing them with the traveller's current state.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from domain.state import TravellerState

Entry = tuple[datetime, str]


class DeadlineIndex:
    """Per-shard heaps of due deadlines and pruning instants."""

    def __init__(self) -> None:
        self.due: dict[int, list[Entry]] = {}
        self.prune: dict[int, list[Entry]] = {}

    def loaded(self, shard: int) -> bool:
        """Whether the shard's heaps have been built since the last :meth:`forget`."""
        return shard in self.due

    def load(
        self, shard: int, entries: Iterable[tuple[str, datetime | None, datetime | None]]
    ) -> int:
        """Build the shard's heaps from ``(traveller, due, prune_at)``; returns the entry count."""
        due: list[Entry] = []
        prune: list[Entry] = []
        for tid, due_at, prune_at in entries:
            if due_at is not None:
                due.append((due_at, tid))
            if prune_at is not None:
                prune.append((prune_at, tid))
        heapq.heapify(due)
        heapq.heapify(prune)
        self.due[shard] = due
        self.prune[shard] = prune
        return len(due) + len(prune)

    def compact(self, shard: int, states: Mapping[str, TravellerState]) -> int:
        """Drop the shard's stale entries (an instant its traveller no longer has, or a repeat of
        a live one); returns the entries left.

        Every live instant already has an entry (:meth:`push` adds each new one), so this keeps
        those tuples rather than building one per traveller as :meth:`load` does: a rebuild
        allocating tens of thousands of tuples at once sets the garbage collector off, and full
        collections of the engine's states cost more than the rebuild itself.
        """
        due = _live(self.due.get(shard, []), states, _due_of)
        prune = _live(self.prune.get(shard, []), states, _prune_at_of)
        self.due[shard] = due
        self.prune[shard] = prune
        return len(due) + len(prune)

    def forget(self, shards: Iterable[int] | None = None) -> None:
        """Drop heaps (all when ``shards`` is None): they are rebuilt on next use."""
        if shards is None:
            self.due.clear()
            self.prune.clear()
            return
        for shard in shards:
            self.due.pop(shard, None)
            self.prune.pop(shard, None)

    def push(self, shard: int, old: TravellerState | None, new: TravellerState) -> None:
        """Index ``new``'s instants that differ from ``old``'s (stale entries are skipped later)."""
        if new.due is not None and (old is None or old.due != new.due):
            heapq.heappush(self.due.setdefault(shard, []), (new.due, new.traveller_id))
        if new.prune_at is not None and (old is None or old.prune_at != new.prune_at):
            heapq.heappush(self.prune.setdefault(shard, []), (new.prune_at, new.traveller_id))

    def size(self, shard: int) -> int:
        """Entries (live or stale) held for ``shard``."""
        return len(self.due.get(shard, ())) + len(self.prune.get(shard, ()))


def _due_of(state: TravellerState) -> datetime | None:
    return state.due


def _prune_at_of(state: TravellerState) -> datetime | None:
    return state.prune_at


def _live(
    heap: list[Entry],
    states: Mapping[str, TravellerState],
    instant: Callable[[TravellerState], datetime | None],
) -> list[Entry]:
    """The entries of ``heap`` that are their traveller's current instant, once each, as a heap."""
    kept: list[Entry] = []
    seen: set[str] = set()
    for entry in heap:
        at, tid = entry
        state = states.get(tid)
        if state is not None and instant(state) == at and tid not in seen:
            seen.add(tid)
            kept.append(entry)
    heapq.heapify(kept)
    return kept
