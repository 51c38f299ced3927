"""Integration tests of infra/: the local Kafka broker and ClickHouse server really work."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from base.credentials import kafka_client_security
from infra import process
from infra.clickhouse_server import ClickHouseServer, connect, connect_investigator
from infra.errors import InfraError
from infra.kafka_broker import KafkaBroker, ensure_topics, project_topics, wait_for_kafka
from tests.conftest import ClickHouseService, KafkaService

pytestmark = pytest.mark.integration


def _operator(kafka_broker: KafkaService) -> dict[str, Any]:
    """The operator's client options: infra tests use topics no other role is granted."""
    return kafka_client_security(kafka_broker.settings, "operator")


def test_a_record_produced_to_the_broker_is_consumed_back(
    kafka_broker: KafkaService, make_topic: Callable[..., str]
) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    topic = make_topic("infra.roundtrip")
    producer = KafkaProducer(
        bootstrap_servers=kafka_broker.bootstrap, acks="all", **_operator(kafka_broker)
    )
    try:
        producer.send(topic, key=b"traveller-1", value=b"hello border").get(timeout=30)
        producer.flush()
    finally:
        producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_broker.bootstrap,
        **_operator(kafka_broker),
        group_id=f"test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    received: list[tuple[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + 30
        while not received and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                received.extend((r.key, r.value) for r in records)
    finally:
        consumer.close()
    assert received == [(b"traveller-1", b"hello border")]


def test_a_single_node_broker_supports_transactions(
    kafka_broker: KafkaService, make_topic: Callable[..., str]
) -> None:
    """Faust's exactly-once mode needs a working transaction coordinator on one node."""
    from kafka import KafkaConsumer, KafkaProducer

    topic = make_topic("infra.txn")
    producer = KafkaProducer(
        bootstrap_servers=kafka_broker.bootstrap,
        **_operator(kafka_broker),
        transactional_id=f"test-txn-{uuid.uuid4().hex[:8]}",
        enable_idempotence=True,
        acks="all",
    )
    try:
        producer.init_transactions()
        producer.begin_transaction()
        producer.send(topic, key=b"k", value=b"aborted")
        producer.abort_transaction()
        producer.begin_transaction()
        producer.send(topic, key=b"k", value=b"committed")
        producer.commit_transaction()
    finally:
        producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_broker.bootstrap,
        **_operator(kafka_broker),
        group_id=f"test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    values: list[bytes] = []
    try:
        deadline = time.monotonic() + 30
        while not values and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                values.extend(r.value for r in records)
    finally:
        consumer.close()
    assert values == [b"committed"]


def test_creating_the_project_topics_twice_is_idempotent(kafka_broker: KafkaService) -> None:
    from kafka.admin import KafkaAdminClient

    settings = kafka_broker.settings
    ensure_topics(settings)
    assert ensure_topics(settings) == []

    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap, **_operator(kafka_broker))
    try:
        described = admin.describe_topics(project_topics(settings))
    finally:
        admin.close()
    partitions = {t["name"]: len(t["partitions"]) for t in described}
    assert partitions == {name: settings.partitions for name in project_topics(settings)}


def test_starting_the_broker_again_reuses_the_running_process(
    kafka_broker: KafkaService,
) -> None:
    if kafka_broker.broker is None:
        pytest.skip(
            "LEDGER_TEST_KAFKA_BOOTSTRAP names an external broker this session does not own"
        )
    broker = KafkaBroker(kafka_broker.settings)
    pid = broker.pid()

    started = broker.start(timeout=30)

    assert started is False
    assert pid is not None
    assert broker.pid() == pid


def test_waiting_for_a_broker_that_is_not_there_fails_with_a_clear_error() -> None:
    port = process.free_port("127.0.0.1")

    with pytest.raises(InfraError, match="did not answer within"):
        wait_for_kafka(f"127.0.0.1:{port}", 1.0)


def test_clickhouse_answers_select_1(clickhouse_server: ClickHouseService) -> None:
    client = connect(clickhouse_server.settings)
    try:
        assert client.execute("SELECT 1") == [(1,)]
    finally:
        client.disconnect()


def test_starting_clickhouse_again_reuses_the_running_server(
    clickhouse_server: ClickHouseService,
) -> None:
    if clickhouse_server.server is None:
        pytest.skip(
            "LEDGER_TEST_CLICKHOUSE_PORT names an external server this session does not own"
        )
    server = ClickHouseServer(clickhouse_server.settings)
    pid = server.pid()

    assert server.start(timeout=30) is False
    assert pid is not None
    assert server.pid() == pid


@pytest.fixture
def audited_table(clickhouse_server: ClickHouseService) -> str:
    """A writer-created table with two rows, named uniquely in the ledger database."""
    settings = clickhouse_server.settings
    table = f"`{settings.clickhouse_database}`.infra_probe_{uuid.uuid4().hex[:8]}"
    writer = connect(settings)
    try:
        writer.execute(f"CREATE TABLE {table} (n UInt32) ENGINE = MergeTree ORDER BY n")
        writer.execute(f"INSERT INTO {table} (n) VALUES", [(1,), (2,)])
    finally:
        writer.disconnect()
    return table


def test_the_investigator_can_select_what_the_writer_wrote(
    clickhouse_server: ClickHouseService, audited_table: str
) -> None:
    investigator = connect_investigator(clickhouse_server.settings)
    try:
        rows = investigator.execute(
            f"SELECT n FROM {audited_table} WHERE n >= %(least)s ORDER BY n", {"least": 1}
        )
    finally:
        investigator.disconnect()
    assert rows == [(1,), (2,)]


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO {table} (n) VALUES (3)",
        "DROP TABLE {table}",
        "CREATE TABLE {table}_copy (n UInt32) ENGINE = Memory",
        "ALTER TABLE {table} DELETE WHERE n = 1",
    ],
    ids=["insert", "drop", "create", "alter"],
)
def test_the_investigator_cannot_change_anything(
    clickhouse_server: ClickHouseService, audited_table: str, statement: str
) -> None:
    from clickhouse_driver.errors import ErrorCodes, ServerException

    investigator = connect_investigator(clickhouse_server.settings)
    try:
        with pytest.raises(ServerException) as raised:
            investigator.execute(statement.format(table=audited_table))
    finally:
        investigator.disconnect()
    assert raised.value.code == ErrorCodes.READONLY
    assert "readonly mode" in str(raised.value)

    writer = connect(clickhouse_server.settings)
    try:
        assert writer.execute(f"SELECT count() FROM {audited_table}") == [(2,)]
    finally:
        writer.disconnect()


def test_there_is_no_passwordless_default_user(clickhouse_server: ClickHouseService) -> None:
    from clickhouse_driver.errors import ErrorCodes, ServerException

    anonymous = connect(clickhouse_server.settings, user="default", password="")
    try:
        with pytest.raises(ServerException) as raised:
            anonymous.execute("SELECT 1")
    finally:
        anonymous.disconnect()
    assert raised.value.code == ErrorCodes.UNKNOWN_USER
