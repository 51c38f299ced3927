"""Runtime configuration: one frozen settings object, built from the environment once.

Every variable is prefixed ``LEDGER_``; the defaults match what ``infra/`` starts, so a fresh
checkout needs no configuration. Tests build their own with ``Settings.from_env(env={...})``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Settings:
    """All knobs of the ledger. Field ``foo_bar`` is read from ``LEDGER_FOO_BAR``."""

    data_dir: Path = PROJECT_ROOT / "var"
    cache_dir: Path = PROJECT_ROOT / ".cache"
    # Kafka (infra starts a single KRaft broker on these loopback ports; a cluster's bootstrap
    # lists every broker, comma-separated, and ``ledger infra up kafka --nodes 3`` prints it).
    kafka_bootstrap: str = "127.0.0.1:19092"
    kafka_controller_port: int = 19093
    # Topic replication; 0 means "by the size of kafka_bootstrap": 3 and 2 when it lists several
    # brokers, 1 and 1 for a single broker (see the properties below).
    kafka_replication_factor: int = 0
    kafka_min_insync_replicas: int = 0
    partitions: int = 4
    # Kafka security: SASL/SCRAM per role (see base/credentials.py); SASL_SSL off loopback.
    kafka_security_protocol: str = "SASL_PLAINTEXT"
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    kafka_ssl_cafile: Path | None = None  # clients: the CA that signed the brokers' certificates
    kafka_ssl_keystore: Path | None = None  # brokers (SASL_SSL): PKCS12 keystore with their key
    kafka_ssl_keystore_password: str = ""
    kafka_user_prefix: str = "ledger-"
    kafka_gate_password: str = "gate-local-only"
    kafka_authority_password: str = "authority-local-only"
    kafka_worker_password: str = "worker-local-only"
    kafka_sink_password: str = "sink-local-only"
    kafka_enforcement_password: str = "enforcement-local-only"
    kafka_operator_password: str = "operator-local-only"
    kafka_broker_password: str = "broker-local-only"
    topic_crossings: str = "border.crossings.v1"
    topic_permits: str = "border.permits.v1"
    topic_decisions: str = "border.decisions.v1"
    topic_deadletter: str = "border.deadletter.v1"
    # Store: "chdb" (embedded, default) or "server" (clickhouse-server over the native protocol).
    store: str = "chdb"
    chdb_path: Path = PROJECT_ROOT / "var" / "chdb"
    clickhouse_host: str = "127.0.0.1"
    clickhouse_port: int = 19000
    clickhouse_http_port: int = 18123
    clickhouse_database: str = "ledger"
    # A cluster name from the servers' remote_servers: the DDL then runs ON CLUSTER with
    # Replicated*MergeTree tables behind Distributed ones (streams/store/cluster_ddl.py).
    clickhouse_cluster: str = ""
    zookeeper_port: int = 12181  # ZooKeeper of `ledger infra up clickhouse --nodes N`
    clickhouse_user: str = "ledger_writer"
    clickhouse_password: str = "writer-local-only"
    investigator_user: str = "investigator"
    investigator_password: str = "investigator-local-only"
    # Per-query limits of the investigator (chDB session and the server's profile alike).
    investigator_max_execution_seconds: int = 120
    investigator_max_rows_to_read: int = 2_000_000_000
    investigator_max_bytes_to_read: int = 200_000_000_000
    investigator_max_result_rows: int = 10_000_000
    supervisor_user: str = "supervisor"  # reads the investigators' query log (server)
    supervisor_password: str = "supervisor-local-only"
    # Streams.
    app_id: str = "border-ledger"
    worker_web_port: int = 16066
    allowed_lateness_seconds: int = 0
    processing_guarantee: str = "at_least_once"  # Faust's; "exactly_once" is not the default
    worker_batch_size: int = 500  # messages per batch: outputs are acked once per batch
    # Longest wait to fill a batch. Faust's take_events waits this long after every batch unless
    # worker_batch_size messages are already there, so at a steady rate it adds to every
    # decision's latency: at 2,000 entries/s 0.05 s gave p99 1.7 s (each batch waited 51 ms for
    # ~210 messages), 0.01 s gives p99 126 ms (make bench-stream, same day). A backlog fills
    # batches at once, so throughput does not depend on it.
    worker_batch_seconds: float = 0.01
    # Batches processed ahead of the durability of earlier ones (their states and clocks held in
    # memory until then; 1: one batch at a time, what a transaction always does). 4 was 21 %
    # faster at 2,000 entries/s in one pair of make bench-stream runs and a third slower on the
    # backlog in another window, so one batch at a time stays the default until that is understood.
    worker_inflight_batches: int = 1
    # Longest time the broker holds the worker's fetch for data, in place of Faust's fixed
    # 1,500 ms, which held busy partitions behind idle ones (streams.worker.transport).
    worker_fetch_max_wait_ms: int = 100
    worker_producer_buffer: int = 5000  # table writes Faust may hold before stalling the stream
    policy_file: Path | None = None
    # Edge validation (DOMAIN.md 2, streams.edge): instants outside [from, until) and gate events
    # more than the skew ahead of their Kafka record timestamp are dead letters.
    plausible_from: str = "2000-01-01T00:00:00Z"
    plausible_until: str = "2100-01-01T00:00:00Z"
    max_clock_skew_seconds: int = 300
    max_message_bytes: int = 1_000_000  # largest output the worker hands the broker
    worker_shutdown_seconds: float = 30.0  # a stopping worker exits within this, whatever hangs
    sink_batch_size: int = 5000
    sink_flush_seconds: float = 1.0
    # Trust (streams/trust): Merkle leaves beside every stored row, signed checkpoints.
    sink_merkle: int = 1  # 0 turns leaf hashing off (benchmarks only: nothing is then signed)
    signing_key: Path = Path.home() / ".config" / "border-ledger" / "checkpoint-ed25519.pem"
    checkpoint_every: int = 10000  # sign a log once it grew by this many leaves...
    checkpoint_seconds: float = 10.0  # ...or once its oldest unsigned leaf is this old
    topic_checkpoints: str = "border.checkpoints.v1"
    topic_erasures: str = "border.erasures.v1"
    retention_policy_file: Path | None = None  # default: streams/policy/retention.json

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``LEDGER_*`` variables (``os.environ`` unless ``env`` is given)."""
        source = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = source.get(f"LEDGER_{f.name.upper()}")
            if raw is None:
                continue
            values[f.name] = _coerce(f.name, str(f.type), raw)
        settings = cls(**values)
        if "chdb_path" not in values and "data_dir" in values:
            settings = replace(settings, chdb_path=settings.data_dir / "chdb")
        return settings

    @property
    def kafka_brokers(self) -> list[str]:
        """The ``host:port`` addresses listed in ``kafka_bootstrap``."""
        return [a.strip() for a in self.kafka_bootstrap.split(",") if a.strip()]

    @property
    def replication_factor(self) -> int:
        """Replication factor of every topic the ledger creates (changelogs included)."""
        if self.kafka_replication_factor > 0:
            return self.kafka_replication_factor
        return 3 if len(self.kafka_brokers) > 1 else 1

    @property
    def min_insync_replicas(self) -> int:
        """``min.insync.replicas`` of those topics: acks=all writes need this many replicas."""
        if self.kafka_min_insync_replicas > 0:
            return self.kafka_min_insync_replicas
        return 2 if len(self.kafka_brokers) > 1 else 1

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _coerce(name: str, type_name: str, raw: str) -> Any:
    try:
        if type_name.startswith("int"):
            return int(raw)
        if type_name.startswith("float"):
            return float(raw)
        if "Path" in type_name:
            return Path(raw) if raw else None
    except ValueError as e:
        raise ValueError(f"LEDGER_{name.upper()}={raw!r}: {e}") from e
    return raw
