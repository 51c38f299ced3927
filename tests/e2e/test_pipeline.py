"""End to end: gate publisher -> Kafka -> Faust worker -> ClickHouse sink -> audit SQL.

One test runs the README's main command (``ledger run``) as a user would, on its own broker and
chDB store; the other drives the same path piece by piece into the ClickHouse server. Ground truth
comes from the simulator's own event list, never from the store under test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from base.settings import PROJECT_ROOT, Settings
from domain.events import Event, GateHeartbeat
from infra.process import free_port
from ledger.job import publish_malformed
from ledger.worker_process import settings_env
from producers.roles import GatesAndAuthorities
from producers.simulator import SimulationConfig, simulate
from streams.sink import Sink
from streams.store import open_store
from tests.pipeline import isolated_settings, running_worker, wait_until_worker_consumed

pytestmark = pytest.mark.e2e

DAY = date(2025, 12, 1)


def published_messages(events: tuple[Event, ...], partitions: int) -> int:
    """Messages the publishers send for ``events``: one per heartbeat and crossings partition."""
    beats = sum(isinstance(e, GateHeartbeat) for e in events)
    return len(events) - beats + beats * partitions


def published_ids(events: tuple[Event, ...], partitions: int) -> int:
    """Distinct event ids among them (each heartbeat copy has its own: ``<id>.p<partition>``)."""
    beats = {e.event_id for e in events if isinstance(e, GateHeartbeat)}
    return len({e.event_id for e in events} - beats) + len(beats) * partitions


def _ledger(
    args: list[str], env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ledger", *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_main_command_runs_a_simulated_day_into_chdb(tmp_path: Path) -> None:
    env = dict(os.environ)
    env.update(
        {
            "LEDGER_DATA_DIR": str(tmp_path / "var"),
            "LEDGER_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port('127.0.0.1')}",
            "LEDGER_KAFKA_CONTROLLER_PORT": str(free_port("127.0.0.1")),
            # not the default 16066: another worker (a parallel run, `make run`) may hold it
            "LEDGER_WORKER_WEB_PORT": str(free_port("127.0.0.1")),
            "LEDGER_SIGNING_KEY": str(tmp_path / "keys" / "checkpoints.pem"),
        }
    )
    # Heartbeats reach every crossings partition: one every 5 minutes per partition keeps the
    # input as large as when they went to one partition.
    travellers, seed, beat_every = 150, 11, 5 * Settings.from_env(env).partitions
    run = _ledger(
        [
            "run",
            *("--travellers", str(travellers), "--seed", str(seed), "--start", DAY.isoformat()),
            *("--heartbeat-minutes", str(beat_every)),
        ],
        env,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    assert "the store has caught up" in run.stderr
    assert "== Crossings per port and direction" in run.stdout
    assert "InvalidEventError: basis: required on ENTRY" in run.stdout
    assert run.stdout.count("DecodeError") == 2
    assert "created the checkpoint signing key" in run.stderr
    assert "== Merkle logs against their signed checkpoints" in run.stdout
    assert run.stdout.rstrip().endswith("everything verifies"), run.stdout[-2000:]

    events = simulate(
        SimulationConfig(
            start=DAY,
            travellers=travellers,
            seed=seed,
            violation_share=0.05,
            heartbeat_minutes=beat_every,
        )
    ).events
    sql = _ledger(
        ["sql", "--tsv", "SELECT count(), uniqExact(event_id) FROM events"], env, timeout=120
    )
    assert sql.returncode == 0, sql.stderr
    header, values = sql.stdout.strip().splitlines()
    assert header.split("\t") == ["count()", "uniqExact(event_id)"]
    messages, distinct = map(int, values.split("\t"))
    partitions = Settings.from_env(env).partitions
    assert messages == published_messages(events, partitions)
    assert distinct == published_ids(events, partitions)
    dead = _ledger(["sql", "--tsv", "SELECT count() FROM dead_letters"], env, timeout=120)
    assert dead.stdout.split() == ["count()", "3"]
    verified = _ledger(["verify"], env, timeout=300)
    assert verified.returncode == 0 and "everything verifies" in verified.stdout, verified.stdout


def test_a_simulated_day_flows_from_gates_to_the_clickhouse_server(
    service_settings: Settings, make_topic: Callable[..., str], tmp_path: Path
) -> None:
    settings = isolated_settings(service_settings, make_topic, tmp_path).with_overrides(
        clickhouse_database=f"e2e_{uuid.uuid4().hex[:8]}"
    )
    # Each heartbeat reaches every crossings partition: one every 5 minutes per partition keeps
    # the input as large as when heartbeats went to one partition (about 12,500 messages).
    beat_every = 5 * settings.partitions
    events = simulate(
        SimulationConfig(
            start=DAY, travellers=120, seed=5, violation_share=0.1, heartbeat_minutes=beat_every
        )
    ).events
    log = tmp_path / "worker.log"
    with running_worker(settings, log) as worker:
        publisher = GatesAndAuthorities(settings, client_id="e2e")
        for event in events:
            publisher.publish(event)
        publisher.close()
        assert publish_malformed(settings, 3) == 3
        wait_until_worker_consumed(settings, worker, log)

    with open_store(settings) as store:
        sink = Sink(settings, store, client_id="e2e-sink")
        stats = sink.run(until=sink.end_offsets())
        assert sink.caught_up(sink.end_offsets()), stats.summary()
        rows = store.query("SELECT count(), uniqExact(event_id) FROM events").rows
        published = published_messages(events, settings.partitions)
        assert rows == [(published, published_ids(events, settings.partitions))]
        crossings = store.query("SELECT count() FROM events WHERE type = 'CrossingRecorded'").rows[
            0
        ][0]
        assert crossings == sum(1 for e in events if type(e).__name__ == "CrossingRecorded")
        dead = store.query(
            "SELECT source_topic, reason FROM dead_letters ORDER BY source_offset"
        ).rows
    assert [topic for topic, _ in dead] == [settings.topic_crossings] * 3
    assert [reason.split(":")[0] for _, reason in dead] == [
        "DecodeError",
        "DecodeError",
        "InvalidEventError",
    ]
    # The investigator sees everything and changes nothing.
    with open_store(settings, role="investigator") as investigator:
        seen = investigator.query("SELECT count() FROM dead_letters").rows[0][0]
    assert seen == 3
    assert settings_env(settings)["LEDGER_CLICKHOUSE_DATABASE"] == settings.clickhouse_database
