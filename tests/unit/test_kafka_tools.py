"""Kafka's command-line tools run by ``ledger infra kafka-tool`` (infra.kafka_tools): the Java
client login they get, and the arguments added to the caller's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from base.settings import PROJECT_ROOT, Settings
from infra.errors import InfraError
from infra.kafka_tools import client_properties, tool_command


def test_the_tool_logs_in_as_the_operator_with_scram() -> None:
    settings = Settings(kafka_operator_password="s3cret-pw")
    lines = client_properties(settings, "operator").splitlines()
    assert lines == [
        "security.protocol=SASL_PLAINTEXT",
        f"sasl.mechanism={settings.kafka_sasl_mechanism}",
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="ledger-operator" password="s3cret-pw";',
    ]


def test_tls_trust_comes_from_the_pem_bundle(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    settings = Settings(kafka_security_protocol="SASL_SSL", kafka_ssl_cafile=ca)
    lines = client_properties(settings, "operator").splitlines()
    assert lines[0] == "security.protocol=SASL_SSL"
    assert lines[-2:] == ["ssl.truststore.type=PEM", f"ssl.truststore.location={ca}"]


def test_an_unknown_tool_is_a_named_error(tmp_path: Path) -> None:
    with pytest.raises(InfraError, match="unknown Kafka tool 'kafka-nope'; known: kafka-acls"):
        tool_command(Settings(), "kafka-nope", [], tmp_path / "client.properties")


def test_the_cli_reports_an_unknown_tool_without_a_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ledger", "infra", "kafka-tool", "kafka-nope", "--list"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "unknown Kafka tool 'kafka-nope'" in done.stderr
    assert "Traceback" not in done.stderr
