"""Kafka's own command-line tools against the project's broker, logged in as a Kafka role.

``ledger infra kafka-tool NAME ARGS...`` runs the tool that Kafka's ``bin/NAME.sh`` would (the
main classes below, from the ``kafka-tools`` and broker jars fetched with the broker's, see
``infra/kafka/pom.xml``) with ``--bootstrap-server`` set to ``settings.kafka_bootstrap`` and the
role's SASL/SCRAM login (TLS trust too under SASL_SSL) in a client properties file only its owner
may read, written for the run and removed after it. Arguments the caller gives win: a
``--bootstrap-server`` or configuration flag in ARGS is not added again. The operator (a super
user, ``infra.kafka_security``) is the default role, so the tools see every group and topic.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from base.credentials import KafkaRole, kafka_client_security
from base.settings import Settings
from infra.errors import InfraError
from infra.kafka_broker import KAFKA_DIR, ensure_kafka_jars, java_executable
from infra.process import write_private

LOG4J_CONFIG = KAFKA_DIR / "tools-log4j2.xml"
_TOOLS = "org.apache.kafka.tools"

# bin/NAME.sh -> (main class, the flag naming its client configuration file)
TOOLS: dict[str, tuple[str, str]] = {
    "kafka-consumer-groups": (
        f"{_TOOLS}.consumer.group.ConsumerGroupCommand",
        "--command-config",
    ),
    "kafka-topics": (f"{_TOOLS}.TopicCommand", "--command-config"),
    "kafka-acls": (f"{_TOOLS}.AclCommand", "--command-config"),
    "kafka-configs": ("kafka.admin.ConfigCommand", "--command-config"),
    "kafka-get-offsets": (f"{_TOOLS}.GetOffsetShell", "--command-config"),
    "kafka-transactions": (f"{_TOOLS}.TransactionsCommand", "--command-config"),
    "kafka-log-dirs": (f"{_TOOLS}.LogDirsCommand", "--command-config"),
    "kafka-delete-records": (f"{_TOOLS}.DeleteRecordsCommand", "--command-config"),
    "kafka-groups": (f"{_TOOLS}.GroupsCommand", "--command-config"),
    "kafka-metadata-quorum": (f"{_TOOLS}.MetadataQuorumCommand", "--command-config"),
    "kafka-broker-api-versions": (f"{_TOOLS}.BrokerApiVersionsCommand", "--command-config"),
    "kafka-console-consumer": (f"{_TOOLS}.consumer.ConsoleConsumer", "--consumer.config"),
    "kafka-console-producer": (f"{_TOOLS}.ConsoleProducer", "--producer.config"),
}


def client_properties(settings: Settings, role: KafkaRole) -> str:
    """A Java client's properties logging in as ``role`` (the kafka-python options, in Java)."""
    options = kafka_client_security(settings, role)
    lines = [f"security.protocol={options['security_protocol']}"]
    if "sasl_mechanism" in options:
        user, password = options["sasl_plain_username"], options["sasl_plain_password"]
        lines += [
            f"sasl.mechanism={options['sasl_mechanism']}",
            "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{user}" password="{password}";',
        ]
    if "ssl_cafile" in options:  # Java reads the PEM CA bundle directly
        lines += ["ssl.truststore.type=PEM", f"ssl.truststore.location={options['ssl_cafile']}"]
    return "\n".join(lines) + "\n"


def tool_command(
    settings: Settings, name: str, args: Sequence[str], config_file: Path
) -> list[str]:
    """The java command line running tool ``name`` with ``args`` (see the module docstring)."""
    main_class, config_flag = _tool(name)
    libs = ensure_kafka_jars(settings)
    extra: list[str] = []
    if not _given(args, "--bootstrap-server"):
        extra += ["--bootstrap-server", settings.kafka_bootstrap]
    if not _given(args, config_flag):
        extra += [config_flag, str(config_file)]
    return [
        java_executable(),
        "-Xmx256m",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        "-cp",
        f"{libs}/*",
        main_class,
        *args,
        *extra,
    ]


def run_tool(
    settings: Settings,
    name: str,
    args: Sequence[str],
    *,
    role: KafkaRole = "operator",
    capture: bool = False,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run Kafka tool ``name``; its output goes to ours unless ``capture``."""
    _tool(name)  # before anything is written
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kafka-tool-", dir=settings.data_dir) as tmp:
        config_file = Path(tmp) / "client.properties"
        write_private(config_file, client_properties(settings, role))
        command = tool_command(settings, name, args, config_file)
        return subprocess.run(
            command, capture_output=capture, text=True, timeout=timeout, check=False
        )


def _tool(name: str) -> tuple[str, str]:
    if name not in TOOLS:
        raise InfraError(f"unknown Kafka tool {name!r}; known: {', '.join(sorted(TOOLS))}")
    return TOOLS[name]


def _given(args: Sequence[str], flag: str) -> bool:
    return any(a == flag or a.startswith(f"{flag}=") for a in args)
