"""Input partitions are read again from the target after every seek (faust-streaming 0.15.x).

After each rebalance Faust resumes the input partitions, then seeks them to their committed
offsets, then resumes its flow control, which empties every stream buffer. Records fetched in
between are handed to the streams before the seek and then dropped from the buffer, while the
consumer's read offset has already moved past them, so they are never delivered again; Faust's
commit logic lets a commit pass a one-offset hole right after the committed offset and counts the
offsets it did not see between two deliveries as acknowledged, so it commits over them. Reproduced
in the state-upgrade test (seek delayed to widen the window): offset 3,897 of a crossings partition
was never processed, and the worker committed past it.

:class:`GuardedSeeks` (mixed into the worker's consumer) makes a seek of an input partition exact:

* from their assignment (and again from the start of Faust's seek to the committed offsets) until
  Faust's flow control has resumed and emptied the buffers, the input partitions are held
  (paused, and acks of their messages refused, as are acks of messages of an earlier generation,
  which Faust's streams also send for messages they skip), so nothing of them is delivered or
  counted in that window; then each is sought again to its committed offset (0 when the group never
  committed one; the ``earliest`` reset applies if that is gone) and resumed;
* every seek (these and the commit watchdog's, :func:`GuardedSeeks.guarded_seek`) forgets what the
  consumer recorded of the partition (acknowledged offsets, gaps): everything from the target on
  is delivered again, so nothing recorded before the seek can let a commit pass an offset that was
  not processed;
* records fetched before a seek of their partition but handed out after it are dropped and the
  partition is sought again, and the read offset is set to the target when the first record after
  the seek is handed out (a delivery in flight during the seek may have moved it past the target);
* the input partitions stay held until the assignment's changelog state is verified restored
  (:class:`~streams.worker.restore_gate.RestoreGate`, which restarts Faust's recovery otherwise);
* every fetch asks for a copy of the partitions active when it starts, and its records are handed
  out by that same set (see :meth:`GuardedSeeks._getmany`). Faust passes its live set of active
  partitions to the consumer thread and filters the fetched records by it again when it hands
  them out; a pause in between (the active changelogs when their recovery ends) emptied the set,
  and aiokafka reads an empty set as "every partition": it handed out the records of a standby
  changelog just sought to its start, which Faust then dropped, with the position already past
  them. The standby store missed every key older than its first read (two-worker test, 1 of 10).

Deliveries that this repeats are harmless: a repeated ``event_id`` changes nothing and re-published
decisions carry the same ``decision_id``. The attributes used are faust-streaming internals
(pinned in pyproject.toml).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from faust.types.tuples import ack_lock

from streams.worker.restore_gate import RestoreGate

log = logging.getLogger(__name__)


class GuardedSeeks:
    """Mixin for Faust's transport consumer: exact re-reads after seeks (see the module doc)."""

    _guard: _GuardState | None = None

    @property
    def guard(self) -> _GuardState:
        """The seek bookkeeping (created on first use: Faust builds consumers its own way)."""
        if self._guard is None:
            self._guard = _GuardState()
        return self._guard

    def input_partitions(self) -> set[Any]:
        """Assigned partitions of the input topics (every one that is not a table changelog)."""
        me: Any = self
        return {tp for tp in me.assignment() if not me._is_changelog_tp(tp)}

    async def on_partitions_assigned(self, assigned: set[Any], generation_id: int = 0) -> None:
        """Hold the assigned input partitions until their seek (see :meth:`resume_flow`)."""
        me: Any = self
        self.guard.held |= {tp for tp in assigned if not me._is_changelog_tp(tp)}
        self.guard.restore.reset()
        self.guard.restore.install(me.app, self)
        await super().on_partitions_assigned(assigned, generation_id)  # type: ignore[misc]

    def ack(self, message: Any) -> bool:
        """Faust's ack, refused for a message of a held partition or of an earlier generation.

        Such a message is delivered again from the committed offset once its partition is sought
        and released; its ack (Faust also acks what its streams skip while the flow is stopped or
        the generation changed) must not let a commit pass offsets nobody processed meanwhile.
        It is still marked acked, so waiting for in-flight messages never hangs on it.
        """
        me: Any = self
        tp = message.tp
        stale = message.generation_id != me.app.consumer_generation_id
        if tp in self.guard.held or (stale and not me._is_changelog_tp(tp)):
            with ack_lock:
                message.acked = True
                me._unacked_messages.discard(message)
            return False
        return super().ack(message)  # type: ignore[no-any-return, misc]

    async def perform_seek(self) -> None:
        """Faust's seek to the committed offsets, with the input partitions held until the flow."""
        me: Any = self
        inputs = self.input_partitions()
        me.pause_partitions(inputs)  # no await since Faust resumed them: nothing was handed out
        self.guard.held |= inputs
        await super().perform_seek()  # type: ignore[misc]  # Faust's consumer is next in the MRO

    def resume_flow(self) -> None:
        """Faust's flow resumption; then the held input partitions are sought and resumed.

        Faust resumes its flow control (emptying the stream buffers) just before this, once the
        tables are recovered; while a recovery is still running, and until the restored state of
        the assignment is verified (:mod:`streams.worker.restore_gate`), the partitions stay held.
        """
        me: Any = self
        super().resume_flow()  # type: ignore[misc]
        if me.app.in_recovery or not self.guard.held or not self.guard.restore.passed:
            return
        held = self.guard.held & self.input_partitions()
        self.guard.held = set()
        for tp in held:
            committed = me._committed_offset.get(tp)
            self.guarded_seek(tp, 0 if committed is None else committed)
        me.resume_partitions(held)

    def guarded_seek(self, tp: Any, offset: int) -> None:
        """Seek ``tp`` to ``offset`` and deliver everything from there again."""
        me: Any = self
        guard = self.guard
        me._thread.seek(tp, offset)  # what Faust's own seek does, minus its read-offset race
        guard.epochs[tp] = guard.epochs.get(tp, 0) + 1
        guard.targets[tp] = offset
        guard.fresh.add(tp)
        guard.delivered.pop(tp, None)
        me._read_offset[tp] = offset if offset else None
        me._acked.pop(tp, None)
        me._acked_index.pop(tp, None)
        me._gap.pop(tp, None)

    async def seek_wait(self, partitions: Mapping[Any, int]) -> None:
        """Faust's seek of changelog partitions for recovery, never to an unset offset.

        When a rebalance lands while a recovery is starting, Faust can register a standby
        partition after it computed the offsets to read from and then seek it to ``None``,
        which crashes the worker (``ValueError: Offset must be a positive integer``, seen with
        three workers under load). Reading a changelog from its start is always correct; Faust's
        bookkeeping then has no highwater for it, so the restore gate checks that it was read.
        """
        unset = {tp for tp, offset in partitions.items() if not isinstance(offset, int)}
        if unset:
            log.warning("changelog partitions without a start offset read from 0: %s", unset)
        fixed = {tp: 0 if tp in unset else offset for tp, offset in partitions.items()}
        await super().seek_wait(fixed)  # type: ignore[misc]

    async def _getmany(self, active_partitions: set[Any] | None, timeout: float) -> Any:
        """Faust's fetch from the consumer thread, for a copy of the active partitions.

        The thread reads the set later, while the event loop pauses and resumes partitions in
        it; an empty set would make aiokafka hand out every partition's records. The copy is
        also what :meth:`_wait_next_records` hands the records out by, so a partition paused
        during the fetch still gets the records the fetch already consumed.
        """
        asked = None if active_partitions is None else frozenset(active_partitions)
        self.guard.asked = asked
        if asked is not None and not asked:
            return {}
        return await super()._getmany(asked, timeout)  # type: ignore[misc]

    async def _wait_next_records(self, timeout: float) -> tuple[Any, Any]:
        """Faust's wait for records, returning the partitions the fetch was made for."""
        self.guard.asked = None
        records, active = await super()._wait_next_records(timeout)  # type: ignore[misc]
        asked = self.guard.asked
        return records, (active if asked is None else asked)

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
        """Faust's fetch, minus records of a held partition or fetched before its last seek."""
        me: Any = self
        guard = self.guard
        epochs = dict(guard.epochs)
        sought_again: set[Any] = set()
        async for tp, message in super().getmany(timeout):  # type: ignore[misc]
            if tp in guard.held:
                continue  # paused after the fetch began: read again from its seek target
            if guard.epochs.get(tp, 0) != epochs.get(tp, 0):
                if tp not in sought_again and tp in guard.targets:
                    sought_again.add(tp)  # the fetch may have read past the target: again
                    log.info("%s: records fetched across a seek dropped; seeking again", tp)
                    self.guarded_seek(tp, guard.targets[tp])
                continue
            if tp in guard.fresh:
                guard.fresh.discard(tp)
                target = guard.targets[tp]
                me._read_offset[tp] = target if target else None
            offset = message.offset
            guard.delivered[tp] = max(offset, guard.delivered.get(tp, offset))
            yield tp, message


class _GuardState:
    """What :class:`GuardedSeeks` remembers per input partition."""

    def __init__(self) -> None:
        self.held: set[Any] = set()  # paused from Faust's seek until its flow resumes
        self.epochs: dict[Any, int] = {}  # seeks so far
        self.targets: dict[Any, int] = {}  # offset of the last seek
        self.fresh: set[Any] = set()  # sought, nothing handed out since
        self.delivered: dict[Any, int] = {}  # highest offset handed out since the last seek
        self.restore = RestoreGate()  # input held until the assignment's state is verified
        self.asked: frozenset[Any] | None = None  # partitions the current fetch was made for
