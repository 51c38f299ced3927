"""``ledger verify`` against real stores (chDB and the server) that were tampered with.

A real sink stores events from a real broker with a real signing key; then each test copies the
database, tampers with the copy the way an insider with the writer's password could, and runs
``ledger verify`` as the investigator: it must exit 1 and name the row. The untouched copy must
verify. Everything runs in subprocesses (chDB binds one data directory per process).
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from streams.settings import PROJECT_ROOT, Settings
from streams.trust.keys import init_key
from tests.integration.test_sink import (
    catch_up,
    event_messages,
    ledger,
    ledger_env,
    make_events,
    produce,
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
    return base.with_overrides(
        topic_crossings=make_topic("crossings", PARTITIONS),
        topic_permits=make_topic("permits", PARTITIONS),
        topic_decisions=make_topic("decisions", PARTITIONS),
        topic_deadletter=make_topic("deadletter", PARTITIONS),
        topic_checkpoints=make_topic("checkpoints", 1),
        clickhouse_database=f"trust_{uuid.uuid4().hex[:10]}",
        chdb_path=tmp / "chdb",
        signing_key=key,
        sink_batch_size=40,
        sink_flush_seconds=0.05,
        checkpoint_every=25,
    )


def verify(settings: Settings, store: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ledger("verify", "--store", store),
        env=ledger_env(settings),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def tampered_copy(settings: Settings, store: str, operation: str) -> Settings:
    copy = settings.with_overrides(clickhouse_database=f"t_{uuid.uuid4().hex[:10]}")
    done = subprocess.run(
        [*ledger()[:2], "tests.integration.tamper", settings.clickhouse_database, operation],
        env={**ledger_env(copy), "LEDGER_STORE": store},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
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
