"""Repairs for Faust's offset bookkeeping after a recovery (faust-streaming 0.15.x).

After a worker restarts and recovers its tables, Faust starts fetching the input partitions before
it seeks them to the committed offsets (faust-streaming issue 216; :mod:`streams.worker.seeking`
now holds them through the seek), and every re-read after a seek delivers messages twice.
Processing them twice is harmless here (a repeated ``event_id`` changes nothing and outputs are
deduplicated by ``decision_id``), but the consumer then records every offset twice in its list of
acknowledged offsets, or records offsets below the committed one. Its commit logic looks for runs
of consecutive offsets, so a list such as ``2615 2616 2616 2617 2617 ...`` advances the committed
offset by one or two per commit interval: the worker keeps processing while its group lag never
reaches zero (seen in the SIGKILL test).

:func:`drop_stale_acks` removes those duplicates and already-committed offsets, which is exactly
the state the bookkeeping has when nothing was delivered twice. It never adds an offset, so it
cannot commit past a message that was not acknowledged. The worker runs it every second and logs
what it repaired.

A message handed out by the fetcher can also be lost inside Faust (a stream buffer emptied under
it, see :mod:`streams.worker.seeking`, which closes the causes known): it is then never
acknowledged, and either the partition never commits again (a gap before the acknowledged
offsets, or nothing acknowledged at all, also when the group never committed an offset there) or,
with a single missing offset right after the committed one, Faust commits past it (its commit
logic allows that hole, which a transaction marker at the head of a read_committed partition
needs). :class:`CommitWatchdog` notices the first two when they outlive ``patience_seconds`` and
the worker seeks that partition back (:meth:`~streams.worker.seeking.GuardedSeeks.guarded_seek`).
The messages are read again; those already processed change nothing (a repeated ``event_id`` is a
no-op and re-published decisions carry the same ``decision_id``), the missing ones are processed,
and commits resume.
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
    """Finds input partitions whose commits cannot move although a delivered message is unacked.

    Two shapes, both of a message handed out by the fetcher but never processed (dropped inside
    Faust; see :mod:`streams.worker.seeking`), neither of a batch still in flight:

    * a gap at the head: Faust commits nothing while the lowest acknowledged offset is more than
      one above the committed one;
    * a silent tail: nothing acknowledged, yet a message at or after the committed offset (0 when
      the group never committed one) was handed out since the last seek.

    Either must outlive ``patience_seconds`` unchanged; then the partition is reported with the
    offset to read again from. Messages a batch is still processing (tracked by Faust, unacked)
    are never a gap.
    """

    def __init__(
        self, patience_seconds: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.patience_seconds = patience_seconds
        self._clock = clock
        self._since: dict[Any, tuple[tuple[int, ...], float]] = {}  # tp -> (shape, first seen)

    def stuck(self, consumer: Any) -> list[tuple[Any, int]]:
        """``(tp, offset to read again from)`` of every partition blocked beyond the patience."""
        now = self._clock()
        out: list[tuple[Any, int]] = []
        with ack_lock:
            in_flight: dict[Any, set[int]] = {}
            for m in consumer._unacked_messages:
                if not m.acked:
                    in_flight.setdefault(m.tp, set()).add(m.offset)
            for tp in consumer.input_partitions():
                shape = _blocked(consumer, tp, in_flight.get(tp, set()))
                first = self._since.get(tp)
                if shape is None:
                    self._since.pop(tp, None)
                elif first is None or first[0] != shape:
                    self._since[tp] = (shape, now)
                elif now - first[1] >= self.patience_seconds:
                    out.append((tp, shape[0]))
                    del self._since[tp]
        return out


def _blocked(consumer: Any, tp: Any, in_flight: set[int]) -> tuple[int, ...] | None:
    """The blockage of ``tp`` as ``(offset to re-read from, ...what identifies it)``, or None."""
    if tp in consumer.guard.held:
        return None  # paused until its seek: nothing of it is delivered or counted
    committed = consumer._committed_offset.get(tp)
    base = 0 if committed is None else committed
    acked = consumer._acked.get(tp)
    if acked:
        head = min(acked)
        if committed is None or head - committed <= 1:
            return None  # Faust commits this run
        if any(base <= o < head for o in in_flight):
            return None  # the head is being processed
        return (base, head)
    delivered = consumer.guard.delivered.get(tp)
    if delivered is None or delivered < base or any(o >= base for o in in_flight):
        return None
    return (base, delivered)
