"""What the publisher promises and reports: its settings, delivery report and errors.

Split from :mod:`producers.publisher` so the publishing logic stays readable; also home of
:func:`abandon_producer`, the way to stop a kafka-python producer that holds undeliverable batches.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from base.errors import LedgerError

log = logging.getLogger(__name__)


class PublisherError(LedgerError):
    """Base of the publisher's errors."""


class PublisherBufferFullError(PublisherError):
    """The local buffer of unacknowledged events is full: the broker has been away too long."""


@dataclass(frozen=True, slots=True)
class Undelivered:
    """One event not in a committed transaction, with the last reason (which says whether its
    transaction's outcome is unknown: a commit that was not confirmed)."""

    event_id: str
    event_type: str
    topic: str
    reason: str


class UndeliveredEventsError(PublisherError):
    """Raised by :meth:`EventPublisher.close` when events remain unacknowledged."""

    def __init__(self, report: DeliveryReport) -> None:
        self.report = report
        listed = ", ".join(u.event_id for u in report.undelivered[:20])
        more = len(report.undelivered) - 20
        super().__init__(
            f"{len(report.undelivered)} event(s) not delivered: {listed}"
            + (f" and {more} more" if more > 0 else "")
            + (f" (last reason: {report.undelivered[-1].reason})" if report.undelivered else "")
        )


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """Counts at a point in time; ``undelivered`` lists what was still unacknowledged."""

    delivered: int
    failed_attempts: int
    undelivered: tuple[Undelivered, ...] = ()


@dataclass(frozen=True, slots=True)
class PublisherConfig:
    """Tuning of the publisher; the defaults suit a local broker."""

    buffer_limit: int = 200_000
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 5.0
    # The open transaction is committed once it is this old or holds this many events: the first
    # bounds how long an event waits to be visible to read_committed readers, both the cost.
    transaction_ms: int = 100
    transaction_max_events: int = 10_000
    # The coordinator aborts a transaction left open this long (a publisher that died).
    transaction_timeout_ms: int = 30_000
    # kafka-python retries internally (idempotently) until this expires; then we take over.
    # A commit not confirmed within it also counts as failed (its outcome is then in doubt).
    delivery_timeout_ms: int = 30_000
    request_timeout_ms: int = 10_000
    # How long send() may block waiting for topic metadata before we buffer and retry ourselves.
    max_block_ms: int = 2_000
    bootstrap_timeout_ms: int = 2_000
    linger_ms: int = 5
    batch_size: int = 64 * 1024
    extra: Mapping[str, Any] = field(default_factory=dict)


def abandon_producer(producer: KafkaProducer) -> None:
    """Stop ``producer`` now, dropping what it holds (its batches' callbacks report failures).

    kafka-python's ``close(timeout=0)`` raises while batches are incomplete and leaves the sender
    thread running, which could still deliver them later; force that thread closed first.
    """
    try:
        producer.close(timeout=0)
        return
    except KafkaError:
        pass
    sender = getattr(producer, "_sender", None)  # kafka-python 3.0.x internals (pinned)
    if sender is not None:
        sender.force_close()
        sender.join(5)
    try:
        producer.close(timeout=0)
    except KafkaError as e:
        log.warning("could not close an abandoned Kafka producer cleanly: %s", e)


@dataclass(slots=True)
class PendingEvent:
    """An event handed to the publisher and not yet acknowledged, with its retry state."""

    event_id: str
    event_type: str
    topic: str
    key: bytes | None
    value: bytes
    partition: int | None
    attempts: int = 0
    reason: str = "not yet sent"
    first_sent_ms: int | None = None  # wall clock of the first attempt (records' CreateTime)
