"""Faust application factory for the enforcement worker.

``create_app`` builds the app from :class:`Settings`; nothing is created at import time. The agent
reads the co-partitioned crossings and permits topics as raw bytes and is deliberately thin: it
hands each message of a batch (``settings.worker_batch_size`` messages or
``settings.worker_batch_seconds``) to :class:`~streams.worker.processor.Processor`, publishes the
decisions and dead letters it returns, awaits their acknowledgements once per batch, and only then
writes the tables; Faust acks the batch's offsets after that (see the processor's docstring for
why this order makes outputs at-least-once and never lost).

State lives in three Faust tables on RocksDB (the ``rocksdict`` driver), each with a compact-only
changelog, so a worker killed at any point recovers on restart or on another worker:

* ``travellers``: traveller id -> the engine's :class:`TravellerState` as JSON;
* ``schedules``: traveller id -> ``partition|due|prune_at``, the durable form of the deadline
  index (the in-memory heaps are rebuilt from it after a restart or rebalance);
* ``clocks``: ``p<N>`` -> the event-time clock of input partition N.

The web server (``settings.worker_web_port``) serves ``/stay/{traveller}/``, routed by Faust to
the worker that owns the traveller's partition, and ``/health/``.
"""

from __future__ import annotations

import json
import logging
import weakref
from collections.abc import Iterable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import faust
from faust.streams import _current_event

from schemas.codec import encode_emission
from streams.domain.clock import EventClock
from streams.domain.events import Event
from streams.domain.policy import Policy, load_policy
from streams.domain.state import TravellerState, state_from_dict, state_to_dict
from streams.edge import EdgeLimits, check_record
from streams.settings import Settings
from streams.worker.acks import CommitWatchdog, drop_stale_acks
from streams.worker.guard import OutputLimits, exit_within
from streams.worker.processor import (
    BatchOverlay,
    Coordinates,
    Processor,
    Schedule,
    Step,
)
from streams.worker.transport import SCHEME as READ_COMMITTED_SCHEME
from streams.worker.web import register_views

log = logging.getLogger(__name__)

ROCKSDB_OPTIONS = {"driver": "rocksdict"}
TABLES = ("travellers", "schedules", "clocks")


def changelog_topics(settings: Settings) -> list[str]:
    """The tables' changelog topics, named as Faust names them."""
    return [f"{settings.app_id}-{name}-changelog" for name in TABLES]


def worker_datadir(settings: Settings) -> Path:
    """Each worker on a host needs its own RocksDB directory; the web port names it."""
    return settings.data_dir / "faust" / f"worker-{settings.worker_web_port}"


def encode_state(state: TravellerState) -> bytes:
    """The table value of a traveller state (compact JSON)."""
    return json.dumps(state_to_dict(state), separators=(",", ":")).encode()


def decode_state(raw: bytes) -> TravellerState:
    """Inverse of :func:`encode_state`."""
    return state_from_dict(json.loads(raw))


class _Tables:
    """The :class:`~streams.worker.processor.StateReader` over the Faust tables."""

    def __init__(self, travellers: Any, schedules: Any, clocks: Any) -> None:
        self.travellers = travellers
        self.schedules_table = schedules
        self.clocks = clocks

    def traveller(self, traveller_id: str) -> TravellerState | None:
        raw = self.travellers.get(traveller_id.encode())
        return None if raw is None else decode_state(raw)

    def clock(self, partition: int) -> EventClock:
        raw = self.clocks.get(_clock_key(partition))
        return EventClock() if raw is None else EventClock.from_text(raw.decode())

    def schedules(self, partition: int) -> Iterable[tuple[str, Schedule]]:
        for key, raw in self.schedules_table.items():
            yield key.decode(), Schedule.from_text(raw.decode())

    def write(self, partition: int, step: Step) -> None:
        """Apply a step's table writes (inside the agent, after its outputs were acked)."""
        for tid, state in step.states.items():
            key = tid.encode()
            if state is None:
                self.travellers.pop(key, None)
            else:
                self.travellers[key] = encode_state(state)
        for tid, schedule in step.schedules.items():
            key = tid.encode()
            if schedule is None:
                self.schedules_table.pop(key, None)
            else:
                self.schedules_table[key] = schedule.to_text().encode()
        if step.clock is not None:
            self.clocks[_clock_key(partition)] = step.clock.to_text().encode()

    def clock_items(self) -> Iterator[tuple[int, EventClock]]:
        """Clocks of the partitions this worker holds (for /health)."""
        for key, raw in self.clocks.items():
            yield int(key.decode()[1:]), EventClock.from_text(raw.decode())


def _set_current_event(event: Any) -> None:
    """Set Faust's current event for this task only (what ``Stream`` does for each event).

    ``take_events`` buffers in another task, so the batch consumer has no current event of its
    own; table access needs one to pick the partition. The stream object itself is not touched.
    """
    _current_event.set(None if event is None else weakref.ref(event))


def _clock_key(partition: int) -> bytes:
    return f"p{partition}".encode()


def create_app(settings: Settings, policy: Policy | None = None) -> faust.App:
    """A configured Faust app with the enforcement agent and web views registered."""
    policy = policy or load_policy(settings.policy_file)
    web_url = f"http://127.0.0.1:{settings.worker_web_port}"
    datadir = worker_datadir(settings)
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=[f"{READ_COMMITTED_SCHEME}://{address}" for address in settings.kafka_brokers],
        store="rocksdb://",
        datadir=str(datadir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,  # changelogs and Faust's own
        topic_allow_declare=True,  # table changelogs: Faust declares them cleanup.policy=compact
        consumer_auto_offset_reset="earliest",
        key_serializer="raw",  # every key and value is bytes: Avro messages, JSON table values
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
    source = app.topic(
        settings.topic_crossings,
        settings.topic_permits,
        key_serializer="raw",
        value_serializer="raw",
    )
    decisions = app.topic(settings.topic_decisions, key_serializer="raw", value_serializer="raw")
    deadletters = app.topic(settings.topic_deadletter, key_serializer="raw", value_serializer="raw")

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

    tables = _Tables(*(table(name) for name in TABLES))
    limits = EdgeLimits.from_settings(settings)

    def edge(event: Event, where: Coordinates) -> None:
        topic, key, timestamp_ms = where.topic, where.key, where.timestamp_ms
        check_record(event, limits, settings, topic=topic, key=key, timestamp_ms=timestamp_ms)

    processor = Processor(
        policy,
        timedelta(seconds=settings.allowed_lateness_seconds),
        edge=edge,
        outputs=OutputLimits(settings.max_message_bytes),
    )

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # async receiver: mode awaits it
    async def _forget_index(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        # Revoked partitions may come back with state written elsewhere meanwhile: their heaps
        # are rebuilt from the schedules table on next use. args[0] is the set of revoked TPs.
        processor.index.forget({tp.partition for tp in args[0]})

    watchdog = CommitWatchdog()

    @app.timer(1.0)  # type: ignore[untyped-decorator]  # faust leaves timer untyped
    async def _repair_acks() -> None:
        drop_stale_acks(app.consumer)
        for tp, committed in watchdog.stuck(app.consumer):
            log.warning(
                "%s[%d]: commits blocked by unacknowledged offsets from %d on; re-reading from %d",
                tp.topic,
                tp.partition,
                committed,
                committed,
            )
            await app.consumer.seek(tp, committed)

    # concurrency=1: faust-streaming issue 606 commits offsets past in-flight messages otherwise.
    @app.agent(source, concurrency=1)
    async def enforce(stream: Any) -> None:
        try:
            await _enforce(stream)
        except Exception as e:
            # Bad input never gets here (the processor dead-letters it): this is a bug or a
            # broken dependency. Stop the whole worker loudly rather than let Faust restart the
            # agent past the message.
            log.critical("enforcement failed; stopping the worker: %r", e)
            exit_within(settings.worker_shutdown_seconds)
            await app.crash(e)
            raise

    transactional = settings.processing_guarantee == "exactly_once"

    async def publish(topic: Any, key: bytes | None, value: bytes) -> Any:
        """Hand one output to the producer; returns the future of its acknowledgement."""
        if transactional:  # Faust's channel path attaches the partition's transaction
            return await topic.send(key=key, value=value)
        # Straight to the transport producer: Faust's channel path costs ~15% of the throughput.
        return await app.producer.send(topic.get_topic_name(), key, value, None, None, None)

    async def _enforce(stream: Any) -> None:
        batches = stream.take_events(settings.worker_batch_size, settings.worker_batch_seconds)
        async for events in batches:
            overlay = BatchOverlay(tables)
            pending = []
            last_of: dict[int, Any] = {}  # partition -> its last event in the batch
            # Faust reads and writes a table key in the store and changelog partition of the
            # current event (a context variable of this task): make that the event being handled,
            # then, for the writes, an event of the key's partition.
            for event in events:
                _set_current_event(event)
                message = event.message
                where = Coordinates(
                    topic=message.topic,
                    partition=message.partition,
                    offset=message.offset,
                    timestamp_ms=message.timestamp and int(message.timestamp * 1000),
                    key=event.key,
                )
                step = processor.step(event.value, where, overlay)
                overlay.absorb(message.partition, step)
                last_of[message.partition] = event
                for emission in step.emissions:
                    key = emission.decision.traveller_id.encode()
                    pending.append(await publish(decisions, key, encode_emission(emission)))
                if step.dead_letter is not None:
                    pending.append(await publish(deadletters, event.key, step.dead_letter))
            for sent in pending:
                await sent  # acknowledged by the broker before the state moves on
            for partition, merged in overlay.pending.items():
                _set_current_event(last_of[partition])
                tables.write(partition, merged)
            _set_current_event(None)

    register_views(app, tables=tables, processor=processor, policy=policy, settings=settings)
    return app
