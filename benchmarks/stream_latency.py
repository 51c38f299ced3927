"""The stream benchmark's latency phase: fixed loads offered by a paced producer to a caught-up
worker, decisions collected concurrently, latency percentiles per load.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from base.credentials import kafka_client_security
from base.settings import Settings
from benchmarks.stream_common import HEARTBEAT_EVERY_S, TARGET_P99_MS, BenchError
from benchmarks.stream_services import (
    Worker,
    cpu_seconds,
    machine_busy_seconds,
    running_bench_worker,
)
from domain.events import (
    Basis,
    Channel,
    CrossingRecorded,
    Direction,
    Document,
    GateHeartbeat,
)
from schemas.codec import decode_emission, encode_event

# --- 5. latency under a fixed load ---------------------------------------------------------------


def latency_events(n: int, tag: str) -> list[CrossingRecorded]:
    """``n`` entries of fresh visitors at HK-AIRPORT (the load sets their event time)."""
    nationalities = ("GBR", "USA", "AUS", "CAN", "JPN", "KOR", "SGP", "DEU", "FRA", "MYS")
    at = datetime(2025, 12, 1, 8, 0, tzinfo=UTC)
    return [
        CrossingRecorded(
            event_id=f"lat-{tag}-{i}",
            traveller_id=f"lat-{tag}-t{i}",
            occurred_at=at + timedelta(milliseconds=i),
            port="HK-AIRPORT",
            direction=Direction.ENTRY,
            nationality=nationalities[i % len(nationalities)],
            document=Document.PASSPORT,
            channel=Channel.COUNTER,
            basis=Basis.VISITOR,
            arrived_from=nationalities[i % len(nationalities)],
        )
        for i in range(n)
    ]


def check_entries_decide(entries: list[CrossingRecorded]) -> None:
    """Offline: each of the first entries yields a STAY_OPENED whose evidence ends with it."""
    from domain.decisions import Code
    from domain.engine import Engine
    from streams.policy_file import load_policy

    engine = Engine(load_policy())
    for e in entries[:20]:
        emissions = engine.process(e)
        if not any(
            x.decision.code is Code.STAY_OPENED and x.decision.evidence[-1] == e.event_id
            for x in emissions
        ):
            raise BenchError(f"entry {e.event_id} yields no STAY_OPENED offline: {emissions}")


class DecisionCollector(threading.Thread):
    """Consumes the decisions topic from the beginning; keeps raw values and arrival times."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(name="decisions-consumer", daemon=True)
        from kafka import KafkaConsumer, TopicPartition

        self._consumer = KafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            **kafka_client_security(settings, "operator"),
            group_id=None,
            enable_auto_commit=False,
            fetch_min_bytes=1,
            fetch_max_wait_ms=100,
            client_id="bench-latency-decisions",
        )
        tps = [
            TopicPartition(settings.topic_decisions, p)
            for p in sorted(self._consumer.partitions_for_topic(settings.topic_decisions) or ())
        ]
        self._consumer.assign(tps)
        self._consumer.seek_to_beginning(*tps)
        self.records: list[tuple[float, int, bytes]] = []  # (arrival wall s, record ts ms, value)
        self._halt = threading.Event()
        self._decoded = 0
        self._first: dict[str, tuple[float, float]] = {}

    def run(self) -> None:
        while not self._halt.is_set():
            batches = self._consumer.poll(timeout_ms=50)
            arrived = time.time()
            for records in batches.values():
                self.records.extend((arrived, r.timestamp, r.value) for r in records)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)
        self._consumer.close()

    def triggered_by(self) -> dict[str, tuple[float, float]]:
        """Triggering event id (last evidence id) -> earliest (arrival s, record ts s).

        Incremental: only records that arrived since the previous call are decoded.
        """
        records = self.records[self._decoded :]
        self._decoded += len(records)
        for arrived, ts_ms, value in records:
            evidence = decode_emission(value).decision.evidence
            if not evidence:
                continue
            seen = self._first.get(evidence[-1])
            if seen is None or arrived < seen[0]:
                self._first[evidence[-1]] = (arrived, ts_ms / 1000.0)
        return self._first


@dataclass(slots=True)
class Load:
    sent_at: dict[str, float]  # entry event id -> wall-clock send time (s)
    messages: int
    entries: int
    seconds: float
    max_behind_s: float
    send_errors: int


# One message of a paced load: (entry id or None for a heartbeat, key, value, partition or None).
Planned = tuple[str | None, bytes | None, bytes, int | None]


def _load_plan(
    entries: list[CrossingRecorded],
    base: datetime,
    rate: float,
    heartbeat_every_s: float,
    partitions: int,
) -> list[Planned]:
    """The load's messages, pre-encoded, in schedule order.

    The schedule is the message index: message j is due at t0 + j/rate and occurs (event time) at
    base + j/rate; every heartbeat_every_s one heartbeat per partition takes slots of the schedule
    (the total stays at ``rate``).
    """
    plan: list[Planned] = []
    per_beat = max(1, round(rate * heartbeat_every_s))
    next_beat = 0

    def at(position: int) -> datetime:
        return base + timedelta(milliseconds=int(position * 1000 / rate))

    for e in entries:
        if len(plan) >= next_beat:
            next_beat += per_beat
            for p in range(partitions):
                beat = GateHeartbeat(
                    event_id=f"{e.event_id}-hb{p}", occurred_at=at(len(plan)), port=e.port
                )
                plan.append((None, None, encode_event(beat), p))
        entry = replace(e, occurred_at=at(len(plan)))
        plan.append((e.event_id, e.traveller_id.encode(), encode_event(entry), None))
    return plan


def paced_load(
    settings: Settings,
    entries: list[CrossingRecorded],
    *,
    base: datetime,
    rate: float,
    heartbeat_every_s: float,
    partitions: int,
) -> Load:
    """Send entries + heartbeats at ``rate`` messages/s in total; record each entry's send time."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        **kafka_client_security(settings, "operator"),
        client_id="bench-latency-gates",
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        batch_size=64 * 1024,
    )
    errors = 0

    def failed(_exc: BaseException) -> None:
        nonlocal errors
        errors += 1

    plan = _load_plan(entries, base, rate, heartbeat_every_s, partitions)
    topic = settings.topic_crossings
    sent_at: dict[str, float] = {}
    # Warm the connection and metadata outside the schedule.
    producer.partitions_for(topic)
    max_behind = 0.0
    t0 = time.perf_counter()
    i = 0
    while i < len(plan):
        now = time.perf_counter()
        due = t0 + i / rate
        if due > now:
            time.sleep(min(due - now, 0.002))
            continue
        max_behind = max(max_behind, now - due)
        while i < len(plan) and t0 + i / rate <= now:
            event_id, key, value, part = plan[i]
            if event_id is not None:
                sent_at[event_id] = time.time()
            producer.send(topic, value=value, key=key, partition=part).add_errback(failed)
            i += 1
    seconds = time.perf_counter() - t0
    producer.flush(timeout=60)
    producer.close()
    return Load(sent_at, len(plan), len(entries), seconds, max_behind, errors)


def _percentiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {}
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "p50": q[49],
        "p95": q[94],
        "p99": q[98],
        "max": max(values),
        "mean": statistics.fmean(values),
    }


def _processed(worker: Worker) -> int:
    doc = worker.health()
    if doc is None:
        raise BenchError(f"the worker's /health/ does not answer:\n{worker.tail()}")
    return int(doc["processed"])


def _wait_decided(
    collector: DecisionCollector, worker: Worker, ids: set[str], timeout: float
) -> bool:
    """Wait until every id in ``ids`` triggered a decision; False on timeout."""
    deadline = time.monotonic() + timeout
    while len(ids & collector.triggered_by().keys()) < len(ids):
        if time.monotonic() > deadline:
            return False
        worker.health()  # raises if the worker died
        time.sleep(0.2)
    return True


def _offer(
    settings: Settings,
    worker: Worker,
    collector: DecisionCollector,
    entries: list[CrossingRecorded],
    *,
    base: datetime,
    rate: float,
    broker_pid: int | None,
    drain_s: float,
) -> dict[str, Any]:
    """One paced load on a running worker, then its latency figures."""

    def sample() -> tuple[int, float, float, float, float]:
        broker = cpu_seconds(broker_pid) if broker_pid else 0.0
        processed, worker_cpu = _processed(worker), worker.cpu_seconds()
        return processed, worker_cpu, time.process_time(), broker, machine_busy_seconds()

    before = sample()
    load = paced_load(
        settings,
        entries,
        base=base,
        rate=rate,
        heartbeat_every_s=HEARTBEAT_EVERY_S,
        partitions=settings.partitions,
    )
    after = sample()
    _wait_decided(collector, worker, set(load.sent_at), drain_s)
    decided = collector.triggered_by()
    arrival = [(decided[k][0] - s) * 1000 for k, s in load.sent_at.items() if k in decided]
    record = [(decided[k][1] - s) * 1000 for k, s in load.sent_at.items() if k in decided]
    cores = {
        "worker": (after[1] - before[1]) / load.seconds,
        "bench_process": (after[2] - before[2]) / load.seconds,
    }
    if broker_pid:
        cores["broker"] = (after[3] - before[3]) / load.seconds
    cores["whole_machine"] = (after[4] - before[4]) / load.seconds  # all processes, every core
    arrival_q = _percentiles(arrival)
    missing = load.entries - len(arrival)
    return {
        "rate_asked_msgs_per_s": rate,
        "offered_msgs_per_s": load.messages / load.seconds,
        "entries_per_s": load.entries / load.seconds,
        "seconds": load.seconds,
        "messages": load.messages,
        "entries": load.entries,
        "max_behind_schedule_ms": load.max_behind_s * 1000,
        "send_errors": load.send_errors,
        "decided": len(arrival),
        "missing_after_drain": missing,
        "drain_s": drain_s,
        "arrival_latency_ms": arrival_q,
        "record_timestamp_latency_ms": _percentiles(record),
        "meets_target": bool(arrival_q) and missing == 0 and arrival_q["p99"] < TARGET_P99_MS,
        "worker_processed_per_s": (after[0] - before[0]) / load.seconds,
        "behind_at_end_of_load": load.messages - (after[0] - before[0]),
        "cores_during_load": cores,
    }


def _warm_up(
    settings: Settings,
    worker: Worker,
    collector: DecisionCollector,
    warm: list[CrossingRecorded],
    start: datetime,
) -> float:
    """Offer the warm-up entries slowly and wait for their decisions; returns the seconds."""
    t = time.monotonic()
    paced_load(
        settings,
        warm,
        base=start,
        rate=200.0,
        heartbeat_every_s=HEARTBEAT_EVERY_S,
        partitions=settings.partitions,
    )
    if not _wait_decided(collector, worker, {e.event_id for e in warm}, 60):
        raise BenchError(f"warm-up decisions missing after 60 s:\n{worker.tail()}")
    return time.monotonic() - t


def latency_under_load(
    settings: Settings,
    loads: list[tuple[float, float]],
    broker_pid: int | None,
) -> dict[str, Any]:
    """A fresh worker, warmed up and caught up, offered each ``(rate, seconds)`` load in turn.

    Each load waits for the previous one's decisions (up to 20 s) before it starts.
    """
    tag = uuid.uuid4().hex[:6]
    start = datetime(2025, 12, 1, 8, 0, tzinfo=UTC)
    warm = latency_events(200, f"{tag}w")
    check_entries_decide(warm)
    runs: list[dict[str, Any]] = []
    with running_bench_worker(settings, "latency") as worker:
        assigned = worker.wait_assigned(settings.partitions)
        collector = DecisionCollector(settings)
        collector.start()
        try:
            warmup = _warm_up(settings, worker, collector, warm, start)
            base = start + timedelta(minutes=1)
            for i, (rate, seconds) in enumerate(loads):
                entries = latency_events(int(rate * seconds), f"{tag}r{i}")
                runs.append(
                    _offer(
                        settings,
                        worker,
                        collector,
                        entries,
                        base=base,
                        rate=rate,
                        broker_pid=broker_pid,
                        drain_s=20.0,
                    )
                )
                base += timedelta(seconds=seconds + 60)  # event time moves on between loads
        finally:
            collector.stop()
        health = worker.health() or {}
        problems = worker.log_problems()
        buffer_full = worker.buffer_full_warnings()
    return {
        "worker_assigned_after_s": assigned,
        "warmup_s": warmup,
        "trigger": "last evidence id of the decision; first decision per entry",
        "target_p99_ms": TARGET_P99_MS,
        "runs": runs,
        "producer_buffer_full_warnings": buffer_full,
        "health": health,
        "log_problems": problems[:20],
    }
