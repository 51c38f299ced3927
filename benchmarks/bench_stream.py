"""Benchmark of the enforcement worker: throughput per worker and decision latency under load.

In one run, against one Kafka broker (its own, on free loopback ports under a temp dir, stopped at
the end; or the ``LEDGER_KAFKA_BOOTSTRAP`` broker when ``LEDGER_BENCH_USE_ENV_KAFKA=1`` or
``--bootstrap H:P``):

1. a seeded simulation (3,000 travellers x 2 days, heartbeats included, 10% injected violations)
   is published with ``EventPublisher`` to fresh crossings/permits topics (4 partitions);
2. BASELINE: the ceiling of a raw consumer that only reads and decodes those topics: every
   partition assigned from the beginning, ``decode_event`` on every message, messages/s from the
   first message received to the last. Measured with aiokafka (the client Faust runs on; this is
   the baseline of the ratio) and with kafka-python (for reference), best of two each;
3. CEILING: the Faust null agent (``benchmarks.null_agent``: the worker's Faust settings and
   ``take_events`` batches, no tables, no decoding, no outputs) over the same backlog, timed like
   the worker: the most a Faust worker can do here;
4. ENFORCEMENT: one ``ledger worker`` subprocess (default loglevel, as users run it) with a
   fresh app id on that backlog; events/s from the first observation of the worker's
   ``/health/`` ``processed`` counter above zero to the first observation at the total (startup,
   rebalance and table recovery excluded). Reported as ratios to the null agent and to the raw
   consumer. Then its table changelogs are read back: bytes written per traveller event;
   IN PROCESS (secondary, no Kafka, no Faust): ``Processor.process_batch``, the agent's own batch
   code, over in-memory tables on the same raw messages, then once more under cProfile: where
   the worker's CPU goes apart from Faust, aiokafka and RocksDB, and the stored bytes per
   traveller state;
5. LATENCY: a second fresh worker (new app id, fresh topics), warmed up and caught up, is offered
   fixed loads in turn by a paced kafka-python producer (the gates' settings: idempotent,
   acks=all, linger 5 ms) publishing pre-encoded real events: fresh travellers entering
   HK-AIRPORT as visitors (each entry yields at least a STAY_OPENED decision, checked offline
   first) plus a gate heartbeat to every partition twice a second. First a probe load below the
   worker's capacity (500 messages/s for 10 s), then the target load (2,000 messages/s for 30 s);
   each is given 20 s to drain. The decisions topic is consumed concurrently. The triggering
   event of a decision is the LAST id of its evidence (for a fresh entry's STAY_OPENED it is the
   entry itself); latency = time the first decision triggered by an entry reached the consumer
   (wall clock) - time the entry was handed to the producer. The decision's Kafka record
   timestamp (CreateTime, stamped by the worker's producer when it sends) minus the send time is
   given too (it leaves out the worker's wait for acks, the broker write and the consumer's
   fetch). Alongside: the worker's processed rate during the load, how far behind it was when
   the load ended, and the CPU cores used by the worker, the broker and this process.

``--profile-worker`` adds a run of the backlog through a third worker under cProfile (its dump
goes to ``var/bench/stream-worker.prof``). The worker log's ERROR lines are reported, except the
``GroupCoordinatorNotAvailableError`` a fresh consumer group retries at startup.

Figures are printed as a table and written to ``var/bench/stream.json``; worker logs go to
``var/bench/stream-worker-*.log``.

    .venv/bin/python -m benchmarks.bench_stream [--travellers 3000] [--days 2] [--rate 2000]
        [--duration 30] [--probe-rate 500] [--probe-duration 10] [--profile-worker]
        [--no-latency] [--bootstrap H:P]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from base.credentials import kafka_client_security
from base.settings import PROJECT_ROOT, Settings
from domain.events import (
    Basis,
    Channel,
    CrossingRecorded,
    Direction,
    Document,
    Event,
    GateHeartbeat,
)
from schemas.codec import decode_emission, decode_event, encode_event

OUT_DIR = PROJECT_ROOT / "var" / "bench"
TARGET_P99_MS = 500.0
HEALTH_POLL_S = 0.05
HEARTBEAT_EVERY_S = 0.5  # latency load: one gate heartbeat to every partition this often
STARTUP_TIMEOUT_S = 90.0
# ``ledger worker`` as users run it (default loglevel), and the Faust null agent (the ceiling).
WORKER_COMMAND = ("-m", "ledger", "worker")
NULL_AGENT_COMMAND = ("-m", "benchmarks.null_agent")


class BenchError(RuntimeError):
    """The benchmark could not measure something; the message says what and why."""


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One consumed input message, as the worker's agent sees it."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    value: bytes


# --- services ------------------------------------------------------------------------------------


@contextmanager
def _broker(bootstrap: str | None, data_dir: Path) -> Iterator[Settings]:
    """Settings for a broker: the given one, the environment's, or one started here."""
    settings = Settings.from_env().with_overrides(data_dir=data_dir, chdb_path=data_dir / "chdb")
    if bootstrap is None and os.environ.get("LEDGER_BENCH_USE_ENV_KAFKA") == "1":
        bootstrap = settings.kafka_bootstrap
    if bootstrap:
        yield settings.with_overrides(kafka_bootstrap=bootstrap)
        return
    from infra import process
    from infra.kafka_broker import KafkaBroker

    settings = settings.with_overrides(
        kafka_bootstrap=f"127.0.0.1:{process.free_port('127.0.0.1')}",
        kafka_controller_port=process.free_port("127.0.0.1"),
    )
    broker = KafkaBroker(settings)
    try:
        broker.start()
        yield settings
    finally:
        broker.stop()


def _fresh(settings: Settings, label: str) -> Settings:
    """Settings with four fresh topics (4 partitions by default), app id, web port, data dir."""
    from infra import process
    from infra.kafka_broker import ensure_kafka_security, ensure_topics, project_topics

    tag = f"{label}-{uuid.uuid4().hex[:8]}"
    data_dir = settings.data_dir / tag
    data_dir.mkdir(parents=True)
    fresh = settings.with_overrides(
        topic_crossings=f"bench.crossings.{tag}",
        topic_permits=f"bench.permits.{tag}",
        topic_decisions=f"bench.decisions.{tag}",
        topic_deadletter=f"bench.deadletter.{tag}",
        app_id=f"bench-stream-{tag}",
        worker_web_port=process.free_port("127.0.0.1"),
        data_dir=data_dir,
        chdb_path=data_dir / "chdb",
    )
    ensure_topics(fresh, project_topics(fresh))
    ensure_kafka_security(fresh)
    return fresh


class Worker:
    """``ledger worker`` as a subprocess with its log under var/bench; stopped on exit."""

    def __init__(
        self,
        settings: Settings,
        log_path: Path,
        profile: Path | None = None,
        command: tuple[str, ...] = WORKER_COMMAND,
    ) -> None:
        from ledger.job import settings_env

        self.settings = settings
        self.log_path = log_path
        env = dict(os.environ)
        env.update(settings_env(settings))
        log_path.parent.mkdir(parents=True, exist_ok=True)
        # Under cProfile the stats are written when the worker exits after SIGTERM.
        profiled = [] if profile is None else ["-m", "cProfile", "-o", str(profile)]
        with log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, *profiled, *command],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=PROJECT_ROOT,
            )
        self.started = time.monotonic()

    def health(self) -> dict[str, Any] | None:
        """The /health/ document, or None while the web server does not answer."""
        if self.proc.poll() is not None:
            raise BenchError(
                f"the worker exited with status {self.proc.returncode}; log tail:\n{self.tail()}"
            )
        url = f"http://127.0.0.1:{self.settings.worker_web_port}/health/"
        try:
            with urllib.request.urlopen(url, timeout=2.0) as response:
                doc: dict[str, Any] = json.loads(response.read())
                return doc
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def wait_assigned(self, partitions: int, timeout: float = STARTUP_TIMEOUT_S) -> float:
        """Wait until /health/ lists every input partition; returns seconds since start."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            doc = self.health()
            if doc is not None and len(doc.get("partitions", ())) >= partitions:
                return time.monotonic() - self.started
            time.sleep(0.1)
        raise BenchError(
            f"worker not assigned {partitions} partitions in {timeout:.0f}s:\n{self.tail()}"
        )

    def cpu_seconds(self) -> float:
        """User + system CPU the worker process has used so far."""
        return cpu_seconds(self.proc.pid)

    def log_problems(self) -> list[str]:
        """Log lines that look like errors, except the coordinator lookup a fresh group retries."""
        text = self.log_path.read_text(errors="replace")
        marks = ("ERROR", "CRITICAL", "Traceback", "Exception")
        return [
            line
            for line in text.splitlines()
            if any(m in line for m in marks) and "GroupCoordinatorNotAvailableError" not in line
        ]

    def buffer_full_warnings(self) -> int:
        """Faust's "producer buffer full" warnings (changelog writes waiting for the producer)."""
        return self.log_path.read_text(errors="replace").count("producer buffer full")

    def tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process, from /proc (0.0 if unavailable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine have used (every core, from /proc/stat)."""
    try:
        jiffies = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = jiffies[3] + (jiffies[4] if len(jiffies) > 4 else 0)  # idle + iowait
    return (sum(jiffies[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _worker(
    settings: Settings,
    phase: str,
    profile: Path | None = None,
    command: tuple[str, ...] = WORKER_COMMAND,
) -> Iterator[Worker]:
    worker = Worker(settings, OUT_DIR / f"stream-worker-{phase}.log", profile, command)
    try:
        yield worker
    finally:
        worker.stop()


# --- 1. backlog ----------------------------------------------------------------------------------


def publish_backlog(settings: Settings, events: tuple[Event, ...]) -> tuple[int, float]:
    """Publish with EventPublisher; returns the messages on the input topics and the seconds."""
    from kafka import KafkaConsumer, TopicPartition

    from producers.roles import GatesAndAuthorities

    start = time.perf_counter()
    publisher = GatesAndAuthorities(settings, client_id="bench-stream-publisher")
    for event in events:
        publisher.publish(event)
    publisher.close(timeout=120)
    elapsed = time.perf_counter() - start
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, **kafka_client_security(settings, "operator")
    )
    try:
        tps = [
            TopicPartition(t, p)
            for t in (settings.topic_crossings, settings.topic_permits)
            for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        total = sum(int(v) for v in consumer.end_offsets(tps).values())
    finally:
        consumer.close()
    if total != len(events):
        raise BenchError(f"published {len(events)} events but the topics hold {total} messages")
    return total, elapsed


# --- 2. raw consumer baselines -------------------------------------------------------------------


def _input_partitions(settings: Settings) -> list[tuple[str, int]]:
    """Every partition of the crossings and permits topics, from the broker's metadata."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, **kafka_client_security(settings, "operator")
    )
    try:
        return [
            (t, p)
            for t in (settings.topic_crossings, settings.topic_permits)
            for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
    finally:
        consumer.close()


def raw_kafka_python(
    settings: Settings, total: int, keep: bool = False
) -> tuple[float, list[RawMessage]]:
    """Seconds from first to last message for kafka-python reading + decoding ``total`` messages."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        **kafka_client_security(settings, "operator"),
        group_id=None,
        enable_auto_commit=False,
        client_id="bench-raw-kafka-python",
    )
    kept: list[RawMessage] = []
    try:
        tps = [TopicPartition(t, p) for t, p in _input_partitions(settings)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        n = 0
        first = 0.0
        deadline = time.monotonic() + 120
        while n < total:
            if time.monotonic() > deadline:
                raise BenchError(f"kafka-python consumer read only {n}/{total} in 120 s")
            batches = consumer.poll(timeout_ms=500, max_records=5000)
            for records in batches.values():
                if not n:
                    first = time.perf_counter()
                for r in records:
                    decode_event(r.value)
                    if keep:
                        kept.append(
                            RawMessage(r.topic, r.partition, r.offset, r.timestamp, r.value)
                        )
                n += len(records)
        return time.perf_counter() - first, kept
    finally:
        consumer.close()


def raw_aiokafka(settings: Settings, total: int) -> float:
    """Seconds from first to last message for aiokafka reading + decoding ``total`` messages."""

    async def run() -> float:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            **kafka_client_security(settings, "operator"),
            group_id=None,
            enable_auto_commit=False,
            client_id="bench-raw-aiokafka",
        )
        await consumer.start()
        try:
            tps = [TopicPartition(t, p) for t, p in _input_partitions(settings)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            n = 0
            first = 0.0
            deadline = time.monotonic() + 120
            while n < total:
                if time.monotonic() > deadline:
                    raise BenchError(f"aiokafka consumer read only {n}/{total} in 120 s")
                batches = await consumer.getmany(timeout_ms=500, max_records=5000)
                for records in batches.values():
                    if not n:
                        first = time.perf_counter()
                    for r in records:
                        decode_event(r.value)
                    n += len(records)
            return time.perf_counter() - first
        finally:
            await consumer.stop()

    return asyncio.run(run())


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
    from ledger.job import worker_lag

    timeout = 180.0
    with _worker(settings, phase, profile, command) as worker:
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
    from domain.policy import load_policy
    from streams.worker.memory_tables import AckedPublisher, MemoryTables
    from streams.worker.processor import Coordinates, Message, Processor

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
    from domain.policy import load_policy

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

    # Pre-encode. The schedule is the message index: message j is due at t0 + j/rate and occurs
    # (event time) at base + j/rate; every heartbeat_every_s one heartbeat per partition takes
    # slots of the schedule (the total stays at `rate`).
    plan: list[tuple[str | None, bytes | None, bytes, int | None]] = []  # (id, key, value, part)
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
    with _worker(settings, "latency") as worker:
        assigned = worker.wait_assigned(settings.partitions)
        collector = DecisionCollector(settings)
        collector.start()
        try:
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
            warmup = time.monotonic() - t
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


# --- main ----------------------------------------------------------------------------------------


def _terminate_on_sigterm() -> None:
    def handler(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def _row(label: str, value: str) -> None:
    print(f"  {label:<58} {value}")


def _new_group(settings: Settings, label: str) -> Settings:
    """The same topics, read by a fresh consumer group (app id) with its own port and data dir."""
    from infra import process
    from infra.kafka_broker import ensure_kafka_security

    tag = f"{label}-{uuid.uuid4().hex[:8]}"
    data_dir = settings.data_dir.parent / tag
    data_dir.mkdir(parents=True)
    fresh = settings.with_overrides(
        topic_decisions=f"bench.decisions.{tag}",
        topic_deadletter=f"bench.deadletter.{tag}",
        app_id=f"bench-stream-{tag}",
        worker_web_port=process.free_port("127.0.0.1"),
        data_dir=data_dir,
        chdb_path=data_dir / "chdb",
    )
    ensure_kafka_security(fresh)  # the new group's and outputs' ACLs
    return fresh


def _stamp(began: float, message: str) -> None:
    print(f"[{time.monotonic() - began:6.1f}s] {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every phase; returns the figures (what goes to the JSON file)."""
    from infra.kafka_broker import KafkaBroker, ensure_topics, project_topics
    from producers.simulator import SimulationConfig, simulate

    began = time.monotonic()
    config = SimulationConfig(
        start=date(2025, 12, 1),
        days=args.days,
        travellers=args.travellers,
        seed=args.seed,
        violation_share=0.1,
    )
    events = simulate(config).events
    heartbeats = sum(isinstance(e, GateHeartbeat) for e in events)
    results: dict[str, Any] = {
        "machine": f"{platform.machine()} cpus={os.cpu_count()} "
        f"python={platform.python_version()} {platform.system()}",
        "stream": {
            "travellers": args.travellers,
            "days": args.days,
            "seed": args.seed,
            "violation_share": 0.1,
            "partitions": 0,
            "messages": len(events),
            "heartbeats": heartbeats,
        },
    }
    data_dir = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    try:
        with _broker(args.bootstrap, data_dir / "services") as settings:
            broker_pid = KafkaBroker(settings).pid()  # None for an external broker
            results["stream"]["partitions"] = settings.partitions
            _stamp(began, f"broker {settings.kafka_bootstrap} ready")
            backlog = _fresh(settings, "backlog")
            total, pub_s = publish_backlog(backlog, events)
            _stamp(began, f"published {total} messages with EventPublisher in {pub_s:.1f}s")

            aio = min(raw_aiokafka(backlog, total) for _ in range(2))
            kp1, messages = raw_kafka_python(backlog, total, keep=True)
            kp = min(kp1, raw_kafka_python(backlog, total)[0])
            results["raw"] = {"aiokafka_per_s": total / aio, "kafka_python_per_s": total / kp}
            _stamp(
                began,
                f"raw consumers: aiokafka {total / aio:,.0f}/s, kafka-python {total / kp:,.0f}/s",
            )

            null = enforcement_throughput(
                _new_group(backlog, "null"), total, "null-agent", command=NULL_AGENT_COMMAND
            )
            _stamp(began, f"Faust null agent: {null.events_per_s:,.0f} msg/s")
            thr = enforcement_throughput(backlog, total)
            traveller_events = int(thr.health["processed"]) - int(thr.health["heartbeats"])
            changelogs = changelog_bytes(backlog)
            results["null_agent"] = {
                "events_per_s": null.events_per_s,
                "seconds": null.seconds,
                "counted": null.counted,
                "ratio_vs_aiokafka": null.events_per_s * aio / total,
                "worker_cores": null.worker_cores,
            }
            results["enforcement"] = {
                "events_per_s": thr.events_per_s,
                "seconds": thr.seconds,
                "counted": thr.counted,
                "ratio_vs_null_agent": thr.events_per_s / null.events_per_s,
                "ratio_vs_aiokafka": thr.events_per_s * aio / total,
                "ratio_vs_kafka_python": thr.events_per_s * kp / total,
                "startup_s": thr.startup_s,
                "worker_cores": thr.worker_cores,
                "decisions_published": thr.decisions,
                "lag_after": thr.lag_after,
                "producer_buffer_full_warnings": thr.buffer_full_warnings,
                "traveller_events": traveller_events,
                "changelogs": changelogs,
                "changelog_bytes_per_traveller_event": (
                    sum(v for k, v in changelogs.items() if k.endswith("_bytes"))
                    / max(1, traveller_events)
                ),
                "health": thr.health,
                "log_problems": thr.log_problems[:20],
            }
            _stamp(began, f"worker: {thr.events_per_s:,.0f} events/s")

            batch, lateness = settings.worker_batch_size, settings.allowed_lateness_seconds
            runs = [in_process(messages, batch, lateness) for _ in range(2)]
            best = min(runs, key=lambda r: r.seconds)
            results["in_process"] = {
                "events_per_s": total / best.seconds,
                "emissions": best.emissions,
                "ratio_enforcement_vs_in_process": thr.events_per_s * best.seconds / total,
                "travellers_stored": len(best.state_bytes),
                "state_bytes_per_traveller_mean": statistics.fmean(best.state_bytes),
                "state_bytes_per_traveller_median": statistics.median(best.state_bytes),
                "table_writes_per_traveller_event": best.table_writes / max(1, traveller_events),
                "table_bytes_per_traveller_event": best.table_bytes / max(1, traveller_events),
                "profile_top_tottime": profile_in_process(messages, batch, lateness),
            }
            _stamp(began, f"in process: {total / best.seconds:,.0f} events/s")

            if args.profile_worker:
                dump = OUT_DIR / "stream-worker.prof"
                dump.unlink(missing_ok=True)
                profiled = _new_group(backlog, "profiled")
                ensure_topics(profiled, project_topics(profiled))
                under = enforcement_throughput(profiled, total, "profiled", profile=dump)
                # The dump is written when the worker has exited (the context waited for it).
                results["worker_profile"] = {
                    "events_per_s_under_cprofile": under.events_per_s,
                    "dump": str(dump),
                    "top_tottime": worker_profile(dump) if dump.exists() else [],
                }
                _stamp(began, f"profiled worker: {under.events_per_s:,.0f} events/s")

            if not args.no_latency:
                loads = [(args.rate, args.duration)]
                if args.probe_rate > 0:
                    loads.insert(0, (args.probe_rate, args.probe_duration))
                results["latency"] = latency_under_load(
                    _fresh(settings, "latency"), loads, broker_pid
                )
                _stamp(began, "latency phase done")
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    results["elapsed_s"] = time.monotonic() - began
    return results


def _latency_rows(run_: dict[str, Any], target_ms: float) -> None:
    asked = run_["rate_asked_msgs_per_s"]
    print(f"  -- {asked:,.0f} msg/s for {run_['seconds']:.0f} s")
    _row(
        "offered, achieved",
        f"{run_['offered_msgs_per_s']:>10,.0f} msg/s ({run_['messages']} "
        f"msgs, {run_['entries_per_s']:,.0f} entries/s)",
    )
    _row("pacing: worst lag behind schedule", f"{run_['max_behind_schedule_ms']:>10.1f} ms")
    _row(
        "worker processed during the load",
        f"{run_['worker_processed_per_s']:>10,.0f} msg/s "
        f"({run_['behind_at_end_of_load']} behind at the end)",
    )
    cores = ", ".join(f"{k} {v:.2f}" for k, v in run_["cores_during_load"].items())
    _row("CPU cores used during the load", f"{'':>10} {cores}")
    _row(
        f"entries decided / missing after {run_['drain_s']:.0f} s drain",
        f"{run_['decided']:>10} / {run_['missing_after_drain']}",
    )
    for label, key in (
        ("send -> decision consumed", "arrival_latency_ms"),
        ("send -> decision record timestamp", "record_timestamp_latency_ms"),
    ):
        q = run_[key]
        if q:
            _row(
                f"{label} p50/p95/p99/max",
                f"{q['p50']:>10.0f} / {q['p95']:.0f} / {q['p99']:.0f} / {q['max']:.0f} ms",
            )
    verdict = "meets" if run_["meets_target"] else "MISSES"
    _row(f"target p99 < {target_ms:.0f} ms (all decided) at {asked:,.0f} msg/s", f"{verdict:>10}")


def report(r: dict[str, Any]) -> None:
    """The table of figures and ratios."""
    st, raw, enf, rep = r["stream"], r["raw"], r["enforcement"], r["in_process"]
    null = r["null_agent"]
    print(f"machine: {r['machine']}")
    print(
        f"stream: {st['messages']} messages ({st['heartbeats']} heartbeats), "
        f"{st['travellers']} travellers x {st['days']} days, seed {st['seed']}, "
        f"violations {st['violation_share']}, {st['partitions']} partitions"
    )
    print("THROUGHPUT (pre-published backlog, one worker)")
    _row("baseline: raw aiokafka consume + decode_event", f"{raw['aiokafka_per_s']:>10,.0f} msg/s")
    _row("raw kafka-python consume + decode_event", f"{raw['kafka_python_per_s']:>10,.0f} msg/s")
    _row(
        "Faust null agent (take_events, no tables, same topics)",
        f"{null['events_per_s']:>10,.0f} msg/s ({null['counted']} in {null['seconds']:.2f} s, "
        f"{null['worker_cores']:.2f} cores)",
    )
    _row("ratio Faust null agent / raw aiokafka", f"{null['ratio_vs_aiokafka']:>10.3f}")
    _row(
        "enforcement worker (/health/ processed, first->last)",
        f"{enf['events_per_s']:>10,.0f} events/s ({enf['counted']} in {enf['seconds']:.2f} s, "
        f"{enf['worker_cores']:.2f} cores)",
    )
    _row("ratio enforcement / Faust null agent", f"{enf['ratio_vs_null_agent']:>10.3f}")
    _row("ratio enforcement / raw aiokafka", f"{enf['ratio_vs_aiokafka']:>10.3f}")
    _row("ratio enforcement / raw kafka-python", f"{enf['ratio_vs_kafka_python']:>10.3f}")
    _row("worker start -> first message processed", f"{enf['startup_s']:>10.1f} s")
    _row(
        "decisions published / dead letters / group lag after",
        f"{enf['decisions_published']:>10} / {enf['health'].get('dead_lettered')} / "
        f"{enf['lag_after']}",
    )
    _row("Faust 'producer buffer full' warnings", f"{enf['producer_buffer_full_warnings']:>10}")
    logs = enf["changelogs"]
    _row(
        "changelog bytes per traveller event",
        f"{enf['changelog_bytes_per_traveller_event']:>10,.0f} B ({enf['traveller_events']} "
        f"events; records: travellers {logs.get('travellers_records')}, "
        f"clocks {logs.get('clocks_records')})",
    )
    _row(
        "state bytes per traveller (stored, mean / median)",
        f"{rep['state_bytes_per_traveller_mean']:>10,.0f} / "
        f"{rep['state_bytes_per_traveller_median']:,.0f} B ({rep['travellers_stored']} travellers)",
    )
    _row(
        "in process: Processor.process_batch, memory tables",
        f"{rep['events_per_s']:>10,.0f} events/s (one core, no Kafka/Faust; "
        f"{rep['table_writes_per_traveller_event']:.2f} table writes per traveller event)",
    )
    _row("ratio enforcement / in process", f"{rep['ratio_enforcement_vs_in_process']:>10.3f}")
    if enf["log_problems"]:
        _row("worker log lines with ERROR/Traceback", f"{len(enf['log_problems']):>10}")
    lat = r.get("latency")
    if lat is not None:
        print(
            f"LATENCY (fresh worker, caught up; paced entries + heartbeats; trigger = "
            f"{lat['trigger']})"
        )
        for run_ in lat["runs"]:
            _latency_rows(run_, lat["target_p99_ms"])
        _row("Faust 'producer buffer full' warnings", f"{lat['producer_buffer_full_warnings']:>10}")
        if lat["log_problems"]:
            _row("worker log lines with ERROR/Traceback", f"{len(lat['log_problems']):>10}")
    print("PROFILE: Processor.process_batch in process under cProfile, top by own time")
    for line in rep["profile_top_tottime"]:
        print(f"  {line}")
    prof = r.get("worker_profile")
    if prof is not None:
        print(
            "PROFILE: the worker process under cProfile "
            f"({prof['events_per_s_under_cprofile']:,.0f} events/s under the profiler; "
            f"dump {prof['dump']}), top by own time"
        )
        for line in prof["top_tottime"]:
            print(f"  {line}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table and write the JSON figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--travellers", type=int, default=3000)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rate", type=float, default=2000.0, help="offered messages/s")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of offered load")
    parser.add_argument("--bootstrap", default=None, help="use this broker instead of starting one")
    parser.add_argument(
        "--probe-rate",
        type=float,
        default=500.0,
        help="a lighter load offered first (0: none), msg/s",
    )
    parser.add_argument("--probe-duration", type=float, default=10.0)
    parser.add_argument("--no-latency", action="store_true", help="skip the latency phase")
    parser.add_argument(
        "--profile-worker",
        action="store_true",
        help="also run the backlog through a worker under cProfile",
    )
    parser.add_argument("--out", type=Path, default=OUT_DIR / "stream.json")
    args = parser.parse_args(argv)
    _terminate_on_sigterm()
    results = run(args)
    print()
    report(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nwritten {args.out} ({results['elapsed_s']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
