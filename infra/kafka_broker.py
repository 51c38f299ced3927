"""A single-node KRaft Kafka broker as a plain local process.

The official Apache Kafka jars are fetched once with Maven (``infra/kafka/pom.xml``) into
``settings.cache_dir``; the broker's storage, config, pid file and logs live under
``settings.data_dir / "kafka"``. The broker is both controller and broker, listens on the loopback
address of ``settings.kafka_bootstrap`` (controller on ``settings.kafka_controller_port``), and is
tuned for one node: replication factor 1 everywhere, transactions enabled (Faust's exactly-once
mode needs them) and no topic auto-creation, so :func:`ensure_topics` creates the project's topics.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from base.credentials import KafkaRole, kafka_client_security
from base.settings import Settings
from infra import process
from infra.errors import InfraError
from infra.kafka_security import (
    broker_security_properties,
    client_listener,
    ensure_security,
    scram_format_arguments,
)
from infra.maven import fetch_jars
from infra.service import LocalService

KAFKA_VERSION = "4.1.1"  # keep in step with <kafka.version> in infra/kafka/pom.xml
KAFKA_DIR = Path(__file__).resolve().parent / "kafka"
POM = KAFKA_DIR / "pom.xml"
LOG4J_CONFIG = KAFKA_DIR / "log4j2.xml"
HEAP = "-Xmx512m"


def project_topics(settings: Settings) -> list[str]:
    """The topics the ledger reads and writes, in a stable order."""
    return [
        settings.topic_crossings,
        settings.topic_permits,
        settings.topic_decisions,
        settings.topic_deadletter,
        settings.topic_checkpoints,
        settings.topic_erasures,
    ]


def long_term_topics(settings: Settings) -> set[str]:
    """Topics kept forever (``retention.ms=-1``): the raw input log and the trust records.

    The store decides what is deleted (``ledger retention``), never Kafka's 7-day default.
    """
    return {
        settings.topic_crossings,
        settings.topic_permits,
        settings.topic_checkpoints,
        settings.topic_erasures,
    }


def kafka_libs(settings: Settings) -> Path:
    """Directory holding the Kafka runtime jars (fetched by :func:`ensure_kafka_jars`)."""
    return settings.cache_dir / f"kafka-{KAFKA_VERSION}" / "libs"


def ensure_kafka_jars(settings: Settings) -> Path:
    """Fetch the Kafka jars with Maven unless a complete copy is cached; return the libs dir."""
    # The tools' jar too: a copy fetched before they were added to the pom is fetched again.
    expected = ("kafka_2.13-*.jar", "kafka-tools-[0-9]*.jar")
    return fetch_jars(POM, kafka_libs(settings), expected, f"kafka {KAFKA_VERSION}")


def java_executable() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise InfraError("java is not on PATH (Java 17 is needed for Kafka); run infra/setup.sh")
    return java


@dataclass(frozen=True)
class KafkaBroker(LocalService):
    """The project's local broker for one ``Settings``: start, wait, stop, inspect."""

    label: ClassVar[str] = "Kafka broker"
    dirname: ClassVar[str] = "kafka"
    config_name: ClassVar[str] = "server.properties"
    log_names: ClassVar[tuple[str, ...]] = ("stdout.log", "server.log")
    heap: ClassVar[str] = HEAP

    @property
    def storage_dir(self) -> Path:
        return self.home / "storage"

    @property
    def bootstrap(self) -> str:
        return self.settings.kafka_bootstrap

    @property
    def host(self) -> str:
        return process.split_host_port(self.bootstrap)[0]

    @property
    def port(self) -> int:
        return process.split_host_port(self.bootstrap)[1]

    def server_properties(self) -> dict[str, str]:
        """The broker configuration written to ``server.properties``."""
        s = self.settings
        controller = f"{self.host}:{s.kafka_controller_port}"
        listener = client_listener(s)
        return {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": controller,
            "listeners": f"{listener}://{self.bootstrap},CONTROLLER://{controller}",
            "advertised.listeners": f"{listener}://{self.bootstrap}",
            "controller.listener.names": "CONTROLLER",
            **broker_security_properties(s),
            "log.dirs": str(self.storage_dir),
            "num.partitions": str(s.partitions),
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "auto.create.topics.enable": "false",
            "group.initial.rebalance.delay.ms": "0",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": str(max(s.partitions, 1)),
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": str(max(s.partitions, 1)),
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "num.network.threads": "2",
            "num.io.threads": "4",
            "log.retention.hours": "168",
        }

    def start(self, timeout: float = 120.0) -> bool:
        """Start the broker (or reuse ours if it already runs) and wait until it answers.

        Returns True if this call started a process, False if a live broker was reused.
        Raises :class:`InfraError`, with the tail of the broker log, if it never answers.
        """
        if not self.launch():
            self.wait_ready(timeout)
            ensure_kafka_security(self.settings, update_passwords=True)
            return False
        self.wait_ready(timeout)
        ensure_kafka_security(self.settings)
        return True

    def launch(self) -> bool:
        """Spawn the broker without waiting for it (a cluster node waits for its quorum).

        Returns False if our broker process already runs.
        """
        if self.pid() is not None:
            return False
        self._refuse_foreign_port()
        libs = ensure_kafka_jars(self.settings)
        self.home.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        self._format_storage(libs)
        process.spawn(
            [*self._java_cmd(libs), "kafka.Kafka", str(self.config_file)],
            log_file=self.logs_dir / "stdout.log",
            pid_file=self.pid_file,
            cwd=self.home,
            with_parent=self.with_parent,
        )
        return True

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Block until the broker answers a metadata request, or raise :class:`InfraError`."""
        wait_for_kafka(
            self.bootstrap,
            timeout,
            alive=self.pid,
            log_tail=self.log_tail,
            security=kafka_client_security(self.settings, "operator"),
        )

    def _java_cmd(self, libs: Path) -> list[str]:
        return [
            java_executable(),
            self.heap,
            "-Xms128m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            f"-Dkafka.logs.dir={self.logs_dir}",
            "-cp",
            f"{libs}/*",
        ]

    def _write_config(self) -> None:
        lines = [f"{key}={value}" for key, value in self.server_properties().items()]
        process.write_private(  # it holds the broker's password
            self.config_file,
            "# Generated by infra/kafka_broker.py from the ledger settings; edits are lost.\n"
            + "\n".join(lines)
            + "\n",
        )

    def _quorum_format_arguments(self) -> list[str]:
        """The storage tool's quorum arguments: a single broker is its own quorum, of a new id."""
        cluster_id = "-"
        while cluster_id.startswith("-"):  # the storage tool would read "-..." as an option
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        return ["--standalone", "-t", cluster_id]

    def _format_storage(self, libs: Path) -> None:
        if (self.storage_dir / "meta.properties").exists():
            return
        cmd = [
            *self._java_cmd(libs),
            "kafka.tools.StorageTool",
            "format",
            *self._quorum_format_arguments(),
            "-c",
            str(self.config_file),
            *scram_format_arguments(self.settings),
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=self.home)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()[-4000:]
            raise InfraError(f"formatting KRaft storage in {self.storage_dir} failed:\n{output}")


def wait_for_kafka(
    bootstrap: str,
    timeout: float,
    *,
    alive: Callable[[], object] | None = None,
    log_tail: Callable[[], str] | None = None,
    security: Mapping[str, Any] | None = None,
) -> None:
    """Wait until a broker at ``bootstrap`` answers a metadata request.

    ``alive`` (a callable returning a falsy value once the process died) makes the wait fail
    fast; ``log_tail`` (a callable returning text) is appended to the error message;
    ``security`` holds the client's SASL options (see ``base.credentials``).
    """
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout
    last_error = "no attempt made"
    while True:
        if alive is not None and not alive():
            tail = f"\n{log_tail()}" if log_tail is not None else ""
            raise InfraError(f"Kafka broker at {bootstrap} exited during startup{tail}")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        if process.port_open(*process.split_host_port(bootstrap)):
            try:
                admin = KafkaAdminClient(
                    bootstrap_servers=bootstrap,
                    client_id="ledger-infra-probe",
                    bootstrap_timeout_ms=int(min(5.0, max(remaining, 0.5)) * 1000),
                    request_timeout_ms=5000,
                    **(security or {}),
                )
                try:
                    admin.describe_cluster()
                    return
                finally:
                    admin.close()
            except KafkaError as e:
                last_error = f"{type(e).__name__}: {e}"
        else:
            last_error = "port not open"
        time.sleep(0.5)
    tail = f"\n{log_tail()}" if log_tail is not None else ""
    raise InfraError(
        f"Kafka broker at {bootstrap} did not answer within {timeout:.0f}s ({last_error}){tail}"
    )


def ensure_topics(
    settings: Settings,
    topics: Iterable[str] | None = None,
    *,
    partitions: int | None = None,
    configs: dict[str, str] | None = None,
    role: KafkaRole = "operator",
) -> list[str]:
    """Create ``topics`` (default: the project's) if missing; return the names created.

    Every topic gets ``partitions`` (default ``settings.partitions``) partitions, the settings'
    replication factor and ``min.insync.replicas`` (3 and 2 on a cluster, 1 and 1 on one broker).
    Existing topics are left as they are, so calling this twice is harmless. ``role`` is whose
    credentials create them: the operator's, or the worker's for its own changelogs.
    """
    from kafka.errors import KafkaError

    wanted = list(project_topics(settings) if topics is None else topics)
    count = settings.partitions if partitions is None else partitions
    try:
        admin = admin_client(settings, "ledger-infra-topics", role)
    except KafkaError as e:
        raise InfraError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {e}") from e
    try:
        existing = set(admin.list_topics())
        missing = [t for t in wanted if t not in existing]
        if missing:
            isr = {"min.insync.replicas": str(settings.min_insync_replicas)}
            spec = {
                t: {
                    "num_partitions": count,
                    "replication_factor": settings.replication_factor,
                    "configs": {
                        **isr,
                        **({"retention.ms": "-1"} if t in long_term_topics(settings) else {}),
                        **(configs or {}),
                    },
                }
                for t in missing
            }
            response = admin.create_topics(spec, timeout_ms=30000, raise_errors=False)
            _check_created(response)
            admin.wait_for_topics(missing, timeout_ms=30000)
    except KafkaError as e:
        raise InfraError(f"creating topics {wanted} on {settings.kafka_bootstrap}: {e}") from e
    finally:
        admin.close()
    return missing


def admin_client(settings: Settings, client_id: str, role: KafkaRole = "operator") -> Any:
    """A kafka-python ``KafkaAdminClient`` logged in as ``role`` (may raise KafkaError)."""
    from kafka.admin import KafkaAdminClient

    return KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=client_id,
        bootstrap_timeout_ms=10000,
        **kafka_client_security(settings, role),
    )


def ensure_kafka_security(settings: Settings, *, update_passwords: bool = False) -> None:
    """Create every role's SCRAM user (or update all, see ``ensure_security``) and the ACLs for
    ``settings``; idempotent."""
    from kafka.errors import KafkaError

    try:
        admin = admin_client(settings, "ledger-infra-security")
    except KafkaError as e:
        raise InfraError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {e}") from e
    try:
        ensure_security(settings, admin, update_passwords=update_passwords)
    finally:
        admin.close()


def _check_created(response: dict[str, Any]) -> None:
    """Raise unless every topic in a CreateTopics response was created or already existed."""
    from kafka.errors import TopicAlreadyExistsError, for_code

    failures = [
        f"{t.get('name')}: {for_code(t['error_code']).__name__} {t.get('error_message') or ''}"
        for t in response.get("topics", [])
        if t.get("error_code", 0) not in (0, TopicAlreadyExistsError.errno)
    ]
    if failures:
        raise InfraError("topic creation failed: " + "; ".join(failures))
