"""The ClickHouse sink against a real broker and real stores.

The acceptance test SIGKILLs ``ledger sink`` mid-run and restarts it until caught up; the store
must then hold every event exactly once. Each test makes its own four topics, and its own chDB
directory or server database. chDB allows one data directory per process and locks it against
other processes, so chDB checks go through ``ledger sql`` subprocesses after the sink exits.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

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
    PermitRevoked,
)
from infra.kafka_broker import ensure_kafka_security
from schemas.codec import DeadLetter, encode_dead_letter, encode_emission, encode_event, topic_for
from schemas.mapping import Coordinates
from streams.sink import Sink
from streams.store import open_store
from streams.store.rows import event_row, join_instant
from tests.samples import overstay_emission

pytestmark = pytest.mark.integration

PARTITIONS = 3


def make_events(n: int, seed: str) -> list[Event]:
    """``n`` events over three months (so inserts span several PARTITION BY parts)."""
    start = datetime(2025, 10, 20, tzinfo=UTC)
    events: list[Event] = []
    for i in range(n):
        at = start + timedelta(minutes=97 * i, milliseconds=i % 1000)
        eid = f"{seed}-{i}"
        if i % 50 == 0:
            events.append(GateHeartbeat(event_id=eid, occurred_at=at, port="CN-LUOHU"))
        elif i % 17 == 0:
            events.append(
                PermitRevoked(
                    event_id=eid, traveller_id=f"t{i % 40}", occurred_at=at, permit_id="p"
                )
            )
        else:
            events.append(
                CrossingRecorded(
                    event_id=eid,
                    traveller_id=f"t{i % 40}",
                    occurred_at=at,
                    port="HK-LO-WU",
                    direction=Direction.ENTRY if i % 2 else Direction.EXIT,
                    nationality="GBR",
                    document=Document.PASSPORT,
                    channel=Channel.COUNTER,
                    basis=Basis.VISITOR if i % 2 else None,
                )
            )
    return events


def produce(
    settings: Settings, messages: list[tuple[str, bytes | None, bytes]]
) -> list[Coordinates]:
    """Send (topic, key, value) messages, wait for every acknowledgement, return coordinates."""
    from kafka import KafkaProducer

    producer = KafkaProducer(  # raw records on all four topics: the operator's test client
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        linger_ms=5,
        **kafka_client_security(settings, "operator"),
    )
    try:
        futures = [producer.send(t, key=k, value=v) for t, k, v in messages]
        producer.flush(timeout=60)
        metas = [f.get(timeout=60) for f in futures]
    finally:
        producer.close()
    return [Coordinates(m.topic, m.partition, m.offset) for m in metas]


def event_messages(
    settings: Settings, events: list[Event]
) -> list[tuple[str, bytes | None, bytes]]:
    out: list[tuple[str, bytes | None, bytes]] = []
    for e in events:
        key = None if isinstance(e, GateHeartbeat) else e.traveller_id.encode()
        out.append((topic_for(e, settings), key, encode_event(e)))
    return out


@pytest.fixture
def topic_settings(
    service_settings: Settings, make_topic: Callable[..., str], tmp_path: Path
) -> Settings:
    """Service settings with fresh topics, a fresh server database and a fresh chDB dir."""
    settings = service_settings.with_overrides(
        topic_crossings=make_topic("crossings", PARTITIONS),
        topic_permits=make_topic("permits", PARTITIONS),
        topic_decisions=make_topic("decisions", PARTITIONS),
        topic_deadletter=make_topic("deadletter", PARTITIONS),
        clickhouse_database=f"sink_{uuid.uuid4().hex[:10]}",
        # Its own consumer groups: a sink another test killed stays a group member until its
        # session times out, and every join would wait on it.
        app_id=f"sink-{uuid.uuid4().hex[:8]}",
        chdb_path=tmp_path / "chdb",
        sink_batch_size=40,
        sink_flush_seconds=0.05,
    )
    ensure_kafka_security(settings)  # the sink's ACLs on these topics
    return settings


def ledger_env(settings: Settings) -> dict[str, str]:
    """The environment making ``ledger`` subprocesses use ``settings``."""
    env = dict(os.environ)
    for f in fields(Settings):
        value = getattr(settings, f.name)
        if value is not None:
            env[f"LEDGER_{f.name.upper()}"] = str(value)
    return env


def ledger(*args: str) -> list[str]:
    return [sys.executable, "-m", "ledger", *args]


def run_ledger(
    settings: Settings, *args: str, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """``ledger ARGS`` with ``settings``, its output captured (the caller checks the status).

    One that outlives ``timeout`` fails the test with its last output lines (pytest-timeout,
    were it first, would show only where the test waited, not what the command was doing).
    """
    try:
        return subprocess.run(
            ledger(*args),
            env=ledger_env(settings),
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        tail = "".join(err.splitlines(keepends=True)[-40:])
        pytest.fail(f"ledger {' '.join(args)} still running after {timeout:.0f}s:\n{tail}")


def ledger_sql(settings: Settings, sql: str, store: str) -> list[list[str]]:
    done = run_ledger(settings, "sql", sql, "--tsv", "--store", store, "--as", "investigator")
    assert done.returncode == 0, done.stderr
    return [line.split("\t") for line in done.stdout.splitlines()[1:]]


class _StderrWatcher:
    """Collects a subprocess's stderr lines in a thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert proc.stderr is not None
        self._stream = proc.stderr
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stream:
            self.lines.append(line)

    def flushes(self) -> int:
        return sum("sink: flushed" in line for line in self.lines)


SinkProcess = tuple[subprocess.Popen[str], _StderrWatcher]


@pytest.fixture
def sink_process(topic_settings: Settings) -> Iterator[Callable[[str], SinkProcess]]:
    """Starts ``ledger sink -v`` processes; their stderr is always read (a verbose sink whose pipe
    nobody drained blocked on its 64 KiB buffer and stored nothing); kills leftovers."""
    started: list[subprocess.Popen[str]] = []

    def _start(store: str) -> SinkProcess:
        proc = subprocess.Popen(
            ledger("sink", "--store", store, "-v"),
            env=ledger_env(topic_settings),
            cwd=PROJECT_ROOT,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        started.append(proc)
        return proc, _StderrWatcher(proc)

    yield _start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def catch_up(settings: Settings, store: str) -> str:
    # Below the test's own timeout (pytest-timeout, 300 s), so a stuck sink shows its output.
    done = run_ledger(settings, "sink", "--store", store, "--until-caught-up", timeout=200)
    assert done.returncode == 0, done.stderr
    return done.stderr


def wait_until(
    predicate: Callable[[], bool],
    what: str,
    timeout: float = 120.0,
    log: _StderrWatcher | None = None,
) -> None:
    """Poll ``predicate`` until true; fail after ``timeout`` s (with ``log``'s last lines)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            tail = "".join(log.lines[-30:]) if log is not None else ""
            pytest.fail(f"timed out waiting for {what}\n{tail}")
        time.sleep(0.02)


N = 3000
COUNT_SQL = "SELECT count(), uniqExact(event_id), countIf(type = 'GateHeartbeat') FROM events"


def test_sink_killed_mid_run_into_chdb_stores_every_event_exactly_once(
    topic_settings: Settings, sink_process: Callable[[str], SinkProcess]
) -> None:
    events = make_events(N, "chdb")
    produce(topic_settings, event_messages(topic_settings, events))
    proc, watcher = sink_process("chdb")
    wait_until(lambda: watcher.flushes() >= 3 or proc.poll() is not None, "the first flushes")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "".join(watcher.lines)
    partial = int(ledger_sql(topic_settings, "SELECT count() FROM events", "chdb")[0][0])
    assert 0 < partial < N, f"kill was not mid-run: {partial} of {N} stored"

    catch_up(topic_settings, "chdb")
    heartbeats = sum(isinstance(e, GateHeartbeat) for e in events)
    assert ledger_sql(topic_settings, COUNT_SQL, "chdb") == [[str(N), str(N), str(heartbeats)]]


def test_sink_killed_mid_run_into_server_stores_every_event_exactly_once(
    topic_settings: Settings, sink_process: Callable[[str], SinkProcess]
) -> None:
    events = make_events(N, "server")
    produce(topic_settings, event_messages(topic_settings, events))
    store = open_store(topic_settings, "writer", "server")
    store.migrate()

    def stored() -> int:
        return int(store.query("SELECT count() FROM events").rows[0][0])

    proc, watcher = sink_process("server")
    wait_until(lambda: stored() > 0 or proc.poll() is not None, "the first rows", log=watcher)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    partial = stored()
    assert 0 < partial < N, f"kill was not mid-run: {partial} of {N} stored"

    # Kill it again during the next run, then let a final run catch up.
    proc, watcher = sink_process("server")
    wait_until(lambda: stored() > partial or proc.poll() is not None, "more rows", log=watcher)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    catch_up(topic_settings, "server")

    result = store.query(COUNT_SQL).rows
    heartbeats = sum(isinstance(e, GateHeartbeat) for e in events)
    assert result == [(N, N, heartbeats)]
    assert store.query(
        "SELECT count() FROM (SELECT kafka_topic, kafka_partition, kafka_offset, count() AS c "
        "FROM events GROUP BY kafka_topic, kafka_partition, kafka_offset HAVING c > 1)"
    ).rows == [(0,)]
    store.close()


def test_garbage_is_counted_and_skipped_and_decisions_and_dead_letters_land(
    topic_settings: Settings,
) -> None:
    s = topic_settings
    events = make_events(200, "mixed")
    garbage = [b"", b"not avro at all", b"\xc3\x01" + b"\x00" * 8 + b"junk"]
    failed_at = datetime(2025, 11, 30, 23, 59, 59, 250000, tzinfo=UTC)
    letters = [
        DeadLetter(
            raw=raw,
            reason="cannot decode",
            source_topic=s.topic_crossings,
            source_partition=i,
            source_offset=100 + i,
            source_timestamp=None if i else failed_at,
            failed_at=failed_at,
        )
        for i, raw in enumerate(garbage)
    ]
    emission = overstay_emission("d-1", ("mixed-1", "mixed-3"))
    messages = event_messages(s, events[:100])
    messages += [(s.topic_crossings, None, g) for g in garbage]
    messages += event_messages(s, events[100:])
    messages += [(s.topic_deadletter, None, encode_dead_letter(d)) for d in letters]
    messages += [(s.topic_decisions, b"t1", encode_emission(emission))] * 2
    sent_from = datetime.now(UTC).replace(microsecond=0)
    produce(s, messages)
    sent_until = datetime.now(UTC)

    store = open_store(s, "writer", "server")
    sink = Sink(s, store)
    ends = sink.end_offsets()
    stats = sink.run(until=ends)

    assert sink.caught_up(ends)
    assert stats.undecodable == {s.topic_crossings: len(garbage)}
    assert store.query("SELECT count(), uniqExact(event_id) FROM events").rows == [(200, 200)]
    # The decisions table keeps the whole emission history, duplicates included.
    assert (
        store.query("SELECT decision_id, status, evidence FROM decisions").rows
        == [("d-1", "ISSUED", ["mixed-1", "mixed-3"])] * 2
    )
    # Each emission's knowledge time is its Kafka record timestamp (set when it was produced).
    emitted = store.query("SELECT emitted_at, emitted_at_ms, ingested_at FROM decisions").rows
    for second, ms, ingested in emitted:
        assert sent_from <= join_instant(second, ms) <= sent_until
        assert second <= ingested  # published before the sink stored it
    rows = store.query(
        "SELECT source_partition, raw_base64, source_timestamp, source_timestamp_ms "
        "FROM dead_letters ORDER BY source_partition"
    ).rows
    assert [base64.b64decode(r[1]) for r in rows] == garbage
    assert rows[0][2:] == (failed_at.replace(microsecond=0), 250)
    assert rows[1][2:] == (None, None)

    # A second run finds nothing new and stores nothing twice.
    again = Sink(s, store).run(until=ends)
    assert again.inserted == {"events": 0, "decisions": 0, "dead_letters": 0}
    assert store.query("SELECT count() FROM events").rows == [(200,)]
    store.close()


def test_resume_after_a_half_stored_batch_skips_exactly_the_rows_that_landed(
    topic_settings: Settings,
) -> None:
    """State after a crash mid-INSERT: some months' parts stored, no progress record written."""
    s = topic_settings
    events = make_events(300, "half")
    coordinates = produce(s, event_messages(s, events))
    store = open_store(s, "writer", "server")
    store.migrate()
    landed = [
        event_row(e, at, datetime.now(UTC))
        for e, at in zip(events, coordinates, strict=True)
        if e.occurred_at.month == 11  # one month's part of the batch made it
    ]
    store.insert_events(landed)
    assert store.committed_offsets() == {}

    sink = Sink(s, store)
    stats = sink.run(until=sink.end_offsets())

    assert stats.already_stored == len(landed) > 0
    assert stats.inserted["events"] == len(events) - len(landed)
    assert store.query("SELECT count(), uniqExact(event_id) FROM events").rows == [(300, 300)]
    store.close()
