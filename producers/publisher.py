"""Publishing domain events to Kafka from gates and issuing authorities, each event once.

:class:`EventPublisher` writes with a kafka-python ``KafkaProducer`` in Kafka transactions
(``acks='all'``): the value is the single-object Avro encoding from :mod:`schemas.codec`, the key
the traveller id (so a traveller's events share a partition), the topic comes from
:func:`schemas.codec.topic_for`. :meth:`EventPublisher.publish` never waits for the broker: the
event joins a bounded local buffer and the open transaction, which is committed once it is
``transaction_ms`` old or holds ``transaction_max_events`` (by the caller's next call or a small
timer thread, so a quiet gate's last events are not held back). An event counts as delivered when
its transaction commits. A full buffer is back-pressure (:class:`PublisherBufferFullError`), never
loss; :meth:`EventPublisher.close` commits, flushes with a timeout and raises
:class:`UndeliveredEventsError` naming every event not in a committed transaction.

Exactly once for ``read_committed`` readers (the worker, the sink): any failure (broker restart,
expired batch, commit not confirmed in time) retires the producer, and its replacement, with the
publisher's one transactional id (:mod:`producers.transactions`), fences it: the broker refuses
the old producer's late writes and finishes its transaction (committed or aborted). Only then
does the publisher read its topics back ``read_committed`` (:mod:`producers.reconcile`), count
what is there as delivered and re-send the rest. Re-sent events may reach the topic after
later ones; the ledger tolerates out-of-order delivery (DOMAIN.md 4.9). A ``read_uncommitted``
reader (a third-party tool) also sees the records of aborted transactions, so it can see an event
twice (once aborted, once committed): read with ``isolation.level=read_committed``.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from kafka.errors import KafkaError

from base.credentials import KafkaRole, kafka_client_security, publisher_transactional_prefix
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
)
from producers.reconcile import delivered_event_ids
from producers.transactions import TransactionalProducer
from schemas.codec import encode_event, topic_for

log = logging.getLogger(__name__)


def new_event_id() -> str:
    """A fresh, globally unique event id, created at the source (the gate or the authority)."""
    return str(uuid.uuid4())


class EventPublisher:
    """Keyed, transactional, never-silently-dropping publisher of domain events.

    Not thread-safe for callers (one publisher per gate or authority thread); its commit timer and
    kafka-python's I/O thread are synchronised internally.
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
        # One id for the publisher's life, so each replacement producer fences the one before;
        # unique per publisher, so two processes with the same client id never fence each other.
        prefix = publisher_transactional_prefix(settings, role)
        self.transactional_id = f"{prefix}{client_id}-{uuid.uuid4().hex[:12]}"
        self._clock = clock
        self._lock = threading.RLock()
        self._pending: dict[int, PendingEvent] = {}  # every event not yet in a committed txn
        self._queue: deque[int] = deque()  # pending events waiting to join a transaction
        self._seq = itertools.count()
        self._txn: TransactionalProducer | None = None
        self._producer_retry_at = 0.0
        self._producer_failures = 0
        self._delivered = 0
        self._failed_attempts = 0
        self._closed = False
        self._partitions: dict[str, int] = {}
        self._in_doubt: set[int] = set()  # sent by a retired producer: read back before re-sending
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None

    # --- public API ------------------------------------------------------------------------------

    def publish(self, event: Event) -> None:
        """Buffer ``event`` and add it to the open transaction; delivery is confirmed by its commit.

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
        with self._lock:
            txn = self._ready_producer()
            try:
                parts = txn.partitions_for(topic) if txn is not None else None
            except KafkaError as e:
                log.warning("no metadata for %s yet (%s); using settings.partitions", topic, e)
                parts = None
        if parts:
            self._partitions[topic] = len(parts)
            return len(parts)
        return self._settings.partitions

    def poll(self) -> None:
        """Send what waits, commit a transaction that is due, take in finished commits."""
        with self._lock:
            self._step(force_commit=False)

    def flush(self, timeout: float) -> bool:
        """Commit and wait up to ``timeout`` s for every buffered event; True when none is left."""
        deadline = self._clock() + timeout
        while True:
            with self._lock:
                self._step(force_commit=True)
                txn = self._txn
            remaining = deadline - self._clock()
            if not self.unacknowledged or remaining <= 0:
                break
            if txn is not None and txn.is_committing:
                txn.wait(min(remaining, 0.5))
            else:
                time.sleep(min(remaining, 0.02))
        return not self.unacknowledged

    def close(self, timeout: float = 30.0) -> DeliveryReport:
        """Commit and flush for up to ``timeout`` seconds, close the producer and report.

        Raises :class:`UndeliveredEventsError` (carrying the report) when events are not in a
        committed transaction; they are listed, never dropped silently. Those whose commit was
        started but not confirmed say so (``in doubt``): read_committed readers may have them.
        """
        self.flush(timeout)
        self._stop.set()
        with self._lock:
            self._closed = True
            txn, self._txn = self._txn, None
            if txn is not None:
                for seq in txn.committing:
                    self._pending[seq].reason = "in doubt: its transaction's commit not confirmed"
            report = self.report()
        if txn is not None:
            if report.undelivered:
                txn.abandon()  # what it holds is in the report, raised below
            else:
                txn.close()
        if report.undelivered:
            raise UndeliveredEventsError(report)
        return report

    def report(self) -> DeliveryReport:
        """Current counts and the events not yet in a committed transaction."""
        with self._lock:
            undelivered = tuple(
                Undelivered(p.event_id, p.event_type, p.topic, p.reason)
                for _, p in sorted(self._pending.items())
            )
            return DeliveryReport(self._delivered, self._failed_attempts, undelivered)

    @property
    def delivered(self) -> int:
        """Events in committed transactions (or found there by a read-back)."""
        return self._delivered

    @property
    def failed_attempts(self) -> int:
        """Failures: each producer that could not start, each event of a failed transaction."""
        return self._failed_attempts

    @property
    def unacknowledged(self) -> int:
        """Events buffered locally, not yet in a committed transaction."""
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
        pending = PendingEvent(event.event_id, event_type(event), topic, key, value, partition)
        with self._lock:
            seq = next(self._seq)
            self._pending[seq] = pending
            self._queue.append(seq)
            self._step(force_commit=False)
        if self._timer is None:
            self._timer = threading.Thread(target=self._commit_timer, daemon=True)
            self._timer.start()

    def _commit_timer(self) -> None:
        """Commit a due transaction even when the caller publishes nothing more."""
        interval = self._config.transaction_ms / 2000
        while not self._stop.wait(interval):
            with self._lock:
                if not self._closed and self._pending:
                    self._step(force_commit=False)

    def _step(self, *, force_commit: bool) -> None:
        """Under the lock: take in a finished commit, retire a failed producer, send what waits,
        start the commit of a due transaction."""
        txn = self._ready_producer()
        if txn is None:
            return
        for seq in txn.committed():
            if self._pending.pop(seq, None) is not None:
                self._delivered += 1
        try:
            if txn.failure is None and not txn.is_committing:
                self._send_queued(txn)
                if txn.open and (force_commit or self._due(txn)):
                    txn.begin_commit()
        except KafkaError as e:
            txn.failure = txn.failure or f"{type(e).__name__}: {e}"
        if txn.failure is not None:
            self._retire(txn, txn.failure)

    def _send_queued(self, txn: TransactionalProducer) -> None:
        now_ms = int(time.time() * 1000)
        while self._queue and len(txn.open) < self._config.transaction_max_events:
            pending = self._pending.get(self._queue[0])
            if pending is not None:
                pending.attempts += 1
                if pending.first_sent_ms is None:
                    pending.first_sent_ms = now_ms
                txn.send(self._queue[0], pending)
            self._queue.popleft()

    def _due(self, txn: TransactionalProducer) -> bool:
        c = self._config
        return (
            len(txn.open) >= c.transaction_max_events
            or self._clock() - txn.opened_at >= c.transaction_ms / 1000
        )

    def _retire(self, txn: TransactionalProducer, reason: str) -> None:
        """Drop a failed producer: what it sent is in doubt until fenced and read back."""
        doubt = txn.in_doubt()
        self._txn = None
        self._failed_attempts += max(1, len(doubt))
        for seq in doubt:
            if seq in self._pending:
                self._pending[seq].reason = reason
                self._in_doubt.add(seq)
        self._queue = deque(sorted({*doubt, *self._queue}))
        log.warning("replacing the Kafka producer (%d events in doubt): %s", len(doubt), reason)
        txn.abandon()

    def _ready_producer(self) -> TransactionalProducer | None:
        """The current producer, or a new one that fenced the last and reconciled its events."""
        if self._txn is not None:
            return self._txn
        if self._clock() < self._producer_retry_at:
            return None
        txn: TransactionalProducer | None = None
        try:
            txn = TransactionalProducer(self._producer_config(), self._clock)
            txn.init()  # fences the producer before it: a read-back after this is definitive
            if self._in_doubt:
                self._reconcile()
        except (KafkaError, LedgerError) as e:
            if txn is not None:
                txn.abandon()
            self._producer_failures += 1
            self._failed_attempts += 1
            backoff = min(
                self._config.backoff_max_s,
                self._config.backoff_initial_s * 2 ** min(self._producer_failures, 16),
            )
            self._producer_retry_at = self._clock() + backoff
            for seq in self._queue:
                if seq in self._pending:
                    self._pending[seq].reason = f"broker unreachable: {type(e).__name__}: {e}"
            log.warning("cannot reach Kafka at %s: %s", self._settings.kafka_bootstrap, e)
            return None
        self._producer_failures = 0
        self._txn = txn
        return txn

    def _reconcile(self) -> None:
        """Count in-doubt events already in committed transactions as delivered (raises if the
        topics cannot be read to their end)."""
        doubt = {self._pending[seq].event_id: seq for seq in self._in_doubt if seq in self._pending}
        if doubt:
            events = [self._pending[seq] for seq in doubt.values()]
            since = min(p.first_sent_ms or 0 for p in events) - 1000  # CreateTime, whole ms
            topics = {p.topic for p in events}
            found = delivered_event_ids(self._settings, topics, since, doubt, role=self._role)
            for event_id in found:
                if self._pending.pop(doubt[event_id], None) is not None:
                    self._delivered += 1
            log.warning(
                "reconciled %d in-doubt events: %d were already committed", len(doubt), len(found)
            )
        self._in_doubt.clear()

    def _producer_config(self) -> dict[str, Any]:
        c = self._config
        return {
            "bootstrap_servers": self._settings.kafka_bootstrap,
            "client_id": self._client_id,
            **kafka_client_security(self._settings, self._role),
            "transactional_id": self.transactional_id,
            "transaction_timeout_ms": c.transaction_timeout_ms,
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
