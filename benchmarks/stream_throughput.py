"""The stream benchmark's throughput phases: a worker (or the Faust null agent) over the backlog,
its changelog bytes, and the worker's batch code in process, with and without cProfile.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import io
import pstats
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from base.credentials import kafka_client_security
from base.settings import Settings
from benchmarks.stream_common import HEALTH_POLL_S, WORKER_COMMAND, BenchError, RawMessage
from benchmarks.stream_services import running_bench_worker

# --- 3. enforcement throughput -------------------------------------------------------------------


@dataclass(slots=True)
class Throughput:
    events_per_s: float
    seconds: float
    counted: int
    startup_s: float
    health: dict[str, Any]
    decisions: int
    lag_after: int
    worker_cores: float
    buffer_full_warnings: int
    log_problems: list[str] = field(default_factory=list)


def _end_offsets(settings: Settings, topics: tuple[str, ...]) -> int:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, **kafka_client_security(settings, "operator")
    )
    try:
        tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        return sum(int(v) for v in consumer.end_offsets(tps).values())
    finally:
        consumer.close()


def enforcement_throughput(
    settings: Settings,
    total: int,
    phase: str = "throughput",
    profile: Path | None = None,
    command: tuple[str, ...] = WORKER_COMMAND,
) -> Throughput:
    """Run one worker (or the null agent) on the backlog and time it by its /health/ counter."""
    from ledger.worker_process import worker_lag

    timeout = 180.0
    with running_bench_worker(settings, phase, profile, command) as worker:
        first: tuple[float, int] | None = None
        cpu_first = 0.0
        deadline = time.monotonic() + timeout
        while True:
            if time.monotonic() > deadline:
                raise BenchError(
                    f"worker did not process {total} messages in {timeout:.0f}s "
                    f"(first={first}):\n{worker.tail()}"
                )
            now = time.perf_counter()
            doc = worker.health()
            processed = 0 if doc is None else int(doc["processed"])
            if processed > 0 and first is None:
                first = (now, processed)
                cpu_first = worker.cpu_seconds()
                startup = time.monotonic() - worker.started
            if first is not None and processed >= total:
                cpu = worker.cpu_seconds() - cpu_first
                break
            time.sleep(HEALTH_POLL_S)
        assert doc is not None
        seconds = now - first[0]
        counted = processed - first[1]
        # Offsets are committed after the batch; give the commit a moment, then check the lag.
        lag = -1
        for _ in range(40):
            lag = worker_lag(settings, worker.proc, worker.log_path)
            if lag == 0:
                break
            time.sleep(0.25)
        decisions = _end_offsets(settings, (settings.topic_decisions,))
        return Throughput(
            events_per_s=counted / seconds if seconds > 0 else float("nan"),
            seconds=seconds,
            counted=counted,
            startup_s=startup,
            health=doc,
            decisions=decisions,
            lag_after=lag,
            worker_cores=cpu / seconds if seconds > 0 else float("nan"),
            buffer_full_warnings=worker.buffer_full_warnings(),
            log_problems=worker.log_problems(),
        )


def worker_profile(path: Path, top: int = 25) -> list[str]:
    """Top functions by own time from a worker's cProfile dump, as text lines."""
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("tottime").print_stats(top)
    lines = out.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    return [line.rstrip() for line in lines[start:] if line.strip()]


# --- 4. the worker's batch code in process ------------------------------------------------------


@dataclass(slots=True)
class InProcess:
    seconds: float
    emissions: int
    state_bytes: list[int]  # each stored traveller state at the end
    table_writes: int
    table_bytes: int


def in_process(messages: list[RawMessage], batch_size: int, lateness_s: int) -> InProcess:
    """``Processor.process_batch`` (what the agent runs) over memory tables, no Kafka or Faust."""
    from schemas.mapping import Coordinates
    from streams.policy_file import load_policy
    from streams.worker.batch import Message
    from streams.worker.memory_tables import AckedPublisher, MemoryTables
    from streams.worker.processor import Processor

    tables = MemoryTables()
    publisher = AckedPublisher(keep=False)
    processor = Processor(load_policy(), timedelta(seconds=lateness_s))
    batches = [
        [
            Message(m.value, Coordinates(m.topic, m.partition, m.offset, m.timestamp_ms))
            for m in messages[i : i + batch_size]
        ]
        for i in range(0, len(messages), batch_size)
    ]

    async def run() -> float:
        gc.collect()
        start = time.perf_counter()
        for batch in batches:
            await processor.process_batch(batch, tables, publisher)
        return time.perf_counter() - start

    seconds = asyncio.run(run())
    return InProcess(
        seconds, publisher.count, tables.stored_state_bytes(), tables.writes, tables.bytes_written
    )


def changelog_bytes(settings: Settings) -> dict[str, int]:
    """Per table changelog of the worker: records and key + value bytes written to it."""
    from kafka import KafkaConsumer, TopicPartition

    from streams.worker.app import changelog_topics

    out: dict[str, int] = {}
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        enable_auto_commit=False,
        **kafka_client_security(settings, "operator"),
    )
    try:
        for topic in changelog_topics(settings):
            tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            ends = consumer.end_offsets(tps)
            records = size = 0
            while any(consumer.position(tp) < ends[tp] for tp in tps):
                for batch in consumer.poll(timeout_ms=500).values():
                    records += len(batch)
                    size += sum(len(r.key or b"") + len(r.value or b"") for r in batch)
            name = topic.removeprefix(f"{settings.app_id}-").removesuffix("-changelog")
            out[f"{name}_records"] = records
            out[f"{name}_bytes"] = size
    finally:
        consumer.close()
    return out


def profile_in_process(messages: list[RawMessage], batch_size: int, lateness_s: int) -> list[str]:
    """:func:`in_process` under cProfile: the top functions by own time, as text lines."""
    profiler = cProfile.Profile()
    profiler.enable()
    in_process(messages, batch_size, lateness_s)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(14)
    lines = out.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    return [line.rstrip() for line in lines[start:] if line.strip()]
