"""Batches stepped ahead of the durability of earlier ones (streams.worker.inflight).

The agent steps up to ``worker_inflight_batches`` batches while earlier ones await their
acknowledgements. Here the tables store a write only some event-loop turns after it was made,
and the state cache holds three travellers per partition, so later batches must read what
earlier ones changed from the processor's unflushed states: the decisions and the stored bytes
must be exactly those of one batch at a time.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Awaitable, Mapping

import pytest

from schemas.codec import decode_emission
from streams.worker.batch import Message, Output
from streams.worker.inflight import DurabilityChain
from streams.worker.memory_tables import AckedPublisher, MemoryTables
from streams.worker.processor import Processor
from streams.worker.state_format import decode_applied
from tests.unit.rules.helpers import entry, leave, permit, to_event
from tests.unit.test_processor import (
    POLICY,
    FailingAcks,
    message,
    partition_logs,
    simulated,
)


class LateTables(MemoryTables):
    """Stores a write only once its acknowledgement is awaited, a few loop turns later."""

    def write(
        self, partition: int, states: Mapping[str, bytes | None], clock: bytes | None
    ) -> list[Awaitable[object]]:
        async def land() -> None:
            for _ in range(3):
                await asyncio.sleep(0)
            MemoryTables.write(self, partition, dict(states), clock)

        return [asyncio.ensure_future(land())]


def batches_of(seed: int) -> list[list[Message]]:
    events, _ = simulated(travellers=120, seed=seed)
    logs = partition_logs(events)
    rng = random.Random(seed)
    cursors = dict.fromkeys(logs, 0)
    out: list[list[Message]] = []
    while any(cursors[k] < len(logs[k]) for k in logs):
        batch = []
        for _ in range(rng.randint(1, 40)):
            live = [k for k in logs if cursors[k] < len(logs[k])]
            if not live:
                break
            key = rng.choice(live)
            batch.append(message(logs[key][cursors[key]], key[1], cursors[key], key[0]))
            cursors[key] += 1
        out.append(batch)
    return out


def one_at_a_time(batches: list[list[Message]]) -> tuple[list[bytes], MemoryTables]:
    tables, publisher = LateTables(), AckedPublisher()
    processor = Processor(POLICY, states_per_partition=3)

    async def run() -> None:
        for batch in batches:
            await processor.process_batch(batch, tables, publisher)

    asyncio.run(run())
    return [v for _, _, v in publisher.sent], tables


def pipelined(batches: list[list[Message]], depth: int) -> tuple[list[bytes], MemoryTables, int]:
    tables, publisher = LateTables(), AckedPublisher()
    processor = Processor(POLICY, states_per_partition=3)
    most_in_flight = 0

    async def run() -> None:
        nonlocal most_in_flight
        chain = DurabilityChain(depth)
        for batch in batches:
            writes = await processor.step_batch(batch, tables, publisher)
            await chain.submit(functools.partial(processor.make_durable, tables, writes))
            most_in_flight = max(most_in_flight, chain.pending)
        await chain.drain()

    asyncio.run(run())
    assert processor.unflushed.states(0) == {} and processor.unflushed.clock(0) is None
    return [v for _, _, v in publisher.sent], tables, most_in_flight


@pytest.mark.parametrize("seed", [3, 11])
def test_batches_stepped_ahead_publish_and_store_exactly_what_one_at_a_time_does(
    seed: int,
) -> None:
    batches = batches_of(seed)
    sent, tables = one_at_a_time(batches)
    ahead, ahead_tables, most_in_flight = pipelined(batches, depth=4)
    assert most_in_flight == 3, "batches were stepped while three earlier ones were pending"
    assert len(sent) > 100
    assert ahead == sent, "same outputs, byte for byte, in the same order"
    assert ahead_tables.states == tables.states
    assert ahead_tables.clocks == tables.clocks
    assert ahead_tables.writes == tables.writes


def test_a_clock_written_ahead_carries_the_marks_of_batches_not_yet_durable() -> None:
    tables, publisher = LateTables(), AckedPublisher()
    processor = Processor(POLICY)
    visit = to_event(entry("t1", "HK-LO-WU", "2025-12-01T10:00:00+08:00", "VISITOR"))
    issued = to_event(permit("t2", "P-1"))

    async def run() -> None:
        first = await processor.step_batch([message(visit, 0, 0, "c")], tables, publisher)
        second = await processor.step_batch([message(issued, 0, 0, "p")], tables, publisher)
        await processor.make_durable(tables, first)
        assert decode_applied(tables.clocks[0]) == {"c": 1}
        await processor.make_durable(tables, second)

    asyncio.run(run())
    assert decode_applied(tables.clocks[0]) == {"c": 1, "p": 1}


def test_a_failed_batch_fails_the_batches_after_it_and_memory_falls_back_to_the_tables() -> None:
    tables = LateTables()
    processor = Processor(POLICY)
    visit = to_event(entry("t1", "HK-LO-WU", "2025-12-01T10:00:00+08:00", "VISITOR"))
    out = to_event(leave("t1", "HK-LO-WU", "2025-12-02T10:00:00+08:00"))
    seen_by_second: list[object] = []

    async def run() -> None:
        chain = DurabilityChain(3)
        first = await processor.step_batch([message(visit, 0, 0)], tables, FailingAcks())
        await chain.submit(functools.partial(processor.make_durable, tables, first))
        seen_by_second.append(processor.state(0, "t1"))
        second = await processor.step_batch([message(out, 0, 1)], tables, AckedPublisher())
        await chain.submit(functools.partial(processor.make_durable, tables, second))
        await chain.drain()

    with pytest.raises(ConnectionError):
        asyncio.run(run())
    assert seen_by_second[0] is not None, "the second batch read the first one's state"
    assert tables.writes == 0, "neither batch wrote anything"
    assert processor.unflushed.states(0) == {}
    assert processor.state(0, "t1") is None, "memory now says what the tables say"


def test_the_chain_runs_durability_in_submission_order_within_its_bound() -> None:
    finished: list[int] = []

    async def durable(i: int, turns: int) -> None:
        for _ in range(turns):
            await asyncio.sleep(0)
        finished.append(i)

    async def run() -> list[int]:
        chain = DurabilityChain(2)
        pending = []
        for i, turns in enumerate([9, 1, 5, 0]):
            await chain.submit(functools.partial(durable, i, turns))
            pending.append(chain.pending)
        await chain.drain()
        return pending

    pending = asyncio.run(run())
    assert finished == [0, 1, 2, 3], "a quicker batch never overtakes an earlier one"
    assert max(pending) <= 1, "with depth 2, submit returns once at most one is pending"
    with pytest.raises(ValueError):
        DurabilityChain(0)


def test_outputs_of_a_batch_stepped_ahead_are_published_before_earlier_batches_are_durable() -> (
    None
):
    """The point of stepping ahead: a batch's decisions do not wait for the last batch's
    changelog round trips."""
    tables, publisher = LateTables(), AckedPublisher()
    processor = Processor(POLICY)
    a = to_event(entry("t1", "HK-LO-WU", "2025-12-01T10:00:00+08:00", "VISITOR"))
    b = to_event(entry("t2", "HK-LO-WU", "2025-12-01T10:01:00+08:00", "VISITOR"))

    async def run() -> None:
        chain = DurabilityChain(4)
        first = await processor.step_batch([message(a, 0, 0)], tables, publisher)
        await chain.submit(functools.partial(processor.make_durable, tables, first))
        await processor.step_batch([message(b, 0, 1)], tables, publisher)
        assert tables.writes == 0, "the first batch is not durable yet"
        await chain.drain()

    asyncio.run(run())
    decided = [decode_emission(v).decision.traveller_id for o, _, v in publisher.sent]
    assert decided == ["t1", "t2"] and all(o is Output.DECISIONS for o, _, _ in publisher.sent)


def test_a_cancelled_waiter_leaves_the_batch_to_finish_and_a_failure_refuses_later_batches() -> (
    None
):
    finished: list[int] = []
    release = asyncio.Event()

    async def slow() -> None:
        await release.wait()
        finished.append(0)

    async def broken() -> None:
        raise ConnectionError("broker gone")

    async def run() -> None:
        chain = DurabilityChain(1)
        waiter = asyncio.ensure_future(chain.submit(slow))
        await asyncio.sleep(0)
        waiter.cancel()  # the agent stopping while its batch becomes durable
        await asyncio.gather(waiter, return_exceptions=True)
        release.set()
        await chain.settle(timeout=5)
        assert finished == [0], "the batch became durable although its waiter was cancelled"
        with pytest.raises(ConnectionError):
            await chain.submit(broken)
        with pytest.raises(ConnectionError):
            await chain.submit(slow)  # refused: an earlier batch failed
        assert chain.pending == 0

    asyncio.run(run())
