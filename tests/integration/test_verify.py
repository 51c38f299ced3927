"""``ledger verify`` against real stores (chDB and the server) that were tampered with.

A real sink stores events from a real broker with a real signing key; then each test copies the
database, tampers with the copy the way an insider with the writer's password could, and runs
``ledger verify`` as the investigator: it must exit 1 and name the row. The untouched copy must
verify. Everything runs in subprocesses (chDB binds one data directory per process).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from base.settings import PROJECT_ROOT, Settings
from infra.kafka_broker import ensure_kafka_security
from streams.trust.keys import init_key
from tests.integration.test_sink import (
    _StderrWatcher,
    catch_up,
    event_messages,
    ledger,
    ledger_env,
    make_events,
    produce,
    wait_until,
)

pytestmark = pytest.mark.integration

PARTITIONS = 2
CASES = {
    # operation: what ledger verify must print (kind, partition, offset)
    "payload-byte": "ALTERED {topic}[0]@5: column payload differs",
    "value-byte": "ALTERED {topic}[0]@6: the Kafka value does not hash",
    "delete-row": "DELETED {topic}[0]@7: leaves 7..7 are missing",
    "insert-row": "INSERTED {topic}[0]@8: a second row claims this offset",
    "swap-offsets": "REORDERED {topic}[0]@3: holds leaf 9 where leaf 3 belongs",
    "drop-partition": "DELETED {topic}[1]@0: checkpoint signed",
    "replace-signature": "CHECKPOINT {topic}[0]@",
}


def trust_settings(base: Settings, make_topic: Callable[..., str], tmp: Path) -> Settings:
    """Fresh topics, a fresh database and chDB dir, a fresh signing key, frequent checkpoints."""
    key = tmp / "keys" / "signing.pem"
    init_key(key)
    settings = base.with_overrides(
        topic_crossings=make_topic("crossings", PARTITIONS),
        topic_permits=make_topic("permits", PARTITIONS),
        topic_decisions=make_topic("decisions", PARTITIONS),
        topic_deadletter=make_topic("deadletter", PARTITIONS),
        topic_checkpoints=make_topic("checkpoints", 1),
        clickhouse_database=f"trust_{uuid.uuid4().hex[:10]}",
        # Its own sink group (safe since streams.sink_kafka.keep_joins_in_flight).
        app_id=f"trust-{uuid.uuid4().hex[:8]}",
        chdb_path=tmp / "chdb",
        signing_key=key,
        sink_batch_size=40,
        sink_flush_seconds=0.05,
        checkpoint_every=25,
    )
    ensure_kafka_security(settings)  # the sink's ACLs, checkpoints included, on these topics
    return settings


def run_python(
    settings: Settings, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` in the project with ``settings`` as its environment (output captured)."""
    return subprocess.run(
        [sys.executable, *args],
        env={**ledger_env(settings), **(env or {})},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def verify(settings: Settings, store: str, *options: str) -> subprocess.CompletedProcess[str]:
    return run_python(settings, "-m", "ledger", "verify", "--store", store, *options)


def tampered_copy(settings: Settings, store: str, operation: str) -> Settings:
    copy = settings.with_overrides(clickhouse_database=f"t_{uuid.uuid4().hex[:10]}")
    done = run_python(
        copy,
        "-m",
        "tests.integration.tamper",
        settings.clickhouse_database,
        operation,
        env={"LEDGER_STORE": store},
    )
    assert done.returncode == 0, done.stderr
    return copy


@pytest.mark.parametrize("store", ["chdb", "server"])
def test_verify_names_every_kind_of_tampering_and_passes_the_untouched_store(
    service_settings: Settings, make_topic: Callable[..., str], tmp_path: Path, store: str
) -> None:
    settings = trust_settings(service_settings, make_topic, tmp_path)
    produce(settings, event_messages(settings, make_events(400, f"v-{store}")))
    catch_up(settings, store)

    clean = verify(tampered_copy(settings, store, "none"), store)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "everything verifies" in clean.stdout
    assert " 0 unsigned" in clean.stdout and "checkpoints verified" in clean.stdout

    for operation, expected in CASES.items():
        result = verify(tampered_copy(settings, store, operation), store)
        wanted = expected.format(topic=settings.topic_crossings)
        assert result.returncode == 1, (operation, result.stdout, result.stderr)
        assert wanted in result.stdout, (operation, result.stdout)

    # The fast pass still catches a changed value (only derived columns are left unchecked).
    fast = verify(tampered_copy(settings, store, "value-byte"), store, "--hashes-only")
    assert (
        fast.returncode == 1
        and CASES["value-byte"].format(topic=settings.topic_crossings) in fast.stdout
    ), fast.stdout


def _stored_events(lines: list[str]) -> int:
    counts = [int(m.group(1)) for line in lines if (m := re.search(r"inserted events (\d+)", line))]
    return max(counts, default=0)


@pytest.mark.parametrize("store", ["chdb", "server"])
def test_a_sink_killed_between_storing_and_signing_resumes_a_log_that_verifies(
    service_settings: Settings, make_topic: Callable[..., str], tmp_path: Path, store: str
) -> None:
    settings = trust_settings(service_settings, make_topic, tmp_path)
    produce(settings, event_messages(settings, make_events(100, f"k1-{store}")))
    catch_up(settings, store)  # a signed prefix

    produce(settings, event_messages(settings, make_events(200, f"k2-{store}")))
    never_signs = settings.with_overrides(checkpoint_every=10**9, checkpoint_seconds=3600.0)
    sink = subprocess.Popen(
        ledger("sink", "--store", store, "-v"),
        env=ledger_env(never_signs),
        cwd=PROJECT_ROOT,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    watcher = _StderrWatcher(sink)
    try:
        wait_until(lambda: _stored_events(watcher.lines) >= 200, "the 200 new rows to be stored")
    finally:
        sink.send_signal(signal.SIGKILL)
        sink.wait(timeout=30)

    between = verify(settings, store)  # rows stored, not signed: the signed prefix still holds
    assert between.returncode == 0, between.stdout + between.stderr
    unsigned = sum(int(n) for n in re.findall(r"(\d+) unsigned", between.stdout))
    assert unsigned == 200, between.stdout

    catch_up(settings, store)  # nothing new to store: the restarted sink signs what it finds
    resumed = verify(settings, store)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert not re.search(r"[1-9]\d* unsigned", resumed.stdout), resumed.stdout

    produce(settings, event_messages(settings, make_events(50, f"k3-{store}")))
    catch_up(settings, store)
    after = verify(settings, store)
    assert after.returncode == 0, after.stdout + after.stderr
    leaves = sum(int(n) for n in re.findall(r"(\d+) leaves", after.stdout))
    assert leaves == 350 and " 0 unsigned" in after.stdout and "unsigned" in after.stdout, (
        after.stdout
    )
    assert not re.search(r"[1-9]\d* unsigned", after.stdout), after.stdout
