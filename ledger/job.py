"""The main job behind ``ledger run``: one simulated day through the whole pipeline.

It starts from a clean slate in ``settings.data_dir`` (a Kafka broker and an embedded chDB store
owned by the job), publishes a seeded day of gate and authority traffic plus a few deliberately
malformed messages, runs the Faust enforcement worker as a subprocess and the ClickHouse sink in
this process (chDB allows one engine per process), waits until the worker has consumed every input
(its decisions are acknowledged before its offsets are committed, so all are published by then)
and the store holds every event and decision, and prints an audit summary computed by SQL.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TextIO

from base.credentials import kafka_client_security
from base.errors import LedgerError
from base.settings import Settings
from ledger.worker_process import start_worker, stop_process, worker_lag

if TYPE_CHECKING:
    from producers.sim_config import SimulationConfig


class JobError(LedgerError):
    """The main job could not complete a stage."""


@dataclass(frozen=True, slots=True)
class JobOptions:
    traffic: SimulationConfig  # the simulated day(s) the job publishes
    malformed: int = 3
    keep_services: bool = False
    timeout_seconds: float = 600.0


class Progress:
    """Stage lines with elapsed time, to stderr."""

    def __init__(self, out: TextIO = sys.stderr) -> None:
        self._out = out
        self._t0 = time.monotonic()

    def __call__(self, message: str) -> None:
        print(f"[{time.monotonic() - self._t0:6.1f}s] {message}", file=self._out, flush=True)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._t0


def run_job(settings: Settings, options: JobOptions, out: TextIO = sys.stdout) -> int:
    """Run the whole job; returns the process exit status."""
    from infra.kafka_broker import KafkaBroker, ensure_topics
    from streams.store.opening import open_store

    settings = replace(settings, store="chdb")
    progress = Progress()
    # The job owns its broker: without --keep-services it dies with the job, even a killed one.
    broker = KafkaBroker(settings, with_parent=not options.keep_services)
    _reset(settings, broker, progress)
    progress(f"starting Kafka on {settings.kafka_bootstrap} (jars, KRaft format, broker)")
    broker.start()
    ensure_topics(settings)
    worker: subprocess.Popen[bytes] | None = None
    try:
        progress(f"opening the chDB store in {settings.chdb_path}")
        with open_store(settings) as store:
            store.migrate()
            worker = _start_worker(settings, progress)
            published = _publish_day(settings, options, progress)
            _wait_for_worker(settings, worker, options.timeout_seconds, progress)
            _ensure_signing_key(settings, progress)
            _sink_until_caught_up(settings, store, options.timeout_seconds, progress)
            progress(f"done in {progress.elapsed:.1f}s; {published} messages published")
            print_summary(store, out)
            print_lag(settings, out)
            print_verification(store, settings, out)
    finally:
        if worker is not None:
            _stop_worker(worker, progress)
        if not options.keep_services:
            progress("stopping Kafka (use --keep-services to leave it running)")
            broker.stop()
    return 0


def _reset(settings: Settings, broker: Any, progress: Progress) -> None:
    if broker.is_running():
        progress("stopping the Kafka broker left from a previous run")
        broker.stop()
    for path in (settings.data_dir / "kafka", settings.chdb_path, settings.data_dir / "faust"):
        if path.exists():
            shutil.rmtree(path)
    progress(f"clean slate in {settings.data_dir}")


def _start_worker(settings: Settings, progress: Progress) -> subprocess.Popen[bytes]:
    log_path = settings.data_dir / "worker.log"
    progress(f"starting the Faust worker (log: {log_path})")
    return start_worker(settings, log_path)


def _publish_day(settings: Settings, options: JobOptions, progress: Progress) -> int:
    from producers.roles import GatesAndAuthorities
    from producers.simulator import simulate

    config = options.traffic
    simulation = simulate(config)
    events = simulation.events
    progress(
        f"simulated {len(events)} events for {config.travellers} travellers "
        f"({len(simulation.violations)} with an injected violation); publishing"
    )
    publisher = GatesAndAuthorities(settings, client_id="ledger-run")
    started = time.monotonic()
    step = max(1, len(events) // 5)
    for i, event in enumerate(events, 1):
        publisher.publish(event)
        if i % step == 0:
            progress(f"  published {i}/{len(events)}")
    publisher.close()  # raises UndeliveredEventsError, listing them, if anything was not acked
    rate = len(events) / max(time.monotonic() - started, 1e-9)
    progress(f"published {len(events)} events ({rate:,.0f} events/s)")
    bad = publish_malformed(settings, options.malformed)
    if bad:
        progress(f"published {bad} malformed messages (they must reach the dead-letter topic)")
    return len(events) + bad


def malformed_messages() -> list[bytes]:
    """Garbage, a truncated Avro message, and a well-framed record that breaks the contract.

    The third is a CrossingRecorded ENTRY without a basis: valid Avro (basis is optional in the
    schema because exits have none) but rejected by the event validator.
    """
    from datetime import UTC, datetime

    from schemas.codec import current_schema, encode_with_writer

    entry_without_basis = {
        "event_id": "malformed-entry-without-basis",
        "traveller_id": "malformed-traveller",
        "occurred_at": datetime(2025, 12, 1, 12, 0, tzinfo=UTC),
        "port": "HK-LO-WU",
        "direction": "ENTRY",
        "nationality": "CHN",
        "document": "EEP",
        "channel": "COUNTER",
    }
    framed = encode_with_writer(current_schema("CrossingRecorded"), entry_without_basis)
    return [b"\x00not avro at all", framed[:12], framed]


def publish_malformed(settings: Settings, count: int) -> int:
    from kafka import KafkaProducer

    messages = malformed_messages()[:count]
    if not messages:
        return 0
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        **kafka_client_security(settings, "gate"),  # as a broken gate would send them
    )
    try:
        for raw in messages:
            producer.send(settings.topic_crossings, key=b"malformed-traveller", value=raw)
        producer.flush(timeout=30)
    finally:
        producer.close()
    return len(messages)


def _wait_for_worker(
    settings: Settings, worker: subprocess.Popen[bytes], timeout: float, progress: Progress
) -> None:
    log_path = settings.data_dir / "worker.log"
    _wait(lambda: worker_lag(settings, worker, log_path), timeout, progress, "the worker")


def _wait(lag: Callable[[], int], timeout: float, progress: Progress, who: str) -> None:
    deadline = time.monotonic() + timeout
    last = -1
    while True:
        remaining = lag()
        if remaining == 0:
            progress(f"{who} has caught up")
            return
        if remaining != last and remaining > 0:
            progress(f"  waiting for {who}: {remaining} messages behind")
            last = remaining
        if time.monotonic() > deadline:
            raise JobError(f"{who} did not catch up within {timeout:.0f}s ({remaining} behind)")
        time.sleep(1.0)


def _sink_until_caught_up(
    settings: Settings, store: Any, timeout: float, progress: Progress
) -> None:
    from streams.sink import Sink

    sink = Sink(settings, store, client_id="ledger-run-sink")
    until = sink.end_offsets()
    stop = threading.Event()
    timer = threading.Timer(timeout, stop.set)
    timer.start()
    try:
        progress(f"sinking {sum(until.values())} messages into ClickHouse (chDB)")
        stats = sink.run(stop=stop, until=until)
    finally:
        timer.cancel()
    if not sink.caught_up(until):
        raise JobError(f"the sink did not catch up within {timeout:.0f}s: {stats.summary()}")
    progress(f"the store has caught up: {stats.summary()}")


def _stop_worker(worker: subprocess.Popen[bytes], progress: Progress) -> None:
    if worker.poll() is None:
        progress("stopping the worker")
        stop_process(worker, grace_seconds=30)


SUMMARY_QUERIES: tuple[tuple[str, str], ...] = (
    (
        "Crossings per port and direction (top 20)",
        "SELECT port, direction, uniqExact(event_id) AS crossings, "
        "uniqExact(traveller_id) AS travellers "
        "FROM events WHERE type = 'CrossingRecorded' "
        "GROUP BY port, direction ORDER BY crossings DESC, port, direction LIMIT 20",
    ),
    (
        "Events by type",
        "SELECT type, count() AS messages, uniqExact(event_id) AS distinct_events "
        "FROM events GROUP BY type ORDER BY messages DESC, type",
    ),
    (
        "Decisions by code (in force = latest emission per decision_id is ISSUED)",
        "SELECT code, any(severity) AS severity, countIf(last = 'ISSUED') AS in_force, "
        "sum(issued) AS issued, sum(retracted) AS retracted "
        "FROM (SELECT decision_id, any(code) AS code, any(severity) AS severity, "
        "argMax(status, kafka_offset) AS last, countIf(status = 'ISSUED') AS issued, "
        "countIf(status = 'RETRACTED') AS retracted FROM decisions GROUP BY decision_id) "
        "GROUP BY code ORDER BY in_force DESC, code",
    ),
    (
        "Dead letters",
        "SELECT source_topic, source_partition, source_offset, reason "
        "FROM dead_letters ORDER BY source_topic, source_partition, source_offset",
    ),
)


def print_summary(store: Any, out: TextIO) -> None:
    """The audit summary: each query's title, SQL result as an aligned table."""
    for title, sql in SUMMARY_QUERIES:
        result = store.query(sql)
        print(f"\n== {title}", file=out)
        print(format_table(result.columns, result.rows), file=out)


def _ensure_signing_key(settings: Settings, progress: Progress) -> None:
    from streams.trust.keys import ensure_key, public_key_path

    _, created = ensure_key(settings.signing_key)
    if created:
        progress(
            f"created the checkpoint signing key {settings.signing_key} "
            f"(public key: {public_key_path(settings.signing_key.expanduser())})"
        )


def print_verification(store: Any, settings: Settings, out: TextIO) -> None:
    """``ledger verify``'s answer for the store just filled (see docs/trust.md)."""
    from streams.trust.keys import Verifier, public_key_path
    from streams.trust.verify import report_lines, verify_all

    verifier = Verifier.load(public_key_path(settings.signing_key.expanduser()))
    reports = verify_all(store, settings, verifier, lambda _: None)
    failed = sum(bool(r.findings) for r in reports)
    print("\n== Merkle logs against their signed checkpoints (ledger verify)", file=out)
    for line in report_lines(reports):
        print(line, file=out)
    print("everything verifies" if not failed else f"{failed} logs FAILED verification", file=out)


def print_lag(settings: Settings, out: TextIO) -> None:
    """The worker group's lag per input partition (what ``ledger lag`` prints)."""
    from streams.ops import consumer_lag

    lags = consumer_lag(
        settings, settings.app_id, (settings.topic_crossings, settings.topic_permits)
    )
    print("\n== Worker consumer lag per partition (ledger lag)", file=out)
    print(lag_table(lags), file=out)


def lag_table(lags: Sequence[Any]) -> str:
    """Per-partition lag (:class:`streams.ops.PartitionLag`) as a text table."""
    rows = [
        (p.topic, p.partition, "-" if p.committed is None else p.committed, p.end, p.lag)
        for p in lags
    ]
    return format_table(("topic", "partition", "committed", "end", "lag"), rows)


def format_table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned text table; ``(no rows)`` when empty."""
    from streams.store.text import PLAIN, render_table

    if not rows:
        return "(no rows)"
    return render_table([str(c) for c in columns], [[str(v) for v in row] for row in rows], PLAIN)
