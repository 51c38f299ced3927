"""Helpers of the cluster tests: per-test topics on the cluster, partition leaders, replicas,
the sink as a subprocess, and a publisher thread that reports how far it got."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kafka.admin import KafkaAdminClient

from base.credentials import kafka_client_security
from base.settings import PROJECT_ROOT, Settings
from domain.events import Event
from infra.kafka_broker import ensure_kafka_security, ensure_topics, project_topics
from infra.process import free_port
from ledger.worker_process import settings_env
from streams.store import open_store
from streams.worker.app import changelog_topics
from tests.pipeline import publish_stream, topic_end_offsets


def cluster_settings(base: Settings, data_dir: Path, partitions: int) -> Settings:
    """Four fresh topics on ``base``'s brokers, a fresh app id, data dir and web port."""
    tag = uuid.uuid4().hex[:10]
    settings = base.with_overrides(
        partitions=partitions,
        topic_crossings=f"crossings.{tag}",
        topic_permits=f"permits.{tag}",
        topic_decisions=f"decisions.{tag}",
        topic_deadletter=f"deadletter.{tag}",
        app_id=f"cluster-ledger-{tag}",
        clickhouse_database=f"cluster_{tag}",
        data_dir=data_dir,
        chdb_path=data_dir / "chdb",
        worker_web_port=free_port("127.0.0.1"),
    )
    ensure_topics(settings)
    ensure_kafka_security(settings)
    return settings


def describe_partitions(settings: Settings, topics: Sequence[str]) -> dict[tuple[str, int], Any]:
    """Metadata of every partition of ``topics``: leader, replicas and in-sync replicas."""
    admin = KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="tests-meta",
        **kafka_client_security(settings, "operator"),
    )
    try:
        described = admin.describe_topics(list(topics))
    finally:
        admin.close()
    return {(t["name"], p["partition_index"]): p for t in described for p in t["partitions"]}


def replication_of(settings: Settings, topics: Sequence[str]) -> set[int]:
    """The distinct replica counts of the partitions of ``topics``."""
    return {len(p["replica_nodes"]) for p in describe_partitions(settings, topics).values()}


def leader_of(settings: Settings, topic: str, partition: int) -> int:
    """Node id of the current leader of ``topic``/``partition``."""
    return int(describe_partitions(settings, [topic])[topic, partition]["leader_id"])


def all_topics(settings: Settings) -> list[str]:
    """The project's topics and the worker's changelogs."""
    return [*project_topics(settings), *changelog_topics(settings)]


@contextmanager
def running_sink(settings: Settings, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``ledger sink --store server`` as a subprocess until the block ends (then SIGTERM)."""
    env = dict(os.environ)
    env.update(settings_env(settings))
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ledger", "sink", "--store", "server"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=PROJECT_ROOT,
        )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_until_sink_stored(
    settings: Settings, proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 120.0
) -> None:
    """Poll the store's committed offsets until every partition of every topic is stored."""
    ends = {
        (topic, p): end
        for topic in project_topics(settings)
        for p, end in topic_end_offsets(settings, topic).items()
    }
    deadline = time.monotonic() + timeout
    committed: dict[tuple[str, int], int] = {}
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the sink exited ({proc.returncode}):\n{_tail(log_path)}")
        with open_store(settings) as store:
            committed = store.committed_offsets()
        if all(committed.get(tp, 0) >= end for tp, end in ends.items()):
            return
        time.sleep(1.0)
    behind = {tp: (committed.get(tp), end) for tp, end in ends.items() if committed.get(tp) != end}
    raise AssertionError(f"sink behind after {timeout}s: {behind}\n{_tail(log_path)}")


def _tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else f"(no {path})"


class Trickle:
    """Publishes ``events`` in chunks from a background thread; ``chunks_done`` counts the
    chunks whose every message the brokers acknowledged (acks=all)."""

    def __init__(self, settings: Settings, events: Sequence[Event], chunks: int, pause: float):
        self.settings = settings
        size = max(1, -(-len(events) // chunks))
        self.chunks = [events[i : i + size] for i in range(0, len(events), size)]
        self.pause = pause
        self.chunks_done = 0
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="trickle", daemon=True)

    def _run(self) -> None:
        try:
            for chunk in self.chunks:
                publish_stream(self.settings, chunk, client_id="tests-cluster-gates")
                self.chunks_done += 1
                time.sleep(self.pause)
        except BaseException as e:  # reported by the test thread in join()
            self.failure = e

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the publisher hung"
        if self.failure is not None:
            raise self.failure
