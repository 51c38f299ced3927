"""``ledger lag`` through the real broker: per-partition lag of the worker group, exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from base.credentials import kafka_client_security
from base.settings import PROJECT_ROOT, Settings
from ledger.worker_process import settings_env
from tests.pipeline import isolated_settings

pytestmark = pytest.mark.integration


def _lag(settings: Settings) -> tuple[int, dict[str, object]]:
    env = dict(os.environ)
    env.update(settings_env(settings))
    done = subprocess.run(
        [sys.executable, "-m", "ledger", "lag", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    doc: dict[str, object] = json.loads(done.stdout)
    return done.returncode, doc


def test_lag_is_reported_per_partition_until_the_group_commits(
    kafka_settings: Settings, make_topic: Callable[..., str], tmp_path: Path
) -> None:
    settings = isolated_settings(kafka_settings.with_overrides(partitions=2), make_topic, tmp_path)
    producer = KafkaProducer(  # raw bytes on both inputs: the operator's test client
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        **kafka_client_security(settings, "operator"),
    )
    for i in range(5):
        producer.send(settings.topic_crossings, value=b"x", partition=i % 2).get(30)
    producer.send(settings.topic_permits, value=b"y", partition=1).get(30)
    producer.close()

    status, doc = _lag(settings)
    assert status == 1
    assert doc["group"] == settings.app_id and doc["total_lag"] == 6
    rows = {(p["topic"], p["partition"]): p for p in doc["partitions"]}  # type: ignore[attr-defined]
    assert rows[settings.topic_crossings, 0]["lag"] == 3
    assert rows[settings.topic_crossings, 1]["lag"] == 2
    assert rows[settings.topic_permits, 0]["lag"] == 0
    assert rows[settings.topic_permits, 1]["lag"] == 1
    assert rows[settings.topic_crossings, 0]["committed"] is None

    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        **kafka_client_security(settings, "worker"),  # commits as the worker group does
        group_id=settings.app_id,
        enable_auto_commit=False,
    )
    try:
        offsets = {
            TopicPartition(settings.topic_crossings, 0): OffsetAndMetadata(3, "", -1),
            TopicPartition(settings.topic_crossings, 1): OffsetAndMetadata(2, "", -1),
            TopicPartition(settings.topic_permits, 1): OffsetAndMetadata(1, "", -1),
        }
        consumer.commit(offsets)
    finally:
        consumer.close()
    status, doc = _lag(settings)
    assert (status, doc["total_lag"]) == (0, 0)
