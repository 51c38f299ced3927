"""Helpers shared by the worker integration and end-to-end tests: run the worker as a real
subprocess against the session broker, with per-test topics and consumer group, publish a stream
as gates do, wait until the worker group has settled, and read its decisions back."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from base.credentials import KafkaRole, kafka_client_security
from base.settings import PROJECT_ROOT, Settings
from domain.decisions import Decision, Emission, fold_emissions
from domain.engine import Engine
from domain.events import Event
from domain.policy import Policy
from infra.kafka_broker import ensure_kafka_security
from infra.process import free_port
from ledger import worker_process
from ledger.worker_process import worker_lag
from producers.gates import publish_events
from producers.roles import GatesAndAuthorities
from schemas.codec import decode_emission
from streams.ops import LagUnavailableError, PartitionLag, consumer_lag
from streams.ops import records_to_end as read_to_end
from streams.worker.coverage import OffsetCoverage


def isolated_settings(base: Settings, make_topic: Callable[..., str], data_dir: Path) -> Settings:
    """Settings with four fresh topics, a fresh app id, its own data dir and a free web port."""
    partitions = base.partitions
    settings = base.with_overrides(
        topic_crossings=make_topic("crossings", partitions),
        topic_permits=make_topic("permits", partitions),
        topic_decisions=make_topic("decisions", partitions),
        topic_deadletter=make_topic("deadletter", partitions),
        app_id=f"test-ledger-{uuid.uuid4().hex[:8]}",
        data_dir=data_dir,
        chdb_path=data_dir / "chdb",
        worker_web_port=free_port("127.0.0.1"),
    )
    ensure_kafka_security(settings)  # every role's ACLs on these topics and this app id
    return settings


# A SIGKILLed member holds its partitions until its session times out (Faust's default: 60 s);
# tests that kill workers shorten it so the group reassigns within seconds.
FAST_FAILOVER = {"BROKER_SESSION_TIMEOUT": "10", "BROKER_HEARTBEAT_INTERVAL": "1"}


def another_worker(settings: Settings) -> Settings:
    """The same worker group on a new web port, hence its own (empty) RocksDB directory."""
    return settings.with_overrides(worker_web_port=free_port("127.0.0.1"))


@contextmanager
def running_worker(
    settings: Settings, log_path: Path, faust_env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """``ledger worker`` as a subprocess; terminated (then killed) on exit.

    ``faust_env`` adds Faust's own environment settings (e.g. ``BROKER_SESSION_TIMEOUT``).
    """
    with worker_process.running_worker(
        settings, log_path, extra_env=faust_env, cwd=PROJECT_ROOT
    ) as proc:
        yield proc


def wait_until_worker_consumed(
    settings: Settings, proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 120.0
) -> None:
    """Poll the worker group's lag on the input topics until it is zero (or fail loudly)."""
    deadline = time.monotonic() + timeout
    lag = -1
    while time.monotonic() < deadline:
        lag = worker_lag(settings, proc, log_path)
        if lag == 0:
            return
        time.sleep(0.5)
    raise AssertionError(
        f"worker still {lag} behind after {timeout}s:\n{log_path.read_text()[-4000:]}"
    )


def log_tail(log_path: Path, chars: int = 4000) -> str:
    """The end of a worker log, for assertion messages."""
    try:
        return log_path.read_text(errors="replace")[-chars:]
    except OSError as e:
        return f"(no log at {log_path}: {e})"


def logs_tail(workers: Sequence[tuple[subprocess.Popen[bytes], Path]], chars: int = 3000) -> str:
    """Log tails of several workers, each under its path."""
    return "\n".join(f"--- {log} ---\n{log_tail(log, chars)}" for _, log in workers)


def publish_stream(settings: Settings, events: Iterable[Event], client_id: str = "tests") -> None:
    """Publish as gates and authorities do (heartbeats to every partition); all acknowledged."""
    publisher = GatesAndAuthorities(settings, client_id=client_id)
    publish_events(events, publisher)
    publisher.close()


def offline_decisions(
    policy: Policy, events: Iterable[Event], as_of: datetime | None = None
) -> tuple[Engine, dict[str, Decision]]:
    """``ledger check --as-of``: the offline engine over ``events`` in order, folded."""
    engine = Engine(policy)
    emissions: list[Emission] = []
    for event in events:
        emissions.extend(engine.process(event))
    if as_of is not None:
        emissions.extend(engine.advance_to(as_of))
    return engine, fold_emissions(emissions)


def worker_health(settings: Settings, timeout: float = 5.0) -> dict[str, Any] | None:
    """The worker's ``GET /health/`` JSON, or None while it does not answer."""
    return http_json(settings, "/health/", timeout)


def http_json(settings: Settings, path: str, timeout: float = 5.0) -> dict[str, Any] | None:
    """GET ``path`` on the worker's web port as JSON; None if it does not answer (yet)."""
    url = f"http://127.0.0.1:{settings.worker_web_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body: dict[str, Any] = json.loads(response.read())
            return body
    except (OSError, ValueError):
        return None


def topic_end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    """End offset of every partition of ``topic``."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="tests-ends",
        **kafka_client_security(settings, "operator"),  # any topic
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return {tp.partition: int(end) for tp, end in consumer.end_offsets(partitions).items()}
    finally:
        consumer.close()


def records_to_end(
    settings: Settings,
    topics: Iterable[str],
    role: KafkaRole = "operator",  # any topic
    *,
    isolation: str = "read_committed",
    timeout: float = 60.0,
) -> Iterator[tuple[TopicPartition, Any]]:
    """Every record of ``topics`` from the beginning to the end offsets now (as polled)."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="tests-reader",
        **kafka_client_security(settings, role),
        enable_auto_commit=False,
        isolation_level=isolation,
    )
    try:
        tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        yield from read_to_end(consumer, tps, timeout)
    finally:
        consumer.close()


def record_ranges(settings: Settings, topics: Iterable[str]) -> dict[str, list[list[int]]]:
    """Offsets of the committed records of ``topics``, as merged ``[start, end)`` ranges per
    ``topic[partition]`` (the shape of the worker's ``processed_offsets``), read up to the end
    offsets now. A partition's offsets are not all records when a producer wrote in transactions:
    each transaction leaves a commit marker, an offset no consumer is handed."""
    coverage = OffsetCoverage()
    for tp, record in records_to_end(settings, topics):
        coverage.add(tp.topic, tp.partition, record.offset)
    return coverage.as_json()


def read_emissions(settings: Settings, timeout: float = 60.0) -> list[Emission]:
    """Every emission on the decisions topic, up to its end offsets now, in partition order."""
    by_partition: dict[int, list[Emission]] = defaultdict(list)
    topics = [settings.topic_decisions]
    reader = records_to_end(
        settings, topics, "enforcement", isolation="read_uncommitted", timeout=timeout
    )
    for tp, record in reader:
        by_partition[tp.partition].append(decode_emission(record.value))
    return [em for p in sorted(by_partition) for em in by_partition[p]]


def wait_until_settled(
    settings: Settings,
    workers: Sequence[tuple[subprocess.Popen[bytes], Path]],
    timeout: float = 120.0,
    quiet_for: float = 3.0,
) -> None:
    """Wait until the group has committed every input message and the decisions stopped growing.

    Every worker in ``workers`` must stay alive meanwhile; failures carry the log tails.
    """
    deadline = time.monotonic() + timeout
    topics = (settings.topic_crossings, settings.topic_permits)
    lag = -1
    lags: list[PartitionLag] = []
    ends: dict[int, int] | None = None
    stable_since = time.monotonic()
    while time.monotonic() < deadline:
        for proc, log in workers:
            if proc.poll() is not None:
                raise AssertionError(
                    f"worker {log} exited with status {proc.returncode}:\n{logs_tail(workers)}"
                )
        try:
            lags = consumer_lag(settings, settings.app_id, topics)
            lag = sum(p.lag for p in lags)
        except LagUnavailableError as e:
            if not e.retriable:
                raise
            lag, lags = -1, []
        now_ends = topic_end_offsets(settings, settings.topic_decisions)
        if lag != 0 or now_ends != ends:
            ends, stable_since = now_ends, time.monotonic()
        elif time.monotonic() - stable_since >= quiet_for:
            return
        time.sleep(0.5)
    behind = [(p.topic, p.partition, p.committed, p.end) for p in lags if p.lag]
    raise AssertionError(
        f"worker group still {lag} behind (or decisions still growing) after {timeout}s; "
        f"(topic, partition, committed, end) behind: {behind}; "
        f"/health/ on {settings.worker_web_port}: {worker_health(settings)}\n" + logs_tail(workers)
    )
