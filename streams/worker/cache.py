"""The worker's per-partition cache of decoded traveller states and partition clocks.

RocksDB is written at the end of every batch but read only on a miss: a state is decoded once
and then served from here until it changes (the batch's writes replace it), the partition is
revoked (another worker may change it meanwhile, so everything of the partition is dropped), or
the partition's share of the bound pushes it out (least recently used first).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from domain.clock import EventClock
from domain.state import TravellerState

DEFAULT_STATES_PER_PARTITION = 50_000


class StateCache:
    """Decoded states (LRU, bounded per partition) and clocks of the partitions held."""

    def __init__(self, states_per_partition: int = DEFAULT_STATES_PER_PARTITION) -> None:
        self.states_per_partition = states_per_partition
        self._states: dict[int, OrderedDict[str, TravellerState]] = {}
        self._clocks: dict[int, EventClock] = {}
        self.hits = 0
        self.misses = 0

    def state(self, partition: int, traveller_id: str) -> TravellerState | None:
        """The cached state, or None on a miss (a miss is counted)."""
        states = self._states.get(partition)
        if states is not None:
            state = states.get(traveller_id)
            if state is not None:
                states.move_to_end(traveller_id)
                self.hits += 1
                return state
        self.misses += 1
        return None

    def put(self, partition: int, traveller_id: str, state: TravellerState | None) -> None:
        """Remember ``state`` (None: the traveller is forgotten)."""
        states = self._states.setdefault(partition, OrderedDict())
        if state is None:
            states.pop(traveller_id, None)
            return
        states[traveller_id] = state
        states.move_to_end(traveller_id)
        if len(states) > self.states_per_partition:
            states.popitem(last=False)

    def clock(self, partition: int) -> EventClock | None:
        """The partition's clock, if known here."""
        return self._clocks.get(partition)

    def put_clock(self, partition: int, clock: EventClock) -> None:
        """Remember the partition's clock."""
        self._clocks[partition] = clock

    def forget(self, partitions: Iterable[int] | None = None) -> None:
        """Drop everything of ``partitions`` (all when None), e.g. on revocation."""
        if partitions is None:
            self._states.clear()
            self._clocks.clear()
            return
        for p in partitions:
            self._states.pop(p, None)
            self._clocks.pop(p, None)

    def size(self, partition: int) -> int:
        """States cached for ``partition``."""
        return len(self._states.get(partition, ()))
