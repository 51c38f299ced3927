"""The processor's :class:`~streams.worker.processor.Tables` over two Faust tables on RocksDB.

* ``travellers``: traveller id -> its state (``streams.worker.state_format``), which also holds
  the traveller's ``due`` and ``prune_at``: the deadline index is rebuilt from it;
* ``clocks``: ``p<N>`` -> the event-time clock of input partition N.

Writes go through Faust's table API, so each lands in RocksDB and in the table's compact
changelog, and recovery, standby replicas and rebalances stay Faust's. Faust picks the store and
changelog partition of a write from the current event (a context variable of the task), so a
batch's writes for a partition are made with an event of that partition set as current. Reads go
straight to the partition's RocksDB store: the processor reads only on a cache miss.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from faust.streams import _current_event

from domain.clock import EventClock
from domain.state import TravellerState
from streams.worker.state_format import decode_clock, decode_state

TABLES = ("travellers", "clocks")


def set_current_event(event: Any) -> None:
    """Set Faust's current event for this task only (what ``Stream`` does for each event).

    ``take_events`` buffers in another task, so the batch consumer has no current event of its
    own; table writes need one to pick the partition. The stream object itself is not touched.
    """
    _current_event.set(None if event is None else weakref.ref(event))


def clock_key(partition: int) -> bytes:
    """The ``clocks`` table key of an input partition."""
    return f"p{partition}".encode()


class FaustTables:
    """Traveller states and partition clocks in Faust tables (see the module docstring)."""

    def __init__(self, travellers: Any, clocks: Any) -> None:
        self.travellers = travellers
        self.clocks = clocks
        self.events: dict[int, Any] = {}  # partition -> an event of it in the current batch

    def read_state(self, partition: int, traveller_id: str) -> bytes | None:
        return _db(self.travellers, partition).get(traveller_id.encode())  # type: ignore[no-any-return]

    def read_clock(self, partition: int) -> bytes | None:
        return _db(self.clocks, partition).get(clock_key(partition))  # type: ignore[no-any-return]

    def scan_states(self, partition: int) -> Iterable[tuple[str, bytes]]:
        store = self.travellers.data
        for key, value in store._visible_items(_db(self.travellers, partition)):
            yield key.decode(), value

    def write(
        self, partition: int, states: Mapping[str, bytes | None], clock: bytes | None
    ) -> None:
        set_current_event(self.events[partition])
        try:
            for tid, raw in states.items():
                if raw is None:
                    self.travellers.pop(tid.encode(), None)
                else:
                    self.travellers[tid.encode()] = raw
            if clock is not None:
                self.clocks[clock_key(partition)] = clock
        finally:
            set_current_event(None)

    def traveller(self, traveller_id: str) -> TravellerState | None:
        """A traveller's stored state from whichever partition holds it (for the web view)."""
        raw = self.travellers.get(traveller_id.encode())
        return None if raw is None else decode_state(raw)

    def clock_items(self) -> Iterator[tuple[int, EventClock]]:
        """Clocks of the partitions this worker holds (for /health)."""
        for key, raw in self.clocks.items():
            yield int(key.decode()[1:]), decode_clock(raw)


def _db(table: Any, partition: int) -> Any:
    """The RocksDB database of ``table``'s ``partition`` (faust-streaming's store internals)."""
    return table.data._db_for_partition(partition)
