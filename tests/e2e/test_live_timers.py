"""Deadlines fire on a live stream that carries nothing but gate heartbeats.

With the direct-transit limit cut to one hour (a test policy file given to the worker through
``LEDGER_POLICY_FILE``), an airside arrival stamped one hour minus 15 seconds ago has its deadline
15 seconds ahead by the wall clock. After it only GateHeartbeats follow, stamped with the wall
clock every 2 seconds on every partition, as gates send them. The partition's event-time clock
passes the deadline and SUSPECTED_OVERSTAY must appear on the decisions topic within 60 seconds
of the deadline, and never before it.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from base.credentials import kafka_client_security
from base.settings import Settings
from domain.decisions import Code, Emission, Status
from domain.events import Basis, Channel, CrossingRecorded, Direction, Document
from producers.publisher import EventPublisher
from schemas.codec import decode_emission
from tests.pipeline import isolated_settings, log_tail, running_worker, worker_health

pytestmark = pytest.mark.e2e

LIMIT = timedelta(hours=1)
LEAD = timedelta(seconds=15)  # the deadline is this far ahead when the arrival is published
HEARTBEAT_EVERY = 2.0
MAX_DELAY = 60.0
PARTITIONS = 4


def one_hour_direct_transit_policy(path: Path) -> Path:
    """The packaged policy with DIRECT-TRANSIT-24H cut to one hour."""
    policy = json.loads(resources.files("streams").joinpath("policy/default.json").read_text())
    policy["version"] += "-test-1h-transit"
    rules = [r for r in policy["rules"] if r["id"] == "DIRECT-TRANSIT-24H"]
    assert len(rules) == 1, "the default policy has one direct-transit rule"
    rules[0]["hours"] = LIMIT // timedelta(hours=1)
    path.write_text(json.dumps(policy, indent=1))
    return path


def test_a_stay_passing_its_deadline_on_heartbeats_alone_is_suspected_within_a_minute(
    kafka_settings: Settings, make_topic: Callable[..., str], tmp_path: Path
) -> None:
    settings = isolated_settings(
        kafka_settings.with_overrides(partitions=PARTITIONS), make_topic, tmp_path
    ).with_overrides(policy_file=one_hour_direct_transit_policy(tmp_path / "policy.json"))
    log = tmp_path / "worker.log"
    with running_worker(settings, log) as proc:
        _wait_for_partitions(settings, proc, log)
        consumer = _decisions_consumer(settings)
        publisher = EventPublisher(settings, client_id="tests-live-gates")
        try:
            now = datetime.now(UTC).replace(microsecond=0)
            arrived = now - LIMIT + LEAD
            deadline = arrived + LIMIT
            publisher.publish(
                CrossingRecorded(
                    event_id="live-arrival",
                    traveller_id="T-LIVE",
                    occurred_at=arrived,
                    port="PVG",
                    direction=Direction.AIRSIDE_ARRIVAL,
                    nationality="DEU",
                    document=Document.PASSPORT,
                    channel=Channel.COUNTER,
                    basis=Basis.DIRECT_TRANSIT,
                    arrived_from="USA",
                    onward_to="JPN",
                )
            )
            assert publisher.flush(30), publisher.report()
            suspected, received_at = _heartbeat_until_suspected(
                publisher, consumer, deadline, proc, log
            )
        finally:
            consumer.close()
            publisher.close()

    delay = (received_at - deadline).total_seconds()
    print(f"SUSPECTED_OVERSTAY received {delay:.2f}s after the deadline {deadline.isoformat()}")
    assert suspected.decision.deadline == deadline
    assert suspected.decision.traveller_id == "T-LIVE"
    assert 0 < delay < MAX_DELAY, f"delay {delay:.2f}s\n{log_tail(log)}"


def _wait_for_partitions(settings: Settings, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until the worker owns every partition (it is then consuming)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        _assert_alive(proc, log)
        health = worker_health(settings)
        if health is not None and len(health["partitions"]) == PARTITIONS:
            return
        time.sleep(0.2)
    raise AssertionError(f"the worker never took its partitions\n{log_tail(log)}")


def _decisions_consumer(settings: Settings) -> KafkaConsumer:
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        **kafka_client_security(settings, "enforcement"),
        client_id="tests-live-decisions",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    topic = settings.topic_decisions
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    return consumer


def _heartbeat_until_suspected(
    publisher: EventPublisher,
    consumer: KafkaConsumer,
    deadline: datetime,
    proc: subprocess.Popen[bytes],
    log: Path,
) -> tuple[Emission, datetime]:
    """Heartbeat every partition with the wall clock until SUSPECTED_OVERSTAY arrives."""
    give_up = deadline + timedelta(seconds=MAX_DELAY + 30)
    next_beat = 0.0
    seen: list[Emission] = []
    while datetime.now(UTC) < give_up:
        _assert_alive(proc, log)
        if time.monotonic() >= next_beat:
            publisher.send_heartbeats("PVG", datetime.now(UTC))
            publisher.flush(5)
            next_beat = time.monotonic() + HEARTBEAT_EVERY
        for records in consumer.poll(timeout_ms=200).values():
            for record in records:
                emission = decode_emission(record.value)
                seen.append(emission)
                if (
                    emission.status is Status.ISSUED
                    and emission.decision.code is Code.SUSPECTED_OVERSTAY
                ):
                    return emission, datetime.now(UTC)
    raise AssertionError(
        f"no SUSPECTED_OVERSTAY by {give_up.isoformat()} (deadline {deadline.isoformat()}); "
        f"emissions seen: {[(e.status.value, e.decision.code.value) for e in seen]}\n"
        f"{log_tail(log)}"
    )


def _assert_alive(proc: subprocess.Popen[bytes], log: Path) -> None:
    if proc.poll() is not None:
        raise AssertionError(f"the worker exited with status {proc.returncode}\n{log_tail(log)}")
