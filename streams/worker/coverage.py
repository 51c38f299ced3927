"""Which input offsets a worker has processed since it started, as merged ranges per partition.

``/health/`` reports them (``processed_offsets``), so an operator or a test can check that the
workers of a group together processed every offset of every input partition: a message skipped
around a rebalance or a recovery shows as a hole, which no count can show once some other message
was delivered twice. Consecutive offsets extend one range, so the memory used grows with the
number of holes and re-reads, not with the number of messages.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from schemas.mapping import Coordinates


class OffsetCoverage:
    """Half-open ``[start, end)`` offset ranges processed, per (topic, partition)."""

    def __init__(self) -> None:
        self._ranges: dict[tuple[str, int], list[list[int]]] = {}

    def add_all(self, where: Iterable[Coordinates]) -> None:
        """Record the offsets of processed messages."""
        for w in where:
            self.add(w.topic, w.partition, w.offset)

    def add(self, topic: str, partition: int, offset: int) -> None:
        """Record one processed offset."""
        ranges = self._ranges.setdefault((topic, partition), [])
        if ranges and ranges[-1][1] == offset:  # the usual case: the next offset
            ranges[-1][1] += 1
            return
        i = bisect.bisect_right(ranges, [offset, offset + 1])
        if i and ranges[i - 1][1] >= offset:  # inside or right after the range before
            ranges[i - 1][1] = max(ranges[i - 1][1], offset + 1)
            i -= 1
        else:
            ranges.insert(i, [offset, offset + 1])
        while i + 1 < len(ranges) and ranges[i + 1][0] <= ranges[i][1]:  # now touches the next
            ranges[i][1] = max(ranges[i][1], ranges.pop(i + 1)[1])

    def as_json(self) -> dict[str, list[list[int]]]:
        """``{"topic[partition]": [[start, end], ...]}``, ends exclusive."""
        return {f"{t}[{p}]": [list(r) for r in rs] for (t, p), rs in sorted(self._ranges.items())}
