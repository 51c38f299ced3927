"""Repairs for Faust's offset bookkeeping after a recovery (faust-streaming 0.15.x).

After a worker restarts and recovers its tables, Faust starts fetching the input partitions before
it seeks them to the committed offsets (faust-streaming issue 216), so the first messages after
the committed point are delivered twice. Processing them twice is harmless here (a repeated
``event_id`` changes nothing and outputs are deduplicated by ``decision_id``), but the consumer
then records every offset twice in its list of acknowledged offsets, or records offsets below
the committed one. Its commit logic looks for runs of consecutive offsets, so a list such as
``2615 2616 2616 2617 2617 ...`` advances the committed offset by one or two per commit interval:
the worker keeps processing while its group lag never reaches zero (seen in the SIGKILL test).

:func:`drop_stale_acks` removes those duplicates and already-committed offsets, which is exactly
the state the bookkeeping has when nothing was delivered twice. It never adds an offset, so it
cannot commit past a message that was not acknowledged. The worker runs it every second and logs
what it repaired.

The same race can also leave a message at the committed offset never acknowledged while later
ones are: the consumer then never commits again. :class:`CommitWatchdog` notices such a gap at the
head of a partition's acknowledged offsets when it outlives ``patience_seconds`` and the worker
seeks that partition back to its committed offset. The messages are read again; those already
processed change nothing (a repeated ``event_id`` is a no-op and re-published decisions carry the
same ``decision_id``), the missing ones are processed, and commits resume.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from faust.types.tuples import ack_lock

log = logging.getLogger(__name__)


def drop_stale_acks(consumer: Any) -> int:
    """Remove duplicate and already-committed offsets from ``consumer``'s acked lists.

    Returns how many entries were removed. ``consumer`` is Faust's transport consumer; the
    attributes used are internal to faust-streaming (pinned in pyproject.toml).
    """
    removed = 0
    with ack_lock:
        for tp, acked in consumer._acked.items():
            if not acked:
                continue
            committed = consumer._committed_offset.get(tp)
            kept = sorted({o for o in acked if committed is None or o >= committed})
            if len(kept) != len(acked):
                removed += len(acked) - len(kept)
                acked[:] = kept
                consumer._acked_index[tp] = set(kept)
    if removed:
        log.warning("dropped %d duplicate or already-committed acked offsets", removed)
    return removed


class CommitWatchdog:
    """Finds partitions whose commits are blocked by a persistent gap before their acked offsets."""

    def __init__(
        self, patience_seconds: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.patience_seconds = patience_seconds
        self._clock = clock
        self._since: dict[Any, tuple[int, float]] = {}  # tp -> (committed offset, first seen)

    def stuck(self, consumer: Any) -> list[tuple[Any, int]]:
        """``(tp, committed offset)`` of every partition blocked for longer than the patience.

        Faust commits nothing while the lowest acknowledged offset is more than one above the
        committed one; a gap that lasts is not a batch in flight (acks come in offset order).
        """
        now = self._clock()
        out: list[tuple[Any, int]] = []
        with ack_lock:
            for tp, acked in consumer._acked.items():
                committed = consumer._committed_offset.get(tp)
                if not acked or committed is None or min(acked) - committed <= 1:
                    self._since.pop(tp, None)
                    continue
                first = self._since.get(tp)
                if first is None or first[0] != committed:
                    self._since[tp] = (committed, now)
                elif now - first[1] >= self.patience_seconds:
                    out.append((tp, committed))
                    del self._since[tp]
        return out
