"""Faust application factory for the enforcement worker.

``create_app`` builds the app from :class:`Settings`; nothing is created at import time. The agent
(:mod:`streams.worker.agent`) is wiring: it reads the co-partitioned crossings and permits topics
as raw bytes in batches (``settings.worker_batch_size`` messages or
``settings.worker_batch_seconds``) and hands each batch to
:meth:`~streams.worker.processor.Processor.process_batch`, which publishes the decisions and dead
letters, awaits their acknowledgements and only then writes the tables; Faust acks the batch's
offsets after that (see the processor's docstring for why this order makes outputs at-least-once
and never lost).

State lives in two Faust tables on RocksDB (the ``rocksdict`` driver), each with a compact-only
changelog, so a worker killed at any point recovers on restart or on another worker: traveller
states (one write per traveller changed per batch) and partition clocks (one write per partition
per batch); see :mod:`streams.worker.faust_tables`.

The web server (``settings.worker_web_port``) serves ``/stay/{traveller}/``, routed by Faust to
the worker that owns the traveller's partition, and ``/health/``.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable
from datetime import timedelta
from pathlib import Path
from typing import Any

import faust
from faust.types import TopicT

from base.credentials import kafka_client_security
from base.settings import Settings
from domain.events import Event
from domain.policy import Policy
from schemas.mapping import Coordinates
from streams.edge import EdgeLimits, check_record
from streams.policy_file import load_policy
from streams.worker.acks import CommitWatchdog, drop_stale_acks
from streams.worker.agent import register_agent
from streams.worker.batch import Output
from streams.worker.faust_tables import TABLES, FaustTables
from streams.worker.guard import OutputLimits
from streams.worker.processor import Processor
from streams.worker.transport import SCHEME as READ_COMMITTED_SCHEME
from streams.worker.transport import set_fetch_max_wait
from streams.worker.web import register_views

log = logging.getLogger(__name__)

ROCKSDB_OPTIONS = {"driver": "rocksdict"}


def worker_credentials(settings: Settings) -> faust.SASLCredentials:
    """The worker's SASL/SCRAM login (Faust's aiokafka clients), TLS-verified under SASL_SSL."""
    options = kafka_client_security(settings, "worker")
    context = None
    if options["security_protocol"] == "SASL_SSL":
        context = ssl.create_default_context(cafile=options.get("ssl_cafile"))
    return faust.SASLCredentials(
        username=options["sasl_plain_username"],
        password=options["sasl_plain_password"],
        mechanism=options["sasl_mechanism"],
        ssl_context=context,
    )


def changelog_topics(settings: Settings) -> list[str]:
    """The tables' changelog topics, named as Faust names them."""
    return [f"{settings.app_id}-{name}-changelog" for name in TABLES]


def worker_datadir(settings: Settings) -> Path:
    """Each worker on a host needs its own RocksDB directory; the web port names it."""
    return settings.data_dir / "faust" / f"worker-{settings.worker_web_port}"


def create_app(settings: Settings, policy: Policy | None = None) -> faust.App:
    """A configured Faust app with the enforcement agent and web views registered."""
    policy = policy or load_policy(settings.policy_file)
    app = _faust_app(settings)
    source = app.topic(
        settings.topic_crossings,
        settings.topic_permits,
        key_serializer="raw",
        value_serializer="raw",
    )
    decisions = app.topic(settings.topic_decisions, key_serializer="raw", value_serializer="raw")
    deadletters = app.topic(settings.topic_deadletter, key_serializer="raw", value_serializer="raw")

    tables = _faust_tables(app, settings)
    processor = _processor(settings, policy)
    _forget_on_rebalance(app, processor)

    watchdog = CommitWatchdog()

    @app.timer(1.0)  # type: ignore[untyped-decorator]  # faust leaves timer untyped
    async def _repair_acks() -> None:
        consumer: Any = app.consumer  # a ReadCommittedConsumer (streams.worker.transport)
        drop_stale_acks(consumer)
        for tp, offset in watchdog.stuck(consumer):
            log.warning(
                "%s[%d]: commits blocked by a delivered message never acked; re-reading from %d",
                tp.topic,
                tp.partition,
                offset,
            )
            consumer.guarded_seek(tp, offset)

    publisher = _OutputPublisher(app, settings, decisions, deadletters)
    coverage = register_agent(
        app, settings, source, processor=processor, tables=tables, publisher=publisher
    )
    register_views(
        app, tables=tables, processor=processor, policy=policy, settings=settings, coverage=coverage
    )
    return app


def _faust_app(settings: Settings) -> faust.App:
    """The Faust app: read-committed transport, RocksDB tables, the project's web views only."""
    web_url = f"http://127.0.0.1:{settings.worker_web_port}"
    datadir = worker_datadir(settings)
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=[f"{READ_COMMITTED_SCHEME}://{address}" for address in settings.kafka_brokers],
        broker_credentials=worker_credentials(settings),
        store="rocksdb://",
        datadir=str(datadir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,  # changelogs and Faust's own
        topic_allow_declare=True,  # table changelogs: Faust declares them cleanup.policy=compact
        consumer_auto_offset_reset="earliest",
        key_serializer="raw",  # every key and value is bytes (Avro messages and table values)
        value_serializer="raw",
        web_enabled=True,
        # Only the project's /stay/ and /health/: Faust's /table/ views would hand out a
        # traveller's whole stored record, /router/, /graph/ and the stats its internals.
        web_router_enabled=False,
        web_tables_enabled=False,
        web_graph_enabled=False,
        web_stats_enabled=False,
        web_metrics_enabled=False,
        web_bind="127.0.0.1",
        web_host="127.0.0.1",
        web_port=settings.worker_web_port,
        canonical_url=web_url,
        table_standby_replicas=1,
        processing_guarantee=settings.processing_guarantee,
    )
    # Faust stalls the input stream whenever more than 100 table writes wait in its producer
    # buffer, then drains them one by one; a batch writes hundreds at once. Let the buffer absorb a
    # few batches (it still bounds memory) so the stream keeps flowing while it drains.
    app.producer.buffer.max_messages = settings.worker_producer_buffer
    set_fetch_max_wait(app, settings.worker_fetch_max_wait_ms)
    return app


def _faust_tables(app: faust.App, settings: Settings) -> FaustTables:
    """The traveller-state and partition-clock tables (bytes in and out, compact changelogs)."""

    def table(name: str) -> Any:
        return app.Table(
            name,
            default=None,
            key_type=bytes,  # bytes in and out: Faust then uses the raw codec for the store
            value_type=bytes,
            partitions=settings.partitions,
            options=ROCKSDB_OPTIONS,
            extra_topic_configs={"min.insync.replicas": str(settings.min_insync_replicas)},
        )

    direct = settings.processing_guarantee != "exactly_once"
    travellers, clocks = (table(name) for name in TABLES)
    return FaustTables(travellers, clocks, producer=app.producer if direct else None)


def _processor(settings: Settings, policy: Policy) -> Processor:
    """The Faust-free batch processor with the edge checks and output limits of ``settings``."""
    limits = EdgeLimits.from_settings(settings)

    def edge(event: Event, where: Coordinates) -> None:
        topic, key, timestamp_ms = where.topic, where.key, where.timestamp_ms
        check_record(event, limits, settings, topic=topic, key=key, timestamp_ms=timestamp_ms)

    return Processor(
        policy,
        timedelta(seconds=settings.allowed_lateness_seconds),
        edge=edge,
        outputs=OutputLimits(settings.max_message_bytes),
    )


def _forget_on_rebalance(app: faust.App, processor: Processor) -> None:
    """Drop the processor's cache of partitions revoked or (re)assigned by a rebalance."""

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # async receiver: mode awaits it
    async def _forget_partitions(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        # Revoked partitions may come back with state written elsewhere meanwhile: their cached
        # states, clocks and heaps are rebuilt from the tables on next use. args[0]: revoked TPs.
        processor.forget({tp.partition for tp in args[0]})

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # async receiver: mode awaits it
    async def _forget_assigned(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        # A partition (re)assigned here may have been changed elsewhere since it was last held.
        processor.forget({tp.partition for tp in args[0]})


class _OutputPublisher:
    """Sends the processor's outputs: decisions and dead letters."""

    def __init__(
        self, app: faust.App, settings: Settings, decisions: TopicT, deadletters: TopicT
    ) -> None:
        self.app = app
        self.decisions = decisions
        self.deadletters = deadletters
        self.transactional = settings.processing_guarantee == "exactly_once"

    async def publish(self, output: Output, key: bytes | None, value: bytes) -> Awaitable[Any]:
        topic = self.decisions if output is Output.DECISIONS else self.deadletters
        if self.transactional:  # Faust's channel path attaches the partition's transaction
            return await topic.send(key=key, value=value)
        # Straight to the transport producer: Faust's channel path costs ~15% of throughput.
        name = topic.get_topic_name()
        return await self.app.producer.send(name, key, value, None, None, None)
