"""Exact re-reads after seeks of the input partitions (streams.worker.seeking)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from faust.types import TP

from streams.worker.seeking import GuardedSeeks

CROSSINGS, PERMITS = TP("border.crossings.v1", 0), TP("border.permits.v1", 0)
CHANGELOG = TP("ledger-travellers-changelog", 0)


@dataclass
class Record:
    offset: int


class FakeThread:
    def __init__(self) -> None:
        self.seeks: list[tuple[TP, int]] = []

    def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))


class FakeSignal:
    def __init__(self) -> None:
        self.raised = False

    def set(self) -> None:
        self.raised = True


class FakeRecovery:
    """The part of Faust's table Recovery the restore gate uses, recording its completions."""

    def __init__(self) -> None:
        self.active_offsets: dict[TP, int | None] = {}
        self.signal_recovery_start = FakeSignal()
        self.completed: list[int] = []
        self.flushed = 0

    def flush_buffers(self) -> None:
        self.flushed += 1

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        self.completed.append(generation_id)


class FakeTable:
    def __init__(self) -> None:
        self.applied: dict[TP, int | None] = {}  # RocksDB's persisted offset per changelog TP

    def persisted_offset(self, tp: TP) -> int | None:
        return self.applied.get(tp)


class FakeTables:
    def __init__(self) -> None:
        self.recovery = FakeRecovery()
        self.travellers = FakeTable()
        self._changelogs = {CHANGELOG.topic: self.travellers}


class FakeAssignor:
    def assigned_actives(self) -> set[TP]:
        return {CROSSINGS, PERMITS, CHANGELOG}


class FakeApp:
    in_recovery = False
    consumer_generation_id = 3

    def __init__(self) -> None:
        self.tables = FakeTables()
        self.assignor = FakeAssignor()


@dataclass(eq=False)
class FakeMessage:
    tp: TP
    offset: int
    generation_id: int = 3
    acked: bool = False


class FaustConsumerStandIn:
    """The part of faust's Consumer that GuardedSeeks builds on, recording what it is asked."""

    def __init__(self, committed: dict[TP, int | None]) -> None:
        self.app = FakeApp()
        self._thread = FakeThread()
        self.committed = committed
        self.paused: set[TP] = set()
        self.flow_resumed = 0
        self._read_offset: dict[TP, int | None] = {}
        self._committed_offset: dict[TP, int | None] = {}
        self._acked: dict[TP, list[int]] = defaultdict(list)
        self._acked_index: dict[TP, set[int]] = defaultdict(set)
        self._gap: dict[TP, object] = {}
        self.batches: list[list[tuple[TP, Record]]] = []
        self.during_fetch: list[Any] = []  # called between two records of a batch
        self._unacked_messages: set[FakeMessage] = set()
        self.waited_seeks: list[dict[TP, int | None]] = []
        self.ends: dict[TP, int] = {CHANGELOG: 0}  # end offsets of the changelogs
        self.only_markers_above: dict[TP, int] = {}  # nothing but markers above this offset
        self.guard.restore.beyond = self.records_beyond  # the broker's answer, made up here

    async def records_beyond(
        self, app: FakeApp, behind: dict[TP, tuple[int | None, int]]
    ) -> dict[TP, tuple[int | None, int]]:
        """What the changelog tail reader answers: a record above the applied offset, or not."""
        return {
            tp: (applied, end)
            for tp, (applied, end) in behind.items()
            if applied is None or applied < self.only_markers_above.get(tp, end)
        }

    async def highwaters(self, *tps: TP) -> dict[TP, int]:
        return {tp: self.ends[tp] for tp in tps}

    def assignment(self) -> set[TP]:
        return {CROSSINGS, PERMITS, CHANGELOG}

    def _is_changelog_tp(self, tp: TP) -> bool:
        return tp.topic.endswith("-changelog")

    async def on_partitions_assigned(self, assigned: set[TP], generation_id: int = 0) -> None:
        self.paused |= assigned  # what Faust does until the tables are recovered

    def ack(self, message: FakeMessage) -> bool:
        message.acked = True
        self._unacked_messages.discard(message)
        self._acked[message.tp].append(message.offset)
        return True

    def pause_partitions(self, tps: set[TP]) -> None:
        self.paused |= tps

    def resume_partitions(self, tps: set[TP]) -> None:
        self.paused -= tps

    async def perform_seek(self) -> None:
        for tp, offset in self.committed.items():
            self._thread.seek(tp, -1 if offset is None else offset)
            self._read_offset[tp] = offset or None
            self._committed_offset[tp] = offset

    def resume_flow(self) -> None:
        self.flow_resumed += 1

    async def seek_wait(self, partitions: dict[TP, int | None]) -> None:
        self.waited_seeks.append(dict(partitions))

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Record]]:
        for i, item in enumerate(self.batches.pop(0)):
            if i < len(self.during_fetch):
                self.during_fetch[i]()
            yield item


class Consumer(GuardedSeeks, FaustConsumerStandIn):
    pass


def fetch(consumer: Consumer) -> list[tuple[TP, int]]:
    async def drain() -> list[tuple[TP, int]]:
        return [(tp, r.offset) async for tp, r in consumer.getmany(1.0)]

    return asyncio.run(drain())


def assign_and_recover(consumer: Consumer) -> None:
    """A rebalance, then Faust's recovery completion (wrapped by the restore gate)."""
    asyncio.run(consumer.on_partitions_assigned({CROSSINGS, PERMITS, CHANGELOG}, 3))
    consumer.paused.discard(CHANGELOG)  # resumed by the recovery that reads it
    asyncio.run(consumer.app.tables.recovery.on_recovery_completed(3))


def test_inputs_are_held_from_the_seek_until_the_flow_resumes_after_recovery() -> None:
    consumer = Consumer({CROSSINGS: 120, PERMITS: None})
    assign_and_recover(consumer)
    consumer._thread.seeks.clear()
    consumer._acked[CROSSINGS] = [130, 131]  # recorded before the seek: never trusted after it
    consumer._gap[CROSSINGS] = object()
    asyncio.run(consumer.perform_seek())
    assert consumer.paused == {CROSSINGS, PERMITS}, "changelogs are recovery's to pause"
    consumer.app.in_recovery = True
    consumer.resume_flow()
    assert consumer.paused == {CROSSINGS, PERMITS}, "still recovering: still held"
    consumer.app.in_recovery = False
    consumer._thread.seeks.clear()
    consumer._read_offset[CROSSINGS] = 125  # a delivery in flight during the seek moved it
    consumer.resume_flow()
    assert consumer.paused == set()
    assert sorted(consumer._thread.seeks) == [(CROSSINGS, 120), (PERMITS, 0)]
    assert consumer._read_offset == {CROSSINGS: 120, PERMITS: None}
    assert CROSSINGS not in consumer._acked and CROSSINGS not in consumer._gap
    assert consumer.flow_resumed == 2


def test_input_stays_held_until_every_active_changelog_is_restored() -> None:
    consumer = Consumer({CROSSINGS: 120, PERMITS: 7})
    recovery, travellers = consumer.app.tables.recovery, consumer.app.tables.travellers
    consumer.ends[CHANGELOG] = 228  # last offset 227, nothing of it applied here
    recovery.active_offsets[CHANGELOG] = 227  # Faust's bookkeeping believed it restored
    assign_and_recover(consumer)
    assert recovery.completed == [], "Faust's completion (seek and resume of input) not run"
    assert recovery.signal_recovery_start.raised, "recovery restarted"
    assert recovery.active_offsets[CHANGELOG] == -1, "read again from what the store holds"
    assert recovery.flushed == 1, "buffered changelog records applied before the check"
    asyncio.run(consumer.perform_seek())
    consumer.resume_flow()  # Faust resumes its flow while it recovers again
    assert consumer.paused == {CROSSINGS, PERMITS}, "not verified: input held"
    travellers.applied[CHANGELOG] = 200  # the restarted recovery read part of it
    asyncio.run(recovery.on_recovery_completed(3))
    assert recovery.completed == [] and recovery.active_offsets[CHANGELOG] == 200
    travellers.applied[CHANGELOG] = 227
    asyncio.run(recovery.on_recovery_completed(3))
    assert recovery.completed == [3]
    consumer.resume_flow()
    assert consumer.paused == set()


def test_a_changelog_ending_in_a_transaction_marker_counts_as_restored_at_once() -> None:
    consumer = Consumer({CROSSINGS: 120, PERMITS: 7})
    recovery = consumer.app.tables.recovery
    consumer.ends[CHANGELOG] = 229  # records up to 227, then a commit marker at 228
    consumer.app.tables.travellers.applied[CHANGELOG] = 227
    consumer.only_markers_above[CHANGELOG] = 227
    assign_and_recover(consumer)
    assert recovery.completed == [3], "no extra recovery round for a marker"
    assert not recovery.signal_recovery_start.raised
    consumer.app.tables.travellers.applied[CHANGELOG] = 226  # a real record (227) not applied
    assign_and_recover(consumer)
    assert recovery.completed == [3] and recovery.signal_recovery_start.raised


def test_a_changelog_that_cannot_be_read_further_does_not_hold_input_forever() -> None:
    consumer = Consumer({CROSSINGS: 120, PERMITS: 7})
    recovery = consumer.app.tables.recovery
    consumer.ends[CHANGELOG] = 50  # e.g. its tail a compacted-away tombstone
    consumer.app.tables.travellers.applied[CHANGELOG] = 40
    assign_and_recover(consumer)
    assert recovery.completed == [], "first: recovered again"
    asyncio.run(recovery.on_recovery_completed(3))  # that read nothing more of it
    assert recovery.completed == [3], "then let through (logged as an error)"


def test_records_fetched_across_a_seek_are_dropped_and_the_partition_sought_again() -> None:
    consumer = Consumer({CROSSINGS: 120, PERMITS: 7})
    consumer.guarded_seek(CROSSINGS, 120)
    consumer.guarded_seek(PERMITS, 7)
    consumer.batches = [
        [(CROSSINGS, Record(120)), (PERMITS, Record(7)), (CROSSINGS, Record(121))],
        [(CROSSINGS, Record(120)), (CROSSINGS, Record(121))],
    ]
    consumer._read_offset[CROSSINGS] = 500  # moved by a delivery that straddled the seek
    # The watchdog seeks crossings again while the first batch is being handed out.
    consumer.during_fetch = [lambda: None, lambda: consumer.guarded_seek(CROSSINGS, 120)]
    consumer._thread.seeks.clear()
    assert fetch(consumer) == [(CROSSINGS, 120), (PERMITS, 7)]
    assert consumer._thread.seeks == [(CROSSINGS, 120), (CROSSINGS, 120)], "sought once more"
    consumer.during_fetch = []
    assert fetch(consumer) == [(CROSSINGS, 120), (CROSSINGS, 121)]
    assert consumer._read_offset[CROSSINGS] == 120, "read offset set at the first fresh record"
    assert consumer.guard.delivered == {CROSSINGS: 121, PERMITS: 7}


def test_acks_count_only_for_released_partitions_of_the_current_generation() -> None:
    consumer = Consumer({CROSSINGS: 120, PERMITS: 7})
    assign_and_recover(consumer)
    held = FakeMessage(CROSSINGS, 125)  # e.g. skipped by a stream while the flow was stopped
    consumer._unacked_messages.add(held)
    assert consumer.ack(held) is False and held.acked
    assert consumer._unacked_messages == set(), "waiting for in-flight messages cannot hang"
    asyncio.run(consumer.perform_seek())
    consumer.resume_flow()
    assert consumer.ack(FakeMessage(CROSSINGS, 120)) is True
    assert consumer.ack(FakeMessage(CROSSINGS, 121, generation_id=2)) is False, "old generation"
    assert consumer.ack(FakeMessage(CHANGELOG, 4, generation_id=2)) is True, "not an input"
    assert consumer._acked[CROSSINGS] == [120]


def test_a_changelog_seek_to_an_unset_offset_reads_from_the_start() -> None:
    consumer = Consumer({})
    clocks = TP("ledger-clocks-changelog", 1)
    asyncio.run(consumer.seek_wait({CHANGELOG: None, clocks: 7}))
    assert consumer.waited_seeks == [{CHANGELOG: 0, clocks: 7}]
