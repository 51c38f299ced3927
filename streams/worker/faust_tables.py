"""The processor's :class:`~streams.worker.processor.Tables` over two Faust tables on RocksDB.

* ``travellers``: traveller id -> its state (``streams.worker.state_format``), which also holds
  the traveller's ``due`` and ``prune_at``: the deadline index is rebuilt from it;
* ``clocks``: ``p<N>`` -> the event-time clock of input partition N.

Writes go to RocksDB and to the table's compact changelog as Faust's table API sends them, so
recovery, standby replicas and rebalances stay Faust's; :meth:`FaustTables.write` returns the
changelog acknowledgements, which the processor awaits before the batch's input offsets may be
committed (a worker taking a partition over recovers every state whose input was committed).
Faust picks the store and changelog partition of a write from the current event (a context
variable of the task), so a batch's writes for a partition are made with an event of that
partition set as current. Reads go straight to the partition's RocksDB store: the processor reads
only on a cache miss.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Iterable, Iterator, Mapping
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
    ) -> list[Awaitable[object]]:
        set_current_event(self.events[partition])
        try:
            sent = [
                _put(self.travellers, partition, tid.encode(), raw) for tid, raw in states.items()
            ]
            if clock is not None:
                sent.append(_put(self.clocks, partition, clock_key(partition), clock))
        finally:
            set_current_event(None)
        return sent

    def traveller(self, traveller_id: str) -> TravellerState | None:
        """A traveller's stored state from whichever partition holds it (for the web view)."""
        raw = self.travellers.get(traveller_id.encode())
        return None if raw is None else decode_state(raw)

    def clock_items(self) -> Iterator[tuple[int, EventClock]]:
        """Clocks of the partitions this worker holds (for /health)."""
        for key, raw in self.clocks.items():
            yield int(key.decode()[1:]), decode_clock(raw)


def _put(table: Any, partition: int, key: bytes, raw: bytes | None) -> Awaitable[object]:
    """Store ``raw`` (None: delete) and send it to the changelog; returns the send's ack.

    What ``table[key] = raw`` does (RocksDB, then Faust's buffered changelog send), except that
    the send's future is kept: Faust's own commit only flushes its send buffer for as long as
    each message leaves within 0.1 s, so it can commit input offsets whose state is still
    unsent; the processor awaits these acks before the batch is acknowledged instead.
    """
    store = table.data
    if raw is None:
        del store[key]  # RocksDB delete: a no-op for a key never stored
        return table.send_changelog(partition, key, None, value_serializer="raw")  # type: ignore[no-any-return]
    store[key] = raw
    return table.send_changelog(partition, key, raw)  # type: ignore[no-any-return]


def _db(table: Any, partition: int) -> Any:
    """The RocksDB database of ``table``'s ``partition`` (faust-streaming's store internals)."""
    return table.data._db_for_partition(partition)
