"""Several sinks at once: the sink group shares the partitions, and nothing is stored twice.

Issue 12: two ``ledger sink`` processes on the ClickHouse server stored every row twice, silently,
and a second sink on chDB was refused with a cryptic message. The sinks are now members of one
consumer group (``{app_id}-sink``): each partition has one holder, which resumes it from the
coordinates stored in ClickHouse. On the server two sink processes run side by side while events
arrive, then one leaves and the other takes its partitions over; on chDB (one process per data
directory) two sinks run as threads of one process, and a second process is refused by name.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from base.credentials import kafka_client_security
from base.settings import PROJECT_ROOT, Settings
from domain.events import GateHeartbeat
from infra.kafka_broker import ensure_kafka_security
from streams.sink import Sink
from streams.sink_group import sink_group
from streams.store import open_store
from streams.store.base import Store
from tests.integration.test_sink import (
    COUNT_SQL,
    _StderrWatcher,
    event_messages,
    ledger,
    ledger_env,
    make_events,
    produce,
    run_ledger,
    topic_settings,
    wait_until,
)

pytestmark = pytest.mark.integration

__all__ = ["topic_settings"]  # a fixture, used by name

N = 1500
CLAIMED = re.compile(r"sink: rebalanced; revoked .*, claiming \[(.+)\]")
INSERTED = re.compile(r"ledger sink: consumed \d+; inserted events (\d+)")
DUPLICATES_SQL = (
    "SELECT count() FROM (SELECT kafka_topic, kafka_partition, kafka_offset, count() AS c "
    "FROM events GROUP BY kafka_topic, kafka_partition, kafka_offset HAVING c > 1)"
)


@pytest.fixture(name="group_settings")
def own_group(topic_settings: Settings) -> Settings:
    """The topics of ``topic_settings`` with an app id of its own (so a sink group of its own)."""
    settings = topic_settings.with_overrides(app_id=f"sinks-{uuid.uuid4().hex[:8]}")
    ensure_kafka_security(settings)  # the sink role's ACLs on this group
    return settings


@pytest.fixture(name="group_sink")
def group_sink_processes(
    group_settings: Settings,
) -> Iterator[Callable[[], tuple[subprocess.Popen[str], _StderrWatcher]]]:
    """Starts ``ledger sink --store server`` processes of ``group_settings``; kills leftovers."""
    started: list[subprocess.Popen[str]] = []

    def start() -> tuple[subprocess.Popen[str], _StderrWatcher]:
        proc = subprocess.Popen(
            ledger("sink", "--store", "server"),
            env=ledger_env(group_settings),
            cwd=PROJECT_ROOT,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        started.append(proc)
        return proc, _StderrWatcher(proc)

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def holds_partitions(watcher: _StderrWatcher) -> bool:
    return any(CLAIMED.search(line) for line in watcher.lines)


def stop(proc: subprocess.Popen[str], watcher: _StderrWatcher) -> int:
    """SIGTERM a sink (it flushes and leaves the group); the events it inserted."""
    proc.terminate()
    assert proc.wait(timeout=120) == 0, "".join(watcher.lines[-30:])
    found = [int(m.group(1)) for line in watcher.lines if (m := INSERTED.search(line))]
    assert found, "".join(watcher.lines[-30:])
    return found[-1]


def test_two_sink_processes_on_the_server_share_the_partitions_and_store_nothing_twice(
    group_settings: Settings,
    group_sink: Callable[[], tuple[subprocess.Popen[str], _StderrWatcher]],
) -> None:
    s = group_settings
    batches = [make_events(N, f"group-{i}") for i in range(3)]
    produce(s, event_messages(s, batches[0]))
    store = open_store(s, "writer", "server")
    store.migrate()

    def stored() -> int:
        return int(store.query("SELECT count() FROM events").rows[0][0])

    a, a_log = group_sink()
    wait_until(lambda: stored() > 0 or a.poll() is not None, "the first sink's rows", 300)
    b, b_log = group_sink()
    wait_until(lambda: holds_partitions(b_log) or b.poll() is not None, "the second's share", 300)
    produce(s, event_messages(s, batches[1]))  # while both run
    wait_until(lambda: stored() >= 2 * N or b.poll() is not None, "both batches stored", 300)
    inserted_by_a = stop(a, a_log)  # it leaves the group: its partitions move to the second
    produce(s, event_messages(s, batches[2]))
    wait_until(lambda: stored() >= 3 * N or b.poll() is not None, "the third batch stored", 300)
    inserted_by_b = stop(b, b_log)

    heartbeats = sum(isinstance(e, GateHeartbeat) for batch in batches for e in batch)
    assert store.query(COUNT_SQL).rows == [(3 * N, 3 * N, heartbeats)]
    assert store.query(DUPLICATES_SQL).rows == [(0,)]
    assert inserted_by_a > 0 and inserted_by_b > 0, (inserted_by_a, inserted_by_b)
    assert inserted_by_a + inserted_by_b == 3 * N
    store.close()


def test_two_sinks_on_chdb_share_the_partitions_and_a_second_process_is_refused_by_name(
    group_settings: Settings,
) -> None:
    s = group_settings
    events = make_events(2 * N, "chdb-group")
    produce(s, event_messages(s, events[:N]))
    stores: list[Store] = [open_store(s, "writer", "chdb") for _ in range(2)]
    stores[0].migrate()
    sinks = [Sink(s, store, client_id=f"sink-{i}") for i, store in enumerate(stores)]
    stop_all = threading.Event()
    runs = [threading.Thread(target=sink.run, args=(stop_all,)) for sink in sinks]
    try:
        for run in runs:
            run.start()

        def shared() -> bool:  # each holds some partitions, none held by both
            held = [set(sink.committed()) for sink in sinks]
            return all(held) and not held[0] & held[1]

        wait_until(shared, "the sinks sharing the partitions", 300)
        produce(s, event_messages(s, events[N:]))  # while both run

        def stored() -> int:
            return int(stores[0].query("SELECT count() FROM events").rows[0][0])

        wait_until(lambda: stored() >= 2 * N, "every event stored", 300)
        refused = run_ledger(s, "sink", "--store", "chdb", "--until-caught-up")
        assert refused.returncode != 0
        assert f"cannot open chDB at {s.chdb_path}: in use by another process" in refused.stderr
        heartbeats = sum(isinstance(e, GateHeartbeat) for e in events)
        assert stores[0].query(COUNT_SQL).rows == [(2 * N, 2 * N, heartbeats)]
        assert stores[0].query(DUPLICATES_SQL).rows == [(0,)]
    finally:
        stop_all.set()
        for run in runs:
            run.join(timeout=120)
        # chDB is one engine per process: left open, it refuses every later test's data dir.
        for store in stores:
            store.close()
    inserted = [sink.stats.inserted["events"] for sink in sinks]
    assert all(n > 0 for n in inserted) and sum(inserted) == 2 * N, inserted


def test_kafka_consumer_groups_shows_the_sink_group_and_its_lag(group_settings: Settings) -> None:
    """``ledger infra kafka-tool`` runs Kafka's own tool, logged in, against the project's broker:
    the sink's group, its committed offsets (the points stored in ClickHouse) and its lag."""
    s = group_settings
    coordinates = produce(s, event_messages(s, make_events(300, "tool")))
    store = open_store(s, "writer", "server")
    sink = Sink(s, store, client_id="tool-sink")
    sink.run(until=sink.end_offsets())
    stored = sink.committed()
    store.close()
    later = produce(s, event_messages(s, make_events(120, "tool-later")))  # not stored: the lag
    behind = Counter((c.topic, c.partition) for c in later)

    group = sink_group(s)
    done = run_ledger(
        s,
        "infra",
        "kafka-tool",
        "kafka-consumer-groups",
        "--describe",
        "--group",
        group,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    rows = {}
    for line in done.stdout.splitlines():
        fields = line.split()
        if fields and fields[0] == group:
            topic, partition, current, end, lag = fields[1:6]
            rows[(topic, int(partition))] = (int(current), int(end), int(lag))
    ends = Counter((c.topic, c.partition) for c in coordinates) + behind
    # Partitions the sink stored something of (it commits a point to the group with each flush).
    assert rows == {tp: (at, ends[tp], behind[tp]) for tp, at in stored.items() if at}, done.stdout
    assert sum(lag for _, _, lag in rows.values()) == len(later) > 0


def test_a_sink_run_until_caught_up_waits_for_the_partitions_it_does_not_hold(
    group_settings: Settings,
) -> None:
    """``--until-caught-up`` means the store holds everything, not only this sink's share.

    Session 20: a sink in a fresh group said "caught up" holding only the crossings partitions (a
    first assignment made before the metadata of all its topics), and the permits were never
    stored by it. Here a silent member of the group holds half the partitions and stores nothing:
    the sink must keep running past its own share, and finish once the member leaves and the
    rebalance hands it the rest.
    """
    from kafka import KafkaConsumer

    s = group_settings
    events = make_events(N, "squatted")
    produce(s, event_messages(s, events))
    store = open_store(s, "writer", "server")
    store.migrate()
    squatter = KafkaConsumer(
        bootstrap_servers=s.kafka_bootstrap,
        **kafka_client_security(s, "sink"),
        client_id="squatter",
        group_id=sink_group(s),
        enable_auto_commit=False,
        session_timeout_ms=10_000,
    )
    topics = [s.topic_crossings, s.topic_permits, s.topic_decisions, s.topic_deadletter]
    squatter.subscribe(topics)

    def keep_polling_until(predicate: Callable[[], bool], what: str) -> None:
        """The squatter polls (its heartbeat and every rebalance need it) until ``predicate``."""
        deadline = time.monotonic() + 240
        while not predicate():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            squatter.poll(timeout_ms=100)

    keep_polling_until(lambda: bool(squatter.assignment()), "the squatter's partitions")
    sink = Sink(s, store, client_id="patient-sink")
    ends = sink.end_offsets()
    finished = threading.Event()

    def run() -> None:
        sink.run(until=ends)
        finished.set()

    runner = threading.Thread(target=run)
    try:
        runner.start()

        def own_share_stored() -> bool:  # the sink holds some partitions, each at its end
            held = sink.committed()
            return bool(held) and all(held[tp] >= end for tp, end in ends.items() if tp in held)

        keep_polling_until(own_share_stored, "the sink's own share stored")
        assert set(ends) - set(sink.committed()), "the squatter holds partitions with events"
        past = time.monotonic() + 2  # two seconds past its own share: the sink is not done
        keep_polling_until(lambda: time.monotonic() > past, "two seconds")
        assert not finished.is_set()
        squatter.close()  # leaves the group: its partitions move to the sink
        runner.join(timeout=240)
        assert finished.is_set()
        assert sink.caught_up(ends)
        heartbeats = sum(isinstance(e, GateHeartbeat) for e in events)
        assert store.query(COUNT_SQL).rows == [(N, N, heartbeats)]
        assert store.query(DUPLICATES_SQL).rows == [(0,)]
    finally:
        squatter.close()
        runner.join(timeout=120)
        store.close()
