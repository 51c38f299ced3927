"""The repair of Faust's acked-offset bookkeeping (streams.worker.acks)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from faust.types import TP

from streams.worker.acks import CommitWatchdog, drop_stale_acks


@dataclass
class FakeMessage:
    tp: TP
    offset: int
    acked: bool = False

    def __hash__(self) -> int:
        return id(self)


@dataclass
class FakeGuard:
    delivered: dict[TP, int] = field(default_factory=dict)
    held: set[TP] = field(default_factory=set)


@dataclass
class FakeConsumer:
    """The attributes of faust's Consumer (and of GuardedSeeks) that the repair touches."""

    _acked: dict[TP, list[int]] = field(default_factory=lambda: defaultdict(list))
    _acked_index: dict[TP, set[int]] = field(default_factory=lambda: defaultdict(set))
    _committed_offset: dict[TP, int | None] = field(default_factory=dict)
    _unacked_messages: set[FakeMessage] = field(default_factory=set)
    guard: FakeGuard = field(default_factory=FakeGuard)
    inputs: set[TP] = field(default_factory=set)

    def input_partitions(self) -> set[TP]:
        return self.inputs | set(self._committed_offset) | set(self._acked)


def test_offsets_delivered_twice_after_a_recovery_are_acked_once() -> None:
    tp = TP("border.crossings.v1", 1)
    consumer = FakeConsumer()
    consumer._committed_offset[tp] = 2616
    consumer._acked[tp] = [2615, 2616, 2616, 2617, 2617, 2618]
    consumer._acked_index[tp] = {2615, 2616, 2617, 2618}
    assert drop_stale_acks(consumer) == 3
    assert consumer._acked[tp] == [2616, 2617, 2618]
    assert consumer._acked_index[tp] == {2616, 2617, 2618}


def test_a_gap_is_never_filled() -> None:
    tp = TP("border.crossings.v1", 0)
    consumer = FakeConsumer()
    consumer._committed_offset[tp] = 10
    consumer._acked[tp] = [10, 12, 13]  # 11 not acknowledged: must stay uncommittable
    consumer._acked_index[tp] = {10, 12, 13}
    assert drop_stale_acks(consumer) == 0
    assert consumer._acked[tp] == [10, 12, 13]


def test_without_a_committed_offset_only_duplicates_go() -> None:
    tp = TP("border.permits.v1", 2)
    consumer = FakeConsumer()
    consumer._acked[tp] = [0, 1, 1, 2]
    assert drop_stale_acks(consumer) == 1
    assert consumer._acked[tp] == [0, 1, 2]


def test_a_gap_that_outlives_the_patience_is_reported_once() -> None:
    tp = TP("border.crossings.v1", 0)
    consumer = FakeConsumer()
    consumer._committed_offset[tp] = 2975
    consumer._acked[tp] = [2994, 2995]
    now = [100.0]
    watchdog = CommitWatchdog(patience_seconds=10.0, clock=lambda: now[0])
    assert watchdog.stuck(consumer) == []
    now[0] = 109.0
    assert watchdog.stuck(consumer) == []
    now[0] = 110.5
    assert watchdog.stuck(consumer) == [(tp, 2975)]
    assert watchdog.stuck(consumer) == [], "reported once, then watched afresh"


def test_a_batch_in_flight_or_a_moving_commit_is_not_a_gap() -> None:
    tp = TP("border.crossings.v1", 1)
    consumer = FakeConsumer()
    consumer._committed_offset[tp] = 10
    consumer._acked[tp] = [10, 11]
    now = [0.0]
    watchdog = CommitWatchdog(patience_seconds=1.0, clock=lambda: now[0])
    assert watchdog.stuck(consumer) == []
    consumer._acked[tp] = [15]  # 10..14 in flight
    watchdog.stuck(consumer)
    now[0] = 0.5
    consumer._committed_offset[tp] = 14  # the commit moved: the clock starts again
    assert watchdog.stuck(consumer) == []
    now[0] = 1.2
    assert watchdog.stuck(consumer) == []


def test_a_single_hole_after_the_committed_offset_is_left_to_faust() -> None:
    # Faust commits past it (a transaction marker at the head needs that): not reported.
    tp = TP("border.crossings.v1", 0)
    consumer = FakeConsumer()
    consumer._committed_offset[tp] = 10
    consumer._acked[tp] = [11, 12]
    now = [0.0]
    watchdog = CommitWatchdog(patience_seconds=1.0, clock=lambda: now[0])
    assert watchdog.stuck(consumer) == []
    now[0] = 5.0
    assert watchdog.stuck(consumer) == []


def test_a_gap_whose_head_is_still_being_processed_is_not_reported() -> None:
    tp = TP("border.crossings.v1", 0)
    consumer = FakeConsumer()
    consumer._committed_offset[tp] = 10
    consumer._acked[tp] = [14, 15]
    consumer._unacked_messages = {FakeMessage(tp, 12), FakeMessage(tp, 10, acked=True)}
    now = [0.0]
    watchdog = CommitWatchdog(patience_seconds=1.0, clock=lambda: now[0])
    assert watchdog.stuck(consumer) == []
    now[0] = 5.0
    assert watchdog.stuck(consumer) == []
    consumer._unacked_messages = {FakeMessage(tp, 10, acked=True)}  # a stale duplicate only
    assert watchdog.stuck(consumer) == []
    now[0] = 7.0
    assert watchdog.stuck(consumer) == [(tp, 10)]


def test_a_delivered_tail_never_acknowledged_is_reported_even_without_a_commit() -> None:
    # Messages handed out, then lost inside Faust, with nothing after them: no acked offsets at
    # all, so no gap; the group may never have committed here (committed None: re-read from 0).
    never, some = TP("border.permits.v1", 2), TP("border.permits.v1", 3)
    consumer = FakeConsumer(inputs={never, some})
    consumer._committed_offset[some] = 40
    consumer.guard.delivered = {never: 109, some: 45}
    now = [0.0]
    watchdog = CommitWatchdog(patience_seconds=10.0, clock=lambda: now[0])
    assert watchdog.stuck(consumer) == []
    now[0] = 10.0
    assert sorted(watchdog.stuck(consumer)) == [(never, 0), (some, 40)]


def test_a_tail_being_processed_or_already_committed_is_not_reported() -> None:
    busy, done = TP("border.permits.v1", 0), TP("border.permits.v1", 1)
    consumer = FakeConsumer()
    consumer._committed_offset.update({busy: 40, done: 46})
    consumer.guard.delivered = {busy: 45, done: 45}
    consumer._unacked_messages = {FakeMessage(busy, 41)}
    now = [0.0]
    watchdog = CommitWatchdog(patience_seconds=1.0, clock=lambda: now[0])
    assert watchdog.stuck(consumer) == []
    now[0] = 5.0
    assert watchdog.stuck(consumer) == []


def test_a_partition_held_until_its_seek_is_never_reported() -> None:
    tp = TP("border.crossings.v1", 0)
    consumer = FakeConsumer()
    consumer._committed_offset[tp] = 10
    consumer._acked[tp] = [14, 15]
    consumer.guard.held.add(tp)
    now = [0.0]
    watchdog = CommitWatchdog(patience_seconds=1.0, clock=lambda: now[0])
    assert watchdog.stuck(consumer) == []
    now[0] = 5.0
    assert watchdog.stuck(consumer) == []
