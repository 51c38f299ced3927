"""Standard Kafka clients write the input topics (issue 12): every compression codec, and
transactions committed and aborted by a real transactional producer (kafka-python 3.x, a client
the ledger does not own). The worker decides committed data once and aborted data never, the
sink stores the same on both backends, and `ledger sink --until-caught-up` and `ledger lag`
finish although the partitions end in transaction markers."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaProducer

from base.credentials import kafka_client_security
from base.settings import PROJECT_ROOT, Settings
from domain.decisions import Code
from ledger.worker_process import settings_env
from schemas.codec import encode_event
from streams.sink import Sink
from streams.store import open_store
from tests.integration.transactions import write_transaction
from tests.pipeline import (
    isolated_settings,
    read_emissions,
    running_worker,
    wait_until_worker_consumed,
)
from tests.samples import hk_visitor_entry

pytestmark = pytest.mark.integration

T0 = datetime(2025, 12, 1, 8, 0, tzinfo=UTC)
CODECS = ("gzip", "snappy", "lz4", "zstd")


def entry(traveller: str, minute: int) -> tuple[bytes, bytes]:
    event = hk_visitor_entry(traveller, T0 + timedelta(minutes=minute), event_id=f"e-{traveller}")
    return traveller.encode(), encode_event(event)


def transaction(settings: Settings, travellers: list[str], *, commit: bool) -> None:
    records = [(settings.topic_crossings, *entry(t, i), None) for i, t in enumerate(travellers)]
    write_transaction(
        settings, records, commit=commit, client="third-party", compression_type="zstd"
    )


def ledger(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ledger", *args],
        env={**os.environ, **settings_env(settings)},
        cwd=PROJECT_ROOT,
        timeout=300,
        capture_output=True,
        text=True,
        check=False,
    )


def test_every_codec_and_transactions_are_read_like_a_java_client_would(
    service_settings: Settings, make_topic: Callable[..., str], tmp_path: Path
) -> None:
    settings = isolated_settings(
        service_settings.with_overrides(partitions=2), make_topic, tmp_path
    ).with_overrides(clickhouse_database=f"clients_{uuid.uuid4().hex[:10]}")
    committed: list[str] = []
    for codec in CODECS:
        producer = KafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap,
            compression_type=codec,
            linger_ms=20,
            **kafka_client_security(settings, "gate"),
        )
        travellers = [f"{codec}-{i}" for i in range(25)]
        for i, traveller in enumerate(travellers):
            key, value = entry(traveller, i)
            producer.send(settings.topic_crossings, key=key, value=value)
        producer.flush()
        producer.close()
        committed += travellers
    aborted = [f"aborted-{i}" for i in range(20)]
    kept = [f"committed-{i}" for i in range(20)]
    transaction(settings, kept[:10], commit=True)
    transaction(settings, aborted, commit=False)
    transaction(settings, kept[10:], commit=True)  # every partition now ends in a marker
    committed += kept

    log = tmp_path / "worker.log"
    with running_worker(settings, log) as proc:
        wait_until_worker_consumed(settings, proc, log)  # lag 0 despite the markers
        lag = ledger(settings, "lag")
        assert proc.poll() is None
    assert lag.returncode == 0, lag.stdout + lag.stderr

    opened = [
        em.decision.traveller_id
        for em in read_emissions(settings)
        if em.decision.code is Code.STAY_OPENED
    ]
    assert sorted(opened) == sorted(committed)  # each once, none aborted

    store = open_store(settings, "writer", "server")
    sink = Sink(settings, store)
    ends = sink.end_offsets()
    sink.run(until=ends)
    assert sink.caught_up(ends)
    stored = store.query("SELECT traveller_id FROM events ORDER BY traveller_id").rows
    assert [r[0] for r in stored] == sorted(committed)
    store.close()

    done = ledger(settings, "sink", "--store", "chdb", "--until-caught-up")
    assert done.returncode == 0, done.stderr
    counted = ledger(
        settings,
        "sql",
        "--store",
        "chdb",
        "--tsv",
        "SELECT count(), uniqExact(traveller_id), countIf(startsWith(traveller_id, 'aborted')) "
        "FROM events",
    )
    assert counted.returncode == 0, counted.stderr
    assert counted.stdout.splitlines()[-1].split("\t") == [str(len(committed))] * 2 + ["0"]
