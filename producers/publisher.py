"""Publishing domain events to Kafka from gates and issuing authorities.

:class:`EventPublisher` wraps a kafka-python ``KafkaProducer`` (idempotent, ``acks='all'``): the
value is the single-object Avro encoding from :mod:`schemas.codec`, the key the traveller id (so a
traveller's events share a partition), the topic comes from :func:`schemas.codec.topic_for`.
Nothing is dropped silently: every event stays in a bounded local buffer until the broker
acknowledges it; a failed send (broker unreachable at start, delivery timeout, ...) is re-sent with
exponential backoff, and :meth:`EventPublisher.close` flushes with a timeout and raises
:class:`UndeliveredEventsError` listing what never got through. A full buffer is back-pressure
(:class:`PublisherBufferFullError`), never loss. Re-sent events may reach the topic after later
ones; the ledger tolerates out-of-order delivery (DOMAIN.md 4.9), and ``event_id`` dedups.

A broker that dies and comes back leaves kafka-python's idempotent producer without a producer id
for good, so any failed delivery retires the producer: what it may have written is *in doubt*,
and a new producer first reads the topics back (:func:`producers.reconcile.delivered_event_ids`),
counting what is there as delivered. Delivery is *at least once*, doubles confined to events once
in doubt (:attr:`EventPublisher.in_doubt_ids`): only transactions fence a retired producer (its
request on the wire can land after the read-back), and a producer without its id retries without
sequence numbers. A repeated ``event_id`` is a no-op for the engine; the store keeps each message.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from base.credentials import KafkaRole, kafka_client_security
from base.errors import LedgerError
from base.settings import Settings
from domain.events import Event, GateHeartbeat, event_type
from producers.delivery import (
    DeliveryReport,
    PendingEvent,
    PublisherBufferFullError,
    PublisherConfig,
    PublisherError,
    Undelivered,
    UndeliveredEventsError,
    abandon_producer,
)
from producers.reconcile import delivered_event_ids
from schemas.codec import encode_event, topic_for

log = logging.getLogger(__name__)


def new_event_id() -> str:
    """A fresh, globally unique event id, created at the source (the gate or the authority)."""
    return str(uuid.uuid4())


class EventPublisher:
    """Idempotent, keyed, never-silently-dropping publisher of domain events.

    Not thread-safe for callers (one publisher per gate or authority thread); the delivery
    callbacks from kafka-python's I/O thread are synchronised internally.
    """

    def __init__(
        self,
        settings: Settings,
        config: PublisherConfig | None = None,
        *,
        client_id: str = "border-ledger-publisher",
        clock: Callable[[], float] = time.monotonic,
        role: KafkaRole = "gate",
    ) -> None:
        self._settings = settings
        self._role: KafkaRole = role  # whose Kafka credentials: "gate" or "authority"
        self._config = config or PublisherConfig()
        self._client_id = client_id
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[int, PendingEvent] = {}
        self._seq = itertools.count()
        self._producer: KafkaProducer | None = None
        self._producer_retry_at = 0.0
        self._producer_failures = 0
        self._delivered = 0
        self._failed_attempts = 0
        self._closed = False
        self._partitions: dict[str, int] = {}
        self._next_poll = 0.0
        self._generation = 0  # of the current producer; failures of older ones are stale
        self._retire = False  # the current producer failed a delivery: replace it
        self._in_doubt = False  # events of a retired producer await reconciliation
        self._in_doubt_ids: set[str] = set()

    # --- public API ------------------------------------------------------------------------------

    def publish(self, event: Event) -> None:
        """Buffer ``event`` and hand it to Kafka; delivery is confirmed asynchronously.

        A :class:`GateHeartbeat` goes to every crossings partition (:meth:`send_heartbeats`), so
        every partition's watermark advances: there is no other way to publish one.
        """
        if isinstance(event, GateHeartbeat):
            self.send_heartbeats(event.port, event.occurred_at, event.event_id)
            return
        self._enqueue(event, topic_for(event, self._settings), event.traveller_id.encode(), None)

    def publish_all(self, events: Iterable[Event]) -> int:
        """Publish every event in order; return how many were handed over."""
        n = 0
        for event in events:
            self.publish(event)
            n += 1
        return n

    def send_heartbeats(
        self, port: str, occurred_at: datetime, event_id: str | None = None
    ) -> list[GateHeartbeat]:
        """Send a :class:`GateHeartbeat` to every partition of the crossings topic.

        Each partition's watermark must advance, so the beat goes explicitly to each one (key
        ``None``). Every copy has its own event id: fresh ones, or ``<event_id>.p<partition>``
        when replaying a heartbeat that already has an id. Returns the heartbeats sent.
        """
        topic = self._settings.topic_crossings
        beats = []
        for partition in range(self.partition_count(topic)):
            beat_id = new_event_id() if event_id is None else f"{event_id}.p{partition}"
            beat = GateHeartbeat(event_id=beat_id, occurred_at=occurred_at, port=port)
            self._enqueue(beat, topic, None, partition)
            beats.append(beat)
        return beats

    def partition_count(self, topic: str) -> int:
        """Partitions of ``topic`` as the broker reports them (settings as a fallback)."""
        if topic in self._partitions:
            return self._partitions[topic]
        producer = self._ensure_producer()
        if producer is not None:
            try:
                parts = producer.partitions_for(topic)
            except KafkaError as e:
                log.warning("no metadata for %s yet (%s); using settings.partitions", topic, e)
            else:
                if parts:
                    self._partitions[topic] = len(parts)
                    return len(parts)
        return self._settings.partitions

    def poll(self) -> None:
        """Re-send buffered events whose backoff has elapsed (called by publish and flush too)."""
        now = self._clock()
        with self._lock:
            due = [
                (seq, p)
                for seq, p in self._pending.items()
                if not p.in_flight and p.next_attempt <= now
            ]
        for seq, pending in due:
            self._dispatch(seq, pending)

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every buffered event; True when none is left."""
        deadline = self._clock() + timeout
        while True:
            self.poll()
            producer = self._producer
            remaining = deadline - self._clock()
            if not self.unacknowledged or remaining <= 0:
                break
            if producer is not None and self._any_in_flight():
                try:
                    producer.flush(timeout=min(remaining, 1.0))
                except KafkaError as e:  # a timeout here is expected while the broker is away
                    log.debug("flush: %s", e)
            else:
                time.sleep(min(remaining, 0.05))
        return not self.unacknowledged

    def close(self, timeout: float = 30.0) -> DeliveryReport:
        """Flush for up to ``timeout`` seconds, close the producer and report.

        Raises :class:`UndeliveredEventsError` (carrying the report) when events remain
        unacknowledged; they are listed, never dropped silently.
        """
        self.flush(timeout)
        self._closed = True
        report = self.report()
        if self._producer is not None:
            if report.undelivered:
                abandon_producer(self._producer)  # what it holds is in the report, raised below
            else:
                self._producer.close(timeout=5)
            self._producer = None
        if report.undelivered:
            raise UndeliveredEventsError(report)
        return report

    def report(self) -> DeliveryReport:
        """Current counts and the events not yet acknowledged."""
        with self._lock:
            undelivered = tuple(
                Undelivered(p.event_id, p.event_type, p.topic, p.reason)
                for _, p in sorted(self._pending.items())
            )
            return DeliveryReport(self._delivered, self._failed_attempts, undelivered)

    @property
    def delivered(self) -> int:
        """Events acknowledged by the broker."""
        return self._delivered

    @property
    def failed_attempts(self) -> int:
        """Send attempts that failed and were (or will be) retried."""
        return self._failed_attempts

    @property
    def in_doubt_ids(self) -> frozenset[str]:
        """Events sent by a producer that then failed: the only ones Kafka may hold twice."""
        with self._lock:
            return frozenset(self._in_doubt_ids)

    @property
    def unacknowledged(self) -> int:
        """Events buffered locally, not yet acknowledged."""
        with self._lock:
            return len(self._pending)

    def __enter__(self) -> EventPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals -------------------------------------------------------------------------------

    def _enqueue(self, event: Event, topic: str, key: bytes | None, partition: int | None) -> None:
        if self._closed:
            raise PublisherError("publisher is closed")
        value = encode_event(event)
        if len(self._pending) >= self._config.buffer_limit:
            self.flush(self._config.backoff_max_s)
            if self.unacknowledged >= self._config.buffer_limit:
                raise PublisherBufferFullError(
                    f"{self.unacknowledged} events unacknowledged (limit "
                    f"{self._config.buffer_limit}); last reason: {self._last_reason()}"
                )
        seq = next(self._seq)
        pending = PendingEvent(event.event_id, event_type(event), topic, key, value, partition)
        with self._lock:
            self._pending[seq] = pending
        self._dispatch(seq, pending)
        if self._failed_attempts and self._clock() >= self._next_poll:
            self._next_poll = self._clock() + self._config.backoff_initial_s / 2
            self.poll()

    def _dispatch(self, seq: int, pending: PendingEvent) -> None:
        if pending.next_attempt > self._clock():
            return
        producer = self._ensure_producer()
        if producer is None:
            self._retry_later(seq, "broker unreachable (no producer)")
            return
        with self._lock:
            pending.in_flight = True
            pending.attempts += 1
            if pending.first_sent_ms is None:
                pending.first_sent_ms = int(time.time() * 1000)
        try:
            future = producer.send(
                pending.topic, value=pending.value, key=pending.key, partition=pending.partition
            )
        except KafkaError as e:
            with self._lock:
                pending.in_flight = False
            self._retry_later(seq, f"{type(e).__name__}: {e}")
            return
        future.add_callback(self._on_success, seq)
        future.add_errback(self._on_failure, seq, self._generation)

    def _on_success(self, seq: int, _metadata: object) -> None:
        with self._lock:
            if self._pending.pop(seq, None) is not None:
                self._delivered += 1

    def _on_failure(self, seq: int, generation: int, error: BaseException) -> None:
        with self._lock:
            if generation == self._generation:
                self._retire = True
        self._retry_later(seq, f"{type(error).__name__}: {error}")

    def _retry_later(self, seq: int, reason: str) -> None:
        with self._lock:
            pending = self._pending.get(seq)
            if pending is None:
                return
            self._failed_attempts += 1
            pending.in_flight = False
            pending.reason = reason
            backoff = min(
                self._config.backoff_max_s,
                self._config.backoff_initial_s * 2 ** min(pending.attempts, 16),
            )
            pending.next_attempt = self._clock() + backoff

    def _ensure_producer(self) -> KafkaProducer | None:
        if self._retire:
            self._retire_producer()
        if self._producer is not None:
            return self._producer
        if self._clock() < self._producer_retry_at:
            return None
        try:
            if self._in_doubt:
                self._reconcile()
            self._producer = KafkaProducer(**self._producer_config())
        except (KafkaError, LedgerError) as e:
            self._producer_failures += 1
            backoff = min(
                self._config.backoff_max_s,
                self._config.backoff_initial_s * 2 ** min(self._producer_failures, 16),
            )
            self._producer_retry_at = self._clock() + backoff
            log.warning("cannot reach Kafka at %s: %s", self._settings.kafka_bootstrap, e)
            return None
        self._producer_failures = 0
        return self._producer

    def _retire_producer(self) -> None:
        """Drop a producer that failed a delivery; what it sent is in doubt until reconciled."""
        with self._lock:
            self._retire = False
            self._generation += 1
            self._in_doubt = True
            old, self._producer = self._producer, None
            for pending in self._pending.values():  # the old producer never reports on them
                pending.in_flight = False
        if old is not None:
            log.warning("replacing the Kafka producer after a failed delivery")
            abandon_producer(old)

    def _reconcile(self) -> None:
        """Count in-doubt events already on their topics as delivered (raises if unreadable)."""
        with self._lock:
            doubt = {p.event_id: seq for seq, p in self._pending.items() if p.attempts}
            stamps = [p.first_sent_ms for p in self._pending.values() if p.first_sent_ms]
            topics = {p.topic for p in self._pending.values() if p.attempts}
        if doubt:
            since = min(stamps) - 1000  # CreateTime is our clock, in whole milliseconds
            found = delivered_event_ids(self._settings, topics, since, doubt, role=self._role)
            with self._lock:
                for event_id in found:
                    if self._pending.pop(doubt[event_id], None) is not None:
                        self._delivered += 1
                self._in_doubt_ids |= doubt.keys()
            log.warning(
                "reconciled %d in-doubt events: %d were already in Kafka", len(doubt), len(found)
            )
        self._in_doubt = False

    def _producer_config(self) -> dict[str, Any]:
        c = self._config
        return {
            "bootstrap_servers": self._settings.kafka_bootstrap,
            "client_id": self._client_id,
            **kafka_client_security(self._settings, self._role),
            "enable_idempotence": True,
            "acks": "all",
            "delivery_timeout_ms": c.delivery_timeout_ms,
            "request_timeout_ms": c.request_timeout_ms,
            "max_block_ms": c.max_block_ms,
            "bootstrap_timeout_ms": c.bootstrap_timeout_ms,
            "linger_ms": c.linger_ms,
            "batch_size": c.batch_size,
            **c.extra,
        }

    def _any_in_flight(self) -> bool:
        with self._lock:
            return any(p.in_flight for p in self._pending.values())

    def _last_reason(self) -> str:
        with self._lock:
            return next(reversed(self._pending.values())).reason if self._pending else ""


__all__ = [
    "DeliveryReport",
    "EventPublisher",
    "PublisherBufferFullError",
    "PublisherConfig",
    "PublisherError",
    "Undelivered",
    "UndeliveredEventsError",
    "new_event_id",
]
