"""The processor's :class:`~streams.worker.processor.Tables` in memory, and a publisher to match.

:class:`MemoryTables` keeps exactly the bytes the Faust tables would hold (same formats), per
partition, and counts the writes and bytes a Faust table would have sent to its changelog.
:class:`AckedPublisher` keeps every output it is handed and acknowledges it at once. Together
they run :meth:`~streams.worker.processor.Processor.process_batch` (the worker's own batch code)
without Kafka or Faust: in the unit tests and in ``make bench-stream``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Mapping

from streams.worker.batch import Output


class MemoryTables:
    """Traveller states and partition clocks as bytes in dicts."""

    def __init__(self) -> None:
        self.states: dict[int, dict[str, bytes]] = {}
        self.clocks: dict[int, bytes] = {}
        self.writes = 0  # what a Faust table would send to its changelog: one record per write
        self.bytes_written = 0

    def read_state(self, partition: int, traveller_id: str) -> bytes | None:
        return self.states.get(partition, {}).get(traveller_id)

    def read_clock(self, partition: int) -> bytes | None:
        return self.clocks.get(partition)

    def scan_states(self, partition: int) -> Iterable[tuple[str, bytes]]:
        return list(self.states.get(partition, {}).items())

    def write(
        self, partition: int, states: Mapping[str, bytes | None], clock: bytes | None
    ) -> list[Awaitable[object]]:
        stored = self.states.setdefault(partition, {})
        for tid, raw in states.items():
            self.writes += 1
            self.bytes_written += len(tid) + len(raw or b"")
            if raw is None:
                stored.pop(tid, None)
            else:
                stored[tid] = raw
        if clock is not None:
            self.writes += 1
            self.bytes_written += len(clock) + 3
            self.clocks[partition] = clock
        return []  # stored at once: nothing to wait for

    def stored_state_bytes(self) -> list[int]:
        """The size of every stored traveller state."""
        return [len(raw) for states in self.states.values() for raw in states.values()]


class AckedPublisher:
    """Keeps what it is handed (unless told not to); every output is acknowledged at once."""

    def __init__(self, keep: bool = True) -> None:
        self.keep = keep
        self.sent: list[tuple[Output, bytes | None, bytes]] = []
        self.count = 0

    async def publish(self, output: Output, key: bytes | None, value: bytes) -> Awaitable[object]:
        self.count += 1
        if self.keep:
            self.sent.append((output, key, value))
        done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done
