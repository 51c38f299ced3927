"""Built-in secrets never leave loopback: components pointed elsewhere refuse to start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from base.credentials import (
    InsecureConfigurationError,
    is_loopback,
    kafka_client_security,
)
from base.settings import PROJECT_ROOT, Settings
from infra.clickhouse_server import ClickHouseServer
from infra.errors import InfraError
from infra.kafka_broker import KafkaBroker
from infra.kafka_security import scram_format_arguments
from infra.process import write_private
from streams.store import open_store

REMOTE = "192.0.2.10"  # TEST-NET-1: never routed, so nothing is ever reached


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        (REMOTE, False),
        ("10.0.0.5", False),
        ("kafka.example.org", False),
        ("0.0.0.0", False),
    ],
)
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_clickhouse_server_with_default_secrets_off_loopback_refuses(tmp_path: Path) -> None:
    server = ClickHouseServer(Settings(data_dir=tmp_path, clickhouse_host=REMOTE))
    with pytest.raises(InsecureConfigurationError, match="LEDGER_CLICKHOUSE_PASSWORD"):
        server.start(timeout=1)
    assert not server.pid_file.exists()
    assert not server.users_file.exists()


@pytest.mark.parametrize("role", ["writer", "investigator"])
def test_server_store_with_default_secret_off_loopback_refuses(role: str) -> None:
    settings = Settings(clickhouse_host=REMOTE)
    with pytest.raises(InsecureConfigurationError, match="not loopback"):
        open_store(settings, role, "server")  # type: ignore[arg-type]


def test_kafka_client_off_loopback_needs_its_own_secret_and_tls() -> None:
    remote = Settings(kafka_bootstrap=f"127.0.0.1:9092,{REMOTE}:9092")
    with pytest.raises(InsecureConfigurationError, match="LEDGER_KAFKA_SINK_PASSWORD"):
        kafka_client_security(remote, "sink")
    configured = remote.with_overrides(kafka_sink_password="a-real-secret")
    with pytest.raises(InsecureConfigurationError, match="SASL_SSL"):
        kafka_client_security(configured, "sink")
    tls = configured.with_overrides(kafka_security_protocol="SASL_SSL")
    options = kafka_client_security(tls, "sink")
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_plain_username"] == "ledger-sink"
    assert options["sasl_plain_password"] == "a-real-secret"


def test_loopback_kafka_clients_use_scram_with_the_role_credentials() -> None:
    options = kafka_client_security(Settings(), "gate")
    assert options == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "ledger-gate",
        "sasl_plain_password": "gate-local-only",
    }


@pytest.mark.parametrize(
    "argv",
    [
        ["sql", "--store", "server", "SELECT 1"],
        ["infra", "up", "clickhouse", "--timeout", "1"],
    ],
)
def test_the_cli_refuses_to_start_against_a_remote_host_with_default_secrets(
    tmp_path: Path, argv: list[str]
) -> None:
    env = {
        **os.environ,
        "LEDGER_CLICKHOUSE_HOST": REMOTE,
        "LEDGER_KAFKA_BOOTSTRAP": f"{REMOTE}:9092",
        "LEDGER_DATA_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "ledger", *argv],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "refuses to start" in done.stderr and "Traceback" not in done.stderr


def test_the_broker_authenticates_and_authorizes_every_listener(tmp_path: Path) -> None:
    props = KafkaBroker(Settings(data_dir=tmp_path)).server_properties()
    assert props["listeners"].startswith("SASL_PLAINTEXT://127.0.0.1:19092,CONTROLLER://")
    assert props["listener.security.protocol.map"] == (
        "CONTROLLER:SASL_PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT"
    )
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["super.users"] == "User:ledger-broker;User:ledger-operator"
    assert "PLAINTEXT:PLAINTEXT" not in props["listener.security.protocol.map"]


def test_the_tls_listener_needs_a_keystore(tmp_path: Path) -> None:
    tls = Settings(data_dir=tmp_path, kafka_security_protocol="SASL_SSL")
    with pytest.raises(InfraError, match="KEYSTORE"):
        KafkaBroker(tls).server_properties()
    keystore = tmp_path / "broker.p12"
    props = KafkaBroker(tls.with_overrides(kafka_ssl_keystore=keystore)).server_properties()
    assert props["listeners"].startswith("SASL_SSL://")
    assert props["listener.name.sasl_ssl.ssl.keystore.location"] == str(keystore)


def test_only_the_broker_and_operator_are_seeded_at_format_time() -> None:
    arguments = scram_format_arguments(Settings())
    assert arguments == [
        "--add-scram",
        "SCRAM-SHA-512=[name=ledger-broker,password=broker-local-only]",
        "--add-scram",
        "SCRAM-SHA-512=[name=ledger-operator,password=operator-local-only]",
    ]
    with pytest.raises(InfraError, match="LEDGER_KAFKA_BROKER_PASSWORD"):
        scram_format_arguments(Settings(kafka_broker_password="a,b"))


def test_private_files_are_owner_only(tmp_path: Path) -> None:
    target = tmp_path / "secret.xml"
    target.write_text("old")
    target.chmod(0o644)
    write_private(target, "new")
    assert target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o600
