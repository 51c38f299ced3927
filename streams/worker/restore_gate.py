"""No input is processed on a worker before its active changelog partitions are fully restored.

Faust (faust-streaming 0.15.x) decides that a recovery is over from its own bookkeeping: each
active changelog partition's highwater and read offset, computed when the recovery started. A
partition that gets into the active set after that (a rebalance landing while a recovery is
starting, or a standby turned active) has no highwater or no offset there, and
``Recovery.active_remaining`` skips such partitions, so ``need_recovery()`` can say False while
nothing of that partition's changelog was read. The worker then resumed its input and decided
travellers on an empty state (seen with three workers: "changelog partitions without a start
offset read from 0", then "partition 1: deadline index rebuilt with 1 entries" where the previous
owner held 119 entries; 75 decisions missing and 43 wrong).

:class:`RestoreGate` checks the state itself instead of Faust's bookkeeping, right before the input
partitions are released (``GuardedSeeks.perform_seek``): after applying what recovery buffered, the
offset each table's store has applied (RocksDB's persisted offset, written with the data) must be
the last offset of every active changelog partition, read fresh from the broker, unless all the
broker holds above it are transaction markers or aborted records (under ``exactly_once`` every
changelog ends with a commit marker, one offset past its last record; see
:mod:`streams.worker.changelog_tail`). If one is behind, its recovery offset is set to what the
store really holds and Faust's recovery is started again (the same signal a rebalance raises),
which rebuilds highwaters and offsets for the whole active set and reads the rest; the input stays
held until a check passes. A partition still behind after a recovery that read nothing more of it
(a changelog whose last offsets no consumer can be handed) is let through with an error naming it,
so a worker never loops forever on it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from streams.worker.changelog_tail import Behind, app_reader, records_beyond

log = logging.getLogger(__name__)

BeyondCheck = Callable[[Any, Behind], Awaitable[Behind]]  # (app, behind) -> really behind


async def committed_records_beyond(app: Any, behind: Behind) -> Behind:
    """Of ``behind``, the partitions whose changelog has a committed record above the store's."""
    return await records_beyond(app_reader(app), behind)


class RestoreGate:
    """Verifies the restored state of a worker's active changelog partitions (module doc)."""

    def __init__(self, beyond: BeyondCheck = committed_records_beyond) -> None:
        self.beyond = beyond  # asks the broker which offset gaps hold records, not markers
        self.passed = False  # the current assignment's state was verified restored
        self.retried: Behind = {}  # what the last restart of recovery was asked to read
        self._installed_on: Any = None

    def reset(self) -> None:
        """A new assignment: not verified, no restart of it attempted yet."""
        self.passed = False
        self.retried = {}

    def install(self, app: Any, consumer: Any) -> None:
        """Make Faust's recovery completion wait for :meth:`verify` (once per recovery object).

        ``Recovery.on_recovery_completed`` is where Faust seeks the input partitions and resumes
        them; wrapped, it runs only once the state is verified. Otherwise it returns at once and
        the recovery loop, finding its start signal set, recovers again.
        """
        recovery = app.tables.recovery
        if self._installed_on is recovery:
            return
        self._installed_on = recovery
        complete = recovery.on_recovery_completed

        async def on_recovery_completed(generation_id: int = 0) -> None:
            if await self.verify(app, consumer):
                await complete(generation_id)

        recovery.on_recovery_completed = on_recovery_completed

    async def verify(self, app: Any, consumer: Any) -> bool:
        """True if every active changelog partition is restored; else restart recovery."""
        recovery = app.tables.recovery
        recovery.flush_buffers()  # what recovery read but has not applied yet
        behind = await unrestored(app, consumer)
        if behind:
            behind = await self.beyond(app, behind)
        stuck = {tp: where for tp, where in behind.items() if self.retried.get(tp) == where}
        if stuck:
            log.error(
                "changelog partitions still behind after a recovery that read nothing more of "
                "them (applied offset, end offset): %s; going on with what they hold",
                stuck,
            )
        behind = {tp: where for tp, where in behind.items() if tp not in stuck}
        if not behind:
            self.retried = {}
            self.passed = True
            return True
        log.warning(
            "recovery ended with changelog partitions not restored (applied offset, end offset):"
            " %s; input stays held, recovery restarted from what the store holds",
            behind,
        )
        for tp, (applied, _end) in behind.items():
            recovery.active_offsets[tp] = -1 if applied is None else applied
        self.retried = behind
        recovery.signal_recovery_start.set()
        return False


async def unrestored(app: Any, consumer: Any) -> Behind:
    """Active changelog partitions whose store has not applied their last offset."""
    changelogs = app.tables._changelogs  # changelog topic -> table (faust-streaming internals)
    actives = {tp for tp in app.assignor.assigned_actives() if tp.topic in changelogs}
    if not actives:
        return {}
    ends = await consumer.highwaters(*actives)
    behind: Behind = {}
    for tp in actives:
        end = ends.get(tp)
        if not end:  # an empty changelog: nothing to restore
            continue
        applied = changelogs[tp.topic].persisted_offset(tp)
        if applied is None or applied < end - 1:
            behind[tp] = (applied, end)
    return behind
