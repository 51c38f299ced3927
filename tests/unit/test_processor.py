"""The worker's enforcement step without Faust or Kafka: partitions, batches, clocks, dead letters.

A dict-backed stand-in for the Faust tables drives :class:`Processor` the way the agent does:
messages are routed to partitions by key (kafka-python's murmur2, as the publishers do), gate
heartbeats go to every partition, the crossings and permits topics of a partition interleave in
an arbitrary order, and writes land only at the end of each batch through :class:`BatchOverlay`.
The decisions in force must then equal the offline engine's on the published order.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka.partitioner.default import murmur2

from producers.simulator import SimulationConfig, simulate
from schemas.codec import decode_dead_letter, encode_event
from streams.domain.clock import EventClock
from streams.domain.decisions import Code, Decision, fold_emissions
from streams.domain.engine import Engine
from streams.domain.events import CrossingRecorded, Event, GateHeartbeat, StayExtended
from streams.domain.policy import load_policy
from streams.domain.state import TravellerState
from streams.worker.app import decode_state, encode_state
from streams.worker.processor import (
    BatchOverlay,
    Coordinates,
    Processor,
    Schedule,
    Step,
)
from tests.unit.rules.helpers import entry, heartbeat, to_event

PARTITIONS = 4
POLICY = load_policy()


class FakeTables:
    """The three worker tables as dicts, values encoded as the worker stores them."""

    def __init__(self) -> None:
        self.travellers: dict[str, bytes] = {}
        self.schedule_rows: dict[str, str] = {}
        self.clocks: dict[int, str] = {}

    def traveller(self, traveller_id: str) -> TravellerState | None:
        raw = self.travellers.get(traveller_id)
        return None if raw is None else decode_state(raw)

    def clock(self, partition: int) -> EventClock:
        raw = self.clocks.get(partition)
        return EventClock() if raw is None else EventClock.from_text(raw)

    def schedules(self, partition: int) -> list[tuple[str, Schedule]]:
        return [(tid, Schedule.from_text(text)) for tid, text in self.schedule_rows.items()]

    def write(self, partition: int, step: Step) -> None:
        for tid, state in step.states.items():
            if state is None:
                self.travellers.pop(tid, None)
            else:
                self.travellers[tid] = encode_state(state)
        for tid, schedule in step.schedules.items():
            if schedule is None:
                self.schedule_rows.pop(tid, None)
            else:
                self.schedule_rows[tid] = schedule.to_text()
        if step.clock is not None:
            self.clocks[partition] = step.clock.to_text()


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


def consume(
    logs: dict[tuple[str, int], list[Event]], rng: random.Random, batch_max: int
) -> tuple[list[Decision], dict[str, Decision]]:
    """Run the processor over the logs like the agent; return emissions' decisions and the fold."""
    tables = FakeTables()
    processor = Processor(POLICY)
    cursors = dict.fromkeys(logs, 0)
    offsets = dict.fromkeys(logs, 0)
    emissions = []
    while any(cursors[k] < len(logs[k]) for k in logs):
        overlay = BatchOverlay(tables)
        for _ in range(rng.randint(1, batch_max)):
            live = [k for k in logs if cursors[k] < len(logs[k])]
            if not live:
                break
            key = rng.choice(live)  # topics and partitions interleave arbitrarily
            event = logs[key][cursors[key]]
            cursors[key] += 1
            where = Coordinates(key[0], key[1], offsets[key])
            offsets[key] += 1
            step = processor.step(encode_event(event), where, overlay)
            overlay.absorb(key[1], step)
            emissions.extend(step.emissions)
        for partition, merged in overlay.pending.items():
            tables.write(partition, merged)
    return [e.decision for e in emissions], fold_emissions(emissions)


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


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), interleave=st.integers(0, 10_000), batch=st.integers(1, 60))
def test_partitioned_batched_processing_decides_like_the_offline_engine(
    seed: int, interleave: int, batch: int
) -> None:
    events, end = simulated(120, seed)
    _, live = consume(partition_logs(events), random.Random(interleave), batch)
    expected = offline(events, end)
    assert live == expected
    assert any(d.code is Code.SUSPECTED_OVERSTAY for d in expected.values()) or any(
        d.code is Code.OVERSTAY for d in expected.values()
    ), "the simulated stream must exercise overstays for this test to mean something"


def test_a_deadline_fires_from_heartbeats_alone_after_the_index_is_rebuilt() -> None:
    tables = FakeTables()
    processor = Processor(POLICY)
    visit = to_event(entry("t1", "HK-LO-WU", "2025-12-01T10:00:00+08:00", "VISITOR"))
    p = 0
    tables.write(p, processor.step(encode_event(visit), Coordinates("c", p, 0), tables))
    assert "t1" in tables.schedule_rows
    processor.index.forget()  # as after a rebalance: only the durable schedules remain
    fresh = Processor(POLICY)  # or a restarted worker: no heap at all
    # VISITOR 7 days, day-after counting: deadline 2025-12-09T00:00+08:00.
    before = to_event(heartbeat("2025-12-09T00:00:00+08:00", port="HK-LO-WU"))
    after = to_event(heartbeat("2025-12-09T00:00:01+08:00", port="HK-LO-WU"))
    step = fresh.step(encode_event(before), Coordinates("c", p, 1), tables)
    tables.write(p, step)
    assert step.emissions == [], "an exit exactly at the deadline would still be in time"
    step = fresh.step(encode_event(after), Coordinates("c", p, 2), tables)
    codes = [e.decision.code for e in step.emissions]
    assert codes == [Code.SUSPECTED_OVERSTAY]
    assert step.emissions[0].decision.observed_at == datetime(2025, 12, 8, 16, 0, tzinfo=UTC)


def test_authority_events_do_not_move_the_partition_clock() -> None:
    tables = FakeTables()
    processor = Processor(POLICY)
    gate = to_event(heartbeat("2025-12-01T00:00:00+00:00"))
    tables.write(0, processor.step(encode_event(gate), Coordinates("c", 0, 0), tables))
    extension = StayExtended(
        event_id="x1",
        traveller_id="t1",
        occurred_at=datetime(2026, 3, 1, tzinfo=UTC),
        jurisdiction="HK",
        permitted_until=datetime(2026, 3, 2, tzinfo=UTC),
    )
    step = processor.step(encode_event(extension), Coordinates("p", 0, 0), tables)
    assert step.clock is None
    assert tables.clock(0).watermark == datetime(2025, 12, 1, tzinfo=UTC)


def test_allowed_lateness_holds_the_partition_watermark_back() -> None:
    noon = to_event(heartbeat("2025-12-01T12:00:00+00:00"))
    clock = EventClock().observe(noon, timedelta(hours=1))
    assert clock.watermark == datetime(2025, 12, 1, 11, tzinfo=UTC)
    earlier = to_event(heartbeat("2025-12-01T11:30:00+00:00"))
    assert clock.observe(earlier, timedelta(hours=1)) == clock, "the clock never moves back"
    assert EventClock.from_text(clock.to_text()) == clock


def test_undecodable_input_becomes_a_dead_letter_with_its_coordinates() -> None:
    tables = FakeTables()
    processor = Processor(POLICY, clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    step = processor.step(b"\x00garbage", Coordinates("border.crossings.v1", 3, 42, 1_000), tables)
    assert step.dead_letter is not None and step.emissions == [] and step.states == {}
    letter = decode_dead_letter(step.dead_letter)
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == (
        "border.crossings.v1",
        3,
        42,
    )
    assert letter.raw == b"\x00garbage"
    assert letter.reason.startswith("DecodeError")
    assert letter.source_timestamp == datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert processor.counters.dead_lettered == 1
    tombstone = processor.step(None, Coordinates("border.permits.v1", 0, 7), tables)
    assert tombstone.dead_letter is not None
    assert "tombstone" in decode_dead_letter(tombstone.dead_letter).reason


def test_a_batch_sees_its_own_earlier_writes_and_merges_them() -> None:
    tables = FakeTables()
    processor = Processor(POLICY)
    overlay = BatchOverlay(tables)
    first = to_event(entry("t9", "HK-LO-WU", "2025-12-01T10:00:00+08:00", "VISITOR"))
    second = replace(first, event_id="dup-of-first")  # same instant: a suspected duplicate
    for offset, event in enumerate((first, second)):
        step = processor.step(encode_event(event), Coordinates("c", 1, offset), overlay)
        overlay.absorb(1, step)
    assert tables.travellers == {}, "nothing is written before the batch's outputs are acked"
    merged = overlay.pending[1]
    state = merged.states["t9"]
    assert state is not None and len(state.events) == 2
    tables.write(1, merged)
    assert tables.traveller("t9") == state
