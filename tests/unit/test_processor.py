"""The worker's batch protocol without Faust or Kafka: partitions, batches, clocks, dead letters.

:meth:`Processor.process_batch` runs here over :class:`MemoryTables` (the stored bytes, in the
worker's real formats) and a publisher that records what it was handed, the way the agent drives
it: messages are routed to partitions by key (kafka-python's murmur2, as the publishers do), gate
heartbeats go to every partition, the crossings and permits topics of a partition interleave in
an arbitrary order, and batches have random sizes. The decisions in force must then equal the
offline engine's on the published order, also when the processor's memory (cache, clocks,
deadline heaps) is dropped between batches as after a rebalance or restart.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka.partitioner.default import murmur2

from domain.clock import EventClock
from domain.decisions import Code, Decision, Emission, fold_emissions
from domain.engine import Engine
from domain.events import CrossingRecorded, Event, GateHeartbeat, StayExtended
from producers.simulator import SimulationConfig, simulate
from schemas.codec import decode_dead_letter, decode_emission, encode_event
from schemas.mapping import Coordinates
from streams.policy_file import load_policy
from streams.worker.batch import Message, Output
from streams.worker.memory_tables import AckedPublisher, MemoryTables
from streams.worker.processor import Processor
from streams.worker.state_format import decode_applied, decode_clock, decode_state, encode_clock
from tests.unit.rules.helpers import entry, heartbeat, leave, to_event

PARTITIONS = 4
POLICY = load_policy()


class Recorder(AckedPublisher):
    def emissions(self) -> list[Emission]:
        return [decode_emission(v) for o, _, v in self.sent if o is Output.DECISIONS]


def run_batch(processor: Processor, tables: MemoryTables, messages: list[Message]) -> Recorder:
    recorder = Recorder()
    asyncio.run(processor.process_batch(messages, tables, recorder))
    return recorder


def message(event: Event, partition: int = 0, offset: int = 0, topic: str = "c") -> Message:
    return Message(encode_event(event), Coordinates(topic, partition, offset))


def partition_of(traveller_id: str) -> int:
    return (murmur2(traveller_id.encode()) & 0x7FFFFFFF) % PARTITIONS


def partition_logs(events: list[Event]) -> dict[tuple[str, int], list[Event]]:
    """Per (topic, partition), the messages in publishing order (heartbeats to every partition)."""
    logs: dict[tuple[str, int], list[Event]] = {}
    for event in events:
        if isinstance(event, GateHeartbeat):
            for p in range(PARTITIONS):
                logs.setdefault(("crossings", p), []).append(event)
            continue
        topic = "crossings" if isinstance(event, CrossingRecorded) else "permits"
        logs.setdefault((topic, partition_of(event.traveller_id)), []).append(event)
    return logs


class Rebalancing(Recorder):
    """Drops some partitions from the processor's memory now and then, also mid-batch."""

    def __init__(self, processor: Processor, rng: random.Random, chance: float) -> None:
        super().__init__()
        self.processor, self.rng, self.chance = processor, rng, chance

    def maybe_forget(self) -> None:
        if self.rng.random() < self.chance:  # a rebalance (some partitions) or a restart (all)
            self.processor.forget(self.rng.sample(range(PARTITIONS), self.rng.randint(1, 4)))

    async def publish(self, output: Output, key: bytes | None, value: bytes) -> Awaitable[object]:
        self.maybe_forget()
        return await super().publish(output, key, value)


def consume(
    logs: dict[tuple[str, int], list[Event]], rng: random.Random, batch_max: int, amnesia: float
) -> dict[str, Decision]:
    """Run the batches like the agent; ``amnesia``: chance to drop memory, between or mid-batch."""
    tables = MemoryTables()
    processor = Processor(POLICY, states_per_partition=rng.choice([3, 50_000]))
    publisher = Rebalancing(processor, rng, amnesia)
    cursors = dict.fromkeys(logs, 0)
    while any(cursors[k] < len(logs[k]) for k in logs):
        batch = []
        for _ in range(rng.randint(1, batch_max)):
            live = [k for k in logs if cursors[k] < len(logs[k])]
            if not live:
                break
            key = rng.choice(live)  # topics and partitions interleave arbitrarily
            batch.append(message(logs[key][cursors[key]], key[1], cursors[key], key[0]))
            cursors[key] += 1
        asyncio.run(processor.process_batch(batch, tables, publisher))
        publisher.maybe_forget()
    return fold_emissions(publisher.emissions())


def offline(events: list[Event], until: datetime) -> dict[str, Decision]:
    engine = Engine(POLICY)
    emissions = [em for e in events for em in engine.process(e)]
    emissions.extend(engine.advance_to(until))
    return fold_emissions(emissions)


def simulated(travellers: int, seed: int) -> tuple[list[Event], datetime]:
    sim = simulate(
        SimulationConfig(
            start=date(2025, 12, 1), days=2, travellers=travellers, seed=seed, violation_share=0.3
        )
    )
    events = list(sim.events)
    last = max(e.occurred_at for e in events)
    end = last + timedelta(days=20)  # well past every short-stay deadline of the simulated days
    events.append(GateHeartbeat(event_id="final-heartbeat", occurred_at=end, port="HK-LO-WU"))
    return events, end


# Six whole simulated streams through the processor, some one message per batch with amnesia:
# 217 s here at load 3-5 on 2 cores, 961 s at load 7-24, past the suite's 300 s default.
@pytest.mark.timeout(900)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    interleave=st.integers(0, 10_000),
    batch=st.integers(1, 60),
    amnesia=st.sampled_from([0.0, 0.2]),
)
def test_partitioned_batched_processing_decides_like_the_offline_engine(
    seed: int, interleave: int, batch: int, amnesia: float
) -> None:
    events, end = simulated(120, seed)
    live = consume(partition_logs(events), random.Random(interleave), batch, amnesia)
    expected = offline(events, end)
    assert live == expected
    assert any(d.code is Code.SUSPECTED_OVERSTAY for d in expected.values()) or any(
        d.code is Code.OVERSTAY for d in expected.values()
    ), "the simulated stream must exercise overstays for this test to mean something"


def test_a_deadline_fires_from_heartbeats_alone_after_the_index_is_rebuilt() -> None:
    tables = MemoryTables()
    visit = to_event(entry("t1", "HK-LO-WU", "2025-12-01T10:00:00+08:00", "VISITOR"))
    run_batch(Processor(POLICY), tables, [message(visit)])
    assert decode_state(tables.states[0]["t1"]).due is not None, "the state carries its deadline"
    fresh = Processor(POLICY)  # a restarted worker: no heap, no cache, only the stored states
    # VISITOR 7 days, day-after counting: deadline 2025-12-09T00:00+08:00.
    before = to_event(heartbeat("2025-12-09T00:00:00+08:00", port="HK-LO-WU"))
    after = to_event(heartbeat("2025-12-09T00:00:01+08:00", port="HK-LO-WU"))
    at_deadline = run_batch(fresh, tables, [message(before, offset=1)])
    assert at_deadline.sent == [], "an exit exactly at the deadline would still be in time"
    emissions = run_batch(fresh, tables, [message(after, offset=2)]).emissions()
    assert [e.decision.code for e in emissions] == [Code.SUSPECTED_OVERSTAY]
    assert emissions[0].decision.observed_at == datetime(2025, 12, 8, 16, 0, tzinfo=UTC)


def test_authority_events_do_not_move_the_partition_clock() -> None:
    tables = MemoryTables()
    processor = Processor(POLICY)
    gate = to_event(heartbeat("2025-12-01T00:00:00+00:00"))
    run_batch(processor, tables, [message(gate)])
    written = tables.writes
    extension = StayExtended(
        event_id="x1",
        traveller_id="t1",
        occurred_at=datetime(2026, 3, 1, tzinfo=UTC),
        jurisdiction="HK",
        permitted_until=datetime(2026, 3, 2, tzinfo=UTC),
    )
    run_batch(processor, tables, [message(extension, offset=1, topic="p")])
    # The traveller's state, and the partition record, for the mark that "p" is applied to 2.
    assert tables.writes == written + 2
    assert decode_applied(tables.clocks[0]) == {"c": 1, "p": 2}
    assert decode_clock(tables.clocks[0]).watermark == datetime(2025, 12, 1, tzinfo=UTC)


def test_allowed_lateness_holds_the_partition_watermark_back() -> None:
    noon = to_event(heartbeat("2025-12-01T12:00:00+00:00"))
    clock = EventClock().observe(noon, timedelta(hours=1))
    assert clock.watermark == datetime(2025, 12, 1, 11, tzinfo=UTC)
    earlier = to_event(heartbeat("2025-12-01T11:30:00+00:00"))
    assert clock.observe(earlier, timedelta(hours=1)) == clock, "the clock never moves back"
    assert decode_clock(encode_clock(clock)) == clock


def test_undecodable_input_becomes_a_dead_letter_with_its_coordinates() -> None:
    tables = MemoryTables()
    processor = Processor(POLICY, clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    garbage = Message(b"\x00garbage", Coordinates("border.crossings.v1", 3, 42, 1_000, b"k"))
    tombstone = Message(None, Coordinates("border.permits.v1", 0, 7, key=b"k2"))
    sent = run_batch(processor, tables, [garbage, tombstone]).sent
    assert [(o, k) for o, k, _ in sent] == [
        (Output.DEAD_LETTERS, b"k"),
        (Output.DEAD_LETTERS, b"k2"),
    ]
    assert not any(tables.states.values()), "no state for undecodable input"
    assert {p: decode_applied(raw) for p, raw in tables.clocks.items()} == {
        3: {"border.crossings.v1": 43},
        0: {"border.permits.v1": 8},
    }, "only the marks that the two offsets were dealt with"
    letter = decode_dead_letter(sent[0][2])
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == (
        "border.crossings.v1",
        3,
        42,
    )
    assert letter.raw == b"\x00garbage"
    assert letter.reason.startswith("DecodeError")
    assert letter.source_timestamp == datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert processor.counters.dead_lettered == 2
    assert "tombstone" in decode_dead_letter(sent[1][2]).reason


def test_a_batch_sees_its_own_earlier_events_and_writes_each_traveller_once() -> None:
    tables = MemoryTables()
    processor = Processor(POLICY)
    first = to_event(entry("t9", "HK-LO-WU", "2025-12-01T10:00:00+08:00", "VISITOR"))
    second = replace(first, event_id="dup-of-first")  # same instant: a suspected duplicate
    gate = to_event(heartbeat("2025-12-01T10:00:00+08:00", port="HK-LO-WU"))
    sent = run_batch(processor, tables, [message(first), message(second, offset=1), message(gate)])
    codes = {e.decision.code for e in sent.emissions()}
    assert Code.DUPLICATE_SUSPECTED in codes, "the second event saw the first one's state"
    assert tables.writes == 2, "one write for the traveller, one for the partition clock"
    assert decode_applied(tables.clocks[0]) == {"c": 2}, "the mark is past the highest offset"
    state = decode_state(tables.states[0]["t9"])
    assert len(state.events) == 2
    assert processor.cache.state(0, "t9") == state


class FailingAcks(Recorder):
    async def publish(self, output: Output, key: bytes | None, value: bytes) -> Awaitable[object]:
        failed: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        failed.set_exception(ConnectionError("broker gone"))
        return failed


def test_nothing_is_written_when_an_output_is_not_acknowledged() -> None:
    tables = MemoryTables()
    processor = Processor(POLICY)
    visit = to_event(entry("t1", "HK-LO-WU", "2025-12-01T10:00:00+08:00", "VISITOR"))
    try:
        asyncio.run(processor.process_batch([message(visit)], tables, FailingAcks()))
    except ConnectionError:
        pass
    else:
        raise AssertionError("a failed acknowledgement must fail the batch")
    assert tables.writes == 0 and processor.cache.size(0) == 0


def test_messages_redelivered_after_a_takeover_are_skipped_not_applied_again() -> None:
    """Input re-read from a lagging committed offset is already in the stored states.

    A visit a year back, then heartbeats that let pruning forget it. A worker taking the
    partition over re-reads everything from offset 0: applying the entry again would look like
    a crossing older than what the state forgot (``LATE_EVENT_UNJUDGED``), which the first
    pass never said. The stored ``applied`` mark makes the new worker skip it.
    """
    visit = [
        to_event(entry("t1", "HK-LO-WU", "2024-12-01T10:00:00+08:00", "VISITOR")),
        to_event(leave("t1", "HK-LO-WU", "2024-12-03T10:00:00+08:00")),
        to_event(heartbeat("2025-12-01T10:00:00+08:00", port="HK-LO-WU")),
    ]
    log = [message(e, offset=i) for i, e in enumerate(visit)]
    tables = MemoryTables()
    first = run_batch(Processor(POLICY), tables, log).emissions()
    assert decode_state(tables.states[0]["t1"]).forgotten, "the visit must have been pruned"
    assert Code.LATE_EVENT_UNJUDGED not in {e.decision.code for e in first}
    stored = dict(tables.states[0])

    takeover = Processor(POLICY)
    assert run_batch(takeover, tables, log).sent == []
    assert takeover.counters.replayed == len(log) and takeover.counters.processed == 0
    assert tables.states[0] == stored, "the stored states are left as they were"

    # Without the mark (a clock written before marks existed), the replay is mis-judged: the
    # mechanism the mark exists for.
    tables.clocks[0] = encode_clock(decode_clock(tables.clocks[0]))
    unmarked = run_batch(Processor(POLICY), tables, log[:1]).emissions()
    assert [e.decision.code for e in unmarked] == [Code.LATE_EVENT_UNJUDGED]


def test_a_takeover_applies_what_follows_the_mark() -> None:
    tables = MemoryTables()
    visit = to_event(entry("t1", "HK-LO-WU", "2025-12-01T10:00:00+08:00", "VISITOR"))
    run_batch(Processor(POLICY), tables, [message(visit, offset=0)])
    out = to_event(leave("t1", "HK-LO-WU", "2025-12-02T10:00:00+08:00"))
    takeover = Processor(POLICY)
    sent = run_batch(takeover, tables, [message(visit, offset=0), message(out, offset=1)])
    assert [e.decision.code for e in sent.emissions()] == [Code.STAY_CLOSED]
    assert (takeover.counters.replayed, takeover.counters.processed) == (1, 1)
    assert decode_applied(tables.clocks[0]) == {"c": 2}
