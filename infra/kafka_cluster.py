"""A KRaft Kafka cluster of combined broker/controller nodes, each a plain local process.

``ledger infra up kafka --nodes 3`` starts three nodes on loopback. Node ``i`` (1-based) keeps its
config, storage, logs and pid file under ``settings.data_dir / "kafka-cluster" / "node-i"``; all
share one cluster id (``cluster.id`` next to the node directories) and a static controller quorum
(``controller.quorum.voters``), so any two of three nodes elect a leader and keep serving. The
brokers' addresses are ``settings.kafka_bootstrap`` when it lists one per node, otherwise they
are derived from its first address (ports ``p, p+2, p+4``; controllers on
``kafka_controller_port + 2i``). Internal topics are replicated like the project's topics
(``settings.replication_factor`` / ``min_insync_replicas``, 3 and 2 on a cluster). Heaps are
256 MB each: three nodes fit where one default broker used 512 MB.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from base.credentials import kafka_client_security
from base.settings import Settings
from infra import process
from infra.errors import InfraError
from infra.kafka_broker import KafkaBroker, ensure_kafka_jars, ensure_kafka_security
from infra.kafka_security import client_listener

CLUSTER_DIRNAME = "kafka-cluster"


@dataclass(frozen=True)
class KafkaNode(KafkaBroker):
    """One combined broker/controller of a :class:`KafkaCluster`."""

    label: ClassVar[str] = "Kafka cluster node"
    heap: ClassVar[str] = "-Xmx256m"

    node_id: int = 1
    address: str = "127.0.0.1:19092"
    controller_port: int = 19093
    voters: str = ""  # controller.quorum.voters: "1@host:port,2@host:port,..."

    @property
    def home(self) -> Path:
        return self.settings.data_dir / CLUSTER_DIRNAME / f"node-{self.node_id}"

    @property
    def bootstrap(self) -> str:
        return self.address

    def server_properties(self) -> dict[str, str]:
        """The single broker's properties, re-pointed at this node and replicated."""
        props = super().server_properties()
        del props["controller.quorum.bootstrap.servers"]
        rf, isr = str(self.settings.replication_factor), str(self.settings.min_insync_replicas)
        controller = f"{self.host}:{self.controller_port}"
        listener = client_listener(self.settings)
        props.update(
            {
                "node.id": str(self.node_id),
                "controller.quorum.voters": self.voters,
                "listeners": f"{listener}://{self.address},CONTROLLER://{controller}",
                "advertised.listeners": f"{listener}://{self.address}",
                "default.replication.factor": rf,
                "min.insync.replicas": isr,
                "offsets.topic.replication.factor": rf,
                "transaction.state.log.replication.factor": rf,
                "transaction.state.log.min.isr": isr,
                "share.coordinator.state.topic.replication.factor": rf,
                "share.coordinator.state.topic.min.isr": isr,
                # The default 60 s: on the loaded 2-core test machine a node gave up registering
                # (and exited) while the quorum was still forming; the cluster's start timeout
                # decides instead.
                "initial.broker.registration.timeout.ms": "300000",
                "num.io.threads": "2",
                "num.network.threads": "1",
                # The log cleaner allocates its whole dedupe buffer (128 MiB by default) in one
                # piece at startup: half of a node's 256 MiB heap. A node that had loaded a little
                # more by then died of OutOfMemoryError in CI. 16 MiB still maps some 600,000
                # keys per cleaning pass, far more than any compacted topic here holds.
                "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
            }
        )
        return props

    def _quorum_format_arguments(self) -> list[str]:
        """Every node is formatted with the cluster's one id; the voters come from the config."""
        return ["-t", _cluster_id(self.home.parent)]


def _cluster_id(cluster_dir: Path) -> str:
    """The cluster id every node is formatted with (made once, kept in ``cluster.id``)."""
    id_file = cluster_dir / "cluster.id"
    if id_file.exists():
        return id_file.read_text().strip()
    cluster_id = "-"
    while cluster_id.startswith("-"):  # the storage tool would read "-..." as an option
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    cluster_dir.mkdir(parents=True, exist_ok=True)
    id_file.write_text(cluster_id + "\n")
    return cluster_id


def cluster_addresses(settings: Settings, nodes: int) -> tuple[list[str], list[int]]:
    """Broker addresses and controller ports of a local ``nodes``-node cluster (see module doc)."""
    listed = settings.kafka_brokers
    if len(listed) >= nodes:
        brokers = listed[:nodes]
    else:
        host, port = process.split_host_port(listed[0])
        brokers = [f"{host}:{port + 2 * i}" for i in range(nodes)]
    return brokers, [settings.kafka_controller_port + 2 * i for i in range(nodes)]


class KafkaCluster:
    """``nodes`` :class:`KafkaNode` s sharing one quorum; ``settings`` is re-pointed at them."""

    def __init__(
        self,
        settings: Settings,
        nodes: int = 3,
        controller_ports: Sequence[int] | None = None,
        *,
        with_parent: bool = False,
    ) -> None:
        brokers, ports = cluster_addresses(settings, nodes)
        if controller_ports is not None:
            ports = list(controller_ports)
        if len(ports) != nodes:
            raise InfraError(f"{nodes} nodes need {nodes} controller ports, got {ports}")
        self.settings = settings.with_overrides(kafka_bootstrap=",".join(brokers))
        host = process.split_host_port(brokers[0])[0]
        voters = ",".join(f"{i + 1}@{host}:{port}" for i, port in enumerate(ports))
        self.nodes = [
            KafkaNode(
                self.settings,
                node_id=i + 1,
                address=a,
                controller_port=p,
                voters=voters,
                with_parent=with_parent,
            )
            for i, (a, p) in enumerate(zip(brokers, ports, strict=True))
        ]

    @property
    def bootstrap(self) -> str:
        return self.settings.kafka_bootstrap

    def start(self, timeout: float = 180.0) -> bool:
        """Start every node not running, then wait until all brokers are registered.

        Returns True if any node was started. Raises :class:`InfraError` with the log tails.
        """
        started = [node.launch() for node in self.nodes]
        self.wait_ready(timeout)
        return any(started)

    def restart(self, node: KafkaNode, timeout: float = 180.0) -> None:
        """Start ``node`` again (after :meth:`KafkaNode.kill`) and wait for the full cluster."""
        node.launch()
        self.wait_ready(timeout)

    def stop(self) -> list[int]:
        """Stop every node (SIGTERM, then SIGKILL); returns the ids of those that were running."""
        return [node.node_id for node in self.nodes if node.stop()]

    def running(self) -> list[KafkaNode]:
        return [node for node in self.nodes if node.is_running()]

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(node.log_tail(lines) for node in self.nodes)

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Block until the cluster's metadata lists every node, or raise :class:`InfraError`."""
        deadline = time.monotonic() + timeout
        last = "no attempt made"
        while time.monotonic() < deadline:
            dead = [node.node_id for node in self.nodes if node.pid() is None]
            if dead:
                raise InfraError(f"Kafka node(s) {dead} exited during startup\n{self.log_tail()}")
            registered = _registered_brokers(self.settings)
            if isinstance(registered, str):
                last = registered
            elif registered >= {node.node_id for node in self.nodes}:
                ensure_kafka_security(self.settings)
                return
            else:
                last = f"brokers registered: {sorted(registered)}"
            time.sleep(0.5)
        raise InfraError(
            f"Kafka cluster {self.bootstrap} not ready within {timeout:.0f}s ({last})\n"
            + self.log_tail()
        )


def _registered_brokers(settings: Settings) -> set[int] | str:
    """Node ids in the cluster metadata, or why they could not be read."""
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap,
            client_id="ledger-infra-probe",
            bootstrap_timeout_ms=3000,
            request_timeout_ms=5000,
            **kafka_client_security(settings, "operator"),
        )
    except KafkaError as e:
        return f"{type(e).__name__}: {e}"
    try:
        brokers = admin.describe_cluster().get("brokers", [])
        return {int(b["broker_id"]) for b in brokers if not b.get("is_fenced")}
    except KafkaError as e:
        return f"{type(e).__name__}: {e}"
    finally:
        admin.close()


def cluster_command(
    action: str, settings: Settings, nodes: int, timeout: float, say: Callable[[str], None]
) -> int:
    """``ledger infra {up,down,status,fetch} kafka --nodes N``; the exit status."""
    from infra.kafka_broker import ensure_topics

    cluster = KafkaCluster(settings, nodes)
    if action == "fetch":
        say(f"kafka jars: {ensure_kafka_jars(settings)}")
        return 0
    if action == "up":
        t0 = time.monotonic()
        say(f"kafka: starting {nodes} nodes on {cluster.bootstrap}")
        started = cluster.start(timeout=timeout)
        verb = "started" if started else "already running"
        say(f"kafka: cluster {verb}, ready after {time.monotonic() - t0:.1f}s")
        created = ensure_topics(cluster.settings)
        say(f"kafka: topics created: {', '.join(created) or 'none (all exist)'}")
        say(f"clients need: export LEDGER_KAFKA_BOOTSTRAP={cluster.bootstrap}")
        return 0
    if action == "down":
        stopped = cluster.stop()
        say(f"kafka: stopped nodes {stopped}" if stopped else "kafka: no node was running")
        return 0
    up = 0
    for node in cluster.nodes:
        running = node.is_running()
        up += running
        state = "up" if running else "down"
        print(f"kafka-{node.node_id}\t{state}\t{node.address}\tpid={node.pid()}")
    return 0 if up == nodes else 1
