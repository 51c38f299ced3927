"""Kafka roles through the real broker (SASL/SCRAM-SHA-512 + StandardAuthorizer ACLs): each role
may do its job and nothing else, and a client without credentials cannot connect at all."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import (
    KafkaError,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailedError,
)

from base.credentials import KafkaRole, kafka_client_security, publisher_transactional_prefix
from base.settings import Settings
from tests.pipeline import isolated_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(kafka_settings: Settings, make_topic: Callable[..., str], tmp_path: Path) -> Settings:
    return isolated_settings(kafka_settings.with_overrides(partitions=1), make_topic, tmp_path)


def produce(settings: Settings, role: KafkaRole, topic: str) -> None:
    """Send one record as ``role`` and wait for the broker's answer (raises if refused)."""
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        max_block_ms=10_000,
        request_timeout_ms=10_000,
        **kafka_client_security(settings, role),
    )
    try:
        producer.send(topic, key=b"k", value=role.encode()).get(timeout=20)
    finally:
        producer.close(timeout=5)


def consume(settings: Settings, role: KafkaRole, topic: str) -> list[bytes]:
    """Read partition 0 of ``topic`` from the beginning as ``role`` (raises if refused)."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        **kafka_client_security(settings, role),
    )
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        values: list[bytes] = []
        for _ in range(10):
            for records in consumer.poll(timeout_ms=500).values():
                values.extend(r.value for r in records)
            if values:
                break
        return values
    finally:
        consumer.close()


def admin(settings: Settings, role: KafkaRole) -> KafkaAdminClient:
    return KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap,
        request_timeout_ms=10_000,
        **kafka_client_security(settings, role),
    )


def test_a_client_without_credentials_cannot_connect(settings: Settings) -> None:
    with pytest.raises(KafkaError):
        KafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap,
            security_protocol="PLAINTEXT",
            bootstrap_timeout_ms=3000,
            request_timeout_ms=3000,
        ).describe_cluster()


def test_a_wrong_password_cannot_connect(settings: Settings) -> None:
    forged = settings.with_overrides(kafka_gate_password="guessed")
    with pytest.raises(KafkaError):
        KafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap,
            bootstrap_timeout_ms=3000,
            request_timeout_ms=3000,
            **kafka_client_security(forged, "gate"),
        ).describe_cluster()


@pytest.mark.parametrize(
    ("role", "allowed", "refused"),
    [
        ("gate", "topic_crossings", ("topic_permits", "topic_decisions", "topic_deadletter")),
        ("authority", "topic_permits", ("topic_crossings", "topic_decisions")),
        ("worker", "topic_decisions", ("topic_crossings", "topic_permits")),
        ("sink", None, ("topic_crossings", "topic_permits", "topic_decisions")),
        ("enforcement", None, ("topic_decisions", "topic_crossings")),
    ],
)
def test_each_role_writes_only_its_topics(
    settings: Settings, role: KafkaRole, allowed: str | None, refused: tuple[str, ...]
) -> None:
    if allowed is not None:
        produce(settings, role, getattr(settings, allowed))
        assert role.encode() in consume(settings, "operator", getattr(settings, allowed))
    for field in refused:
        # A role with no write grant at all is already refused a producer id (cluster level).
        with pytest.raises(KafkaError, match="AuthorizationFailed"):
            produce(settings, role, getattr(settings, field))
    for field in refused:
        assert role.encode() not in consume(settings, "operator", getattr(settings, field))


@pytest.mark.parametrize(
    ("role", "readable", "unreadable"),
    [
        ("enforcement", ("topic_decisions",), ("topic_crossings", "topic_permits")),
        ("sink", ("topic_crossings", "topic_decisions", "topic_deadletter"), ()),
        ("worker", ("topic_crossings", "topic_permits"), ()),
        ("gate", ("topic_crossings",), ("topic_permits", "topic_decisions")),
        ("authority", ("topic_permits",), ("topic_crossings", "topic_decisions")),
    ],
)
def test_each_role_reads_only_its_topics(
    settings: Settings, role: KafkaRole, readable: tuple[str, ...], unreadable: tuple[str, ...]
) -> None:
    for field in readable + unreadable:
        produce(settings, "operator", getattr(settings, field))
    for field in readable:
        assert consume(settings, role, getattr(settings, field)) == [b"operator"]
    for field in unreadable:
        # The operator's record is there; the role gets an authorization error or nothing.
        try:
            got = consume(settings, role, getattr(settings, field))
        except TopicAuthorizationFailedError:
            got = []
        assert got == []


@pytest.mark.parametrize("role", ["gate", "authority", "worker", "sink", "enforcement"])
def test_only_the_operator_creates_or_deletes_project_topics(
    settings: Settings, role: KafkaRole
) -> None:
    client = admin(settings, role)
    try:
        deleted = client.delete_topics([settings.topic_decisions], timeout_ms=10_000)
        errors = [t[1] for t in getattr(deleted, "topic_error_codes", [])] or [
            t.error_code for t in getattr(deleted, "responses", [])
        ]
    except TopicAuthorizationFailedError:
        errors = [TopicAuthorizationFailedError.errno]
    finally:
        client.close()
    assert errors == [TopicAuthorizationFailedError.errno]
    assert settings.topic_decisions in admin_topics(settings)

    name = f"rogue.{uuid.uuid4().hex[:8]}"
    client = admin(settings, role)
    try:
        with pytest.raises(KafkaError):
            client.create_topics([NewTopic(name, 1, 1)], timeout_ms=10_000)
    finally:
        client.close()
    assert name not in admin_topics(settings)


def test_the_operator_creates_and_deletes_topics(settings: Settings) -> None:
    name = f"ops.{uuid.uuid4().hex[:8]}"
    client = admin(settings, "operator")
    try:
        client.create_topics([NewTopic(name, 1, 1)], timeout_ms=10_000)
        assert name in admin_topics(settings)
        client.delete_topics([name], timeout_ms=10_000)
    finally:
        client.close()


def admin_topics(settings: Settings) -> set[str]:
    client = admin(settings, "operator")
    try:
        return set(client.list_topics())
    finally:
        client.close()


@pytest.mark.parametrize(("role", "other"), [("gate", "authority"), ("authority", "gate")])
def test_a_publisher_role_uses_only_transactional_ids_of_its_own_prefix(
    settings: Settings, role: KafkaRole, other: KafkaRole
) -> None:
    """The publisher writes in transactions; a gate cannot fence an authority's publisher."""

    def init_transactions(prefix: str) -> None:
        producer = KafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap,
            transactional_id=f"{prefix}test-{uuid.uuid4().hex[:8]}",
            max_block_ms=10_000,
            **kafka_client_security(settings, role),
        )
        try:
            producer.init_transactions()
        finally:
            producer.close(timeout=5)

    init_transactions(publisher_transactional_prefix(settings, role))
    with pytest.raises(TransactionalIdAuthorizationFailedError):
        init_transactions(publisher_transactional_prefix(settings, other))
