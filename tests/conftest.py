"""Shared service fixtures: a real Kafka broker and a real ClickHouse server for the whole session.

Each fixture starts its own instance on free loopback ports under a pytest temporary directory
(never the default ports that ``ledger run`` uses), or reuses a running one named by
``LEDGER_TEST_KAFKA_BOOTSTRAP`` / ``LEDGER_TEST_CLICKHOUSE_PORT`` (plus the optional
``LEDGER_TEST_CLICKHOUSE_HTTP_PORT``). A service that cannot start FAILS the tests that need it,
with the log tail; it never skips. Whatever a fixture started is stopped after the last test that
needs it, and dies with the pytest process if that is killed (infra.process.die_with_parent).
Services start lazily, so unit-test runs start nothing.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from base.credentials import kafka_client_security
from base.settings import Settings
from domain.native import NATIVE
from infra import process
from infra.clickhouse_server import ClickHouseServer, wait_for_clickhouse
from infra.errors import InfraError
from infra.kafka_broker import (
    KafkaBroker,
    admin_client,
    ensure_kafka_security,
    ensure_topics,
    wait_for_kafka,
)
from tests.started import plan_lifetimes, started, stop_services_done_after

SERVICE_TIMEOUT = 120.0

# Cheapest first: unit tests need no service, integration tests one, end-to-end tests the whole
# path, cluster tests several nodes. A run cut short (or failing early with -x) has then covered
# the most ground; within a layer the collection order is kept (the sort is stable).
_LAYER_ORDER = ("tests/unit/", "tests/integration/", "tests/e2e/", "tests/cluster/")
# Within the cluster layer: the ClickHouse cluster's own tests, then the one that needs both
# clusters, then the Kafka cluster's, so each cluster runs only while its tests do.
_CLUSTER_ORDER = (
    "tests/cluster/test_clickhouse_cluster_cli.py",
    "tests/cluster/test_cluster_investigator.py",
    "tests/cluster/test_clickhouse_cluster.py",
    "tests/cluster/test_kafka_cluster.py",
    "tests/cluster/test_many_workers.py",
)


def _run_rank(item: pytest.Item) -> tuple[int, int]:
    module = item.nodeid.split("::", 1)[0]
    within = _CLUSTER_ORDER.index(module) if module in _CLUSTER_ORDER else len(_CLUSTER_ORDER)
    for rank, prefix in enumerate(_LAYER_ORDER):
        if module.startswith(prefix):
            return rank, within
    return len(_LAYER_ORDER), within


# pytest-timeout's default (pyproject.toml) suits unit and integration tests; an end-to-end or
# cluster test starts workers and services of its own, and the first test to use a session
# cluster also waits for it to start. A test's own timeout mark still wins.
_LAYER_TIMEOUT = {"tests/e2e/": 600.0, "tests/cluster/": 600.0}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_run_rank)
    for item in items:
        if NATIVE and item.get_closest_marker("interpreted"):
            # a patch of a module global would not reach compiled callers: the test would pass
            # without testing anything, so it runs only in the interpreted pass (LEDGER_NATIVE=0)
            item.add_marker(pytest.mark.skip(reason="domain runs compiled; see make test"))
        for prefix, seconds in _LAYER_TIMEOUT.items():
            if item.nodeid.startswith(prefix):
                item.add_marker(pytest.mark.timeout(seconds))


# Session services stopped right after their last user (see tests/started.py).
_SERVICE_FIXTURES = ("kafka_broker", "clickhouse_server", "kafka_cluster", "clickhouse_cluster")


def pytest_collection_finish(session: pytest.Session) -> None:
    plan_lifetimes(session.items, _SERVICE_FIXTURES)


# CI kills a run that passes its time limit without a word: no summary, no durations, no hint of
# which test was slow. With LEDGER_TEST_DEADLINE (a Unix time, set by .ci/run) the session stops
# itself between tests once it is passed, exits as interrupted (non-zero: the tests not run were
# not passed), and prints its summary and slowest tests.
_DEADLINE_ENV = "LEDGER_TEST_DEADLINE"


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    stop_services_done_after(item)
    deadline = os.environ.get(_DEADLINE_ENV)
    if deadline and time.time() > float(deadline):
        item.session.shouldstop = (
            f"{_DEADLINE_ENV} passed after {item.nodeid}: the remaining tests were not run"
        )


@dataclass(frozen=True)
class KafkaService:
    """A broker the tests can use. ``broker`` is None when an external broker is reused."""

    bootstrap: str
    settings: Settings
    broker: KafkaBroker | None


@dataclass(frozen=True)
class ClickHouseService:
    """A ClickHouse server the tests can use. ``server`` is None when an external one is reused."""

    host: str
    port: int
    http_port: int
    settings: Settings
    server: ClickHouseServer | None


@pytest.fixture(scope="session", autouse=True)
def _no_home_signing_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests never sign with, or create, the developer's own checkpoint key (``ledger keys``).

    A key in the home directory would make every test's sink sign and publish checkpoints to a
    topic those tests never created; tests that sign make their own key under a temp dir.
    """
    if "LEDGER_SIGNING_KEY" in os.environ:
        yield
        return
    os.environ["LEDGER_SIGNING_KEY"] = str(tmp_path_factory.mktemp("no-key") / "absent.pem")
    try:
        yield
    finally:
        del os.environ["LEDGER_SIGNING_KEY"]


@pytest.fixture(scope="session")
def base_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings from the environment, with data under a session temp dir (jar cache kept)."""
    settings = Settings.from_env()
    data_dir = tmp_path_factory.mktemp("services")
    return settings.with_overrides(data_dir=data_dir, chdb_path=data_dir / "chdb")


@pytest.fixture(scope="session")
def kafka_broker(base_settings: Settings) -> Iterator[KafkaService]:
    """A running Kafka broker for the session (own instance on free ports, or the env's)."""
    external = os.environ.get("LEDGER_TEST_KAFKA_BOOTSTRAP")
    if external:
        settings = base_settings.with_overrides(kafka_bootstrap=external)
        try:
            wait_for_kafka(
                external, SERVICE_TIMEOUT, security=kafka_client_security(settings, "operator")
            )
            ensure_kafka_security(settings)
        except InfraError as e:
            pytest.fail(f"LEDGER_TEST_KAFKA_BOOTSTRAP={external}: {e}", pytrace=False)
        yield KafkaService(bootstrap=external, settings=settings, broker=None)
        return
    host = process.split_host_port(base_settings.kafka_bootstrap)[0]
    settings = base_settings.with_overrides(
        kafka_bootstrap=f"{host}:{process.free_port(host)}",
        kafka_controller_port=process.free_port(host),
    )
    with started(
        KafkaBroker(settings, with_parent=True),
        "Kafka broker",
        SERVICE_TIMEOUT,
        fixture="kafka_broker",
    ) as broker:
        yield KafkaService(bootstrap=settings.kafka_bootstrap, settings=settings, broker=broker)


@pytest.fixture(scope="session")
def clickhouse_server(base_settings: Settings) -> Iterator[ClickHouseService]:
    """A running ClickHouse server for the session (own instance on free ports, or the env's)."""
    host = base_settings.clickhouse_host
    external = os.environ.get("LEDGER_TEST_CLICKHOUSE_PORT")
    if external:
        http = os.environ.get("LEDGER_TEST_CLICKHOUSE_HTTP_PORT")
        settings = base_settings.with_overrides(
            clickhouse_port=int(external),
            clickhouse_http_port=int(http) if http else base_settings.clickhouse_http_port,
        )
        try:
            wait_for_clickhouse(settings, SERVICE_TIMEOUT)
            ClickHouseServer(settings).create_database()
        except InfraError as e:
            pytest.fail(f"LEDGER_TEST_CLICKHOUSE_PORT={external}: {e}", pytrace=False)
        yield ClickHouseService(
            host, settings.clickhouse_port, settings.clickhouse_http_port, settings, None
        )
        return
    settings = base_settings.with_overrides(
        clickhouse_port=process.free_port(host), clickhouse_http_port=process.free_port(host)
    )
    server = ClickHouseServer(settings, with_parent=True)
    with started(server, "ClickHouse server", SERVICE_TIMEOUT, fixture="clickhouse_server"):
        yield ClickHouseService(
            host, settings.clickhouse_port, settings.clickhouse_http_port, settings, server
        )


@pytest.fixture(scope="session")
def kafka_settings(kafka_broker: KafkaService) -> Settings:
    """Settings pointing at the session's broker (ClickHouse fields left at their defaults)."""
    return kafka_broker.settings


@pytest.fixture(scope="session")
def clickhouse_settings(clickhouse_server: ClickHouseService) -> Settings:
    """Settings pointing at the session's ClickHouse server, with ``store="server"``."""
    return clickhouse_server.settings.with_overrides(store="server")


@pytest.fixture(scope="session")
def service_settings(kafka_broker: KafkaService, clickhouse_server: ClickHouseService) -> Settings:
    """Settings pointing at both session services (``store="server"``), data under a temp dir."""
    return clickhouse_server.settings.with_overrides(
        store="server",
        kafka_bootstrap=kafka_broker.bootstrap,
        kafka_controller_port=kafka_broker.settings.kafka_controller_port,
    )


@pytest.fixture
def make_topic(kafka_broker: KafkaService) -> Iterator[Callable[..., str]]:
    """Factory ``make_topic(prefix="test", partitions=1) -> name`` of a fresh, unique topic.

    The topics a test made are deleted after it.
    """
    made: list[str] = []

    def _make(prefix: str = "test", partitions: int = 1) -> str:
        name = f"{prefix}.{uuid.uuid4().hex[:12]}"
        try:
            ensure_topics(kafka_broker.settings, [name], partitions=partitions)
        except InfraError as e:
            pytest.fail(f"cannot create topic {name}: {e}", pytrace=False)
        made.append(name)
        return name

    yield _make
    if made:
        _delete_topics(kafka_broker.settings, made)


def _delete_topics(settings: Settings, topics: list[str]) -> None:
    from kafka.errors import KafkaError

    try:
        admin = admin_client(settings, "tests-cleanup")
    except KafkaError:
        return  # the broker is gone; nothing to clean up
    try:
        admin.delete_topics(topics, timeout_ms=10000)
    except KafkaError as e:
        # Leftover topics only cost disk in a temp dir; say so instead of failing the test.
        print(f"could not delete test topics {topics}: {e}")
    finally:
        admin.close()
