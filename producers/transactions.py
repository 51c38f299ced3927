"""One kafka-python transactional producer of an :class:`~producers.publisher.EventPublisher`.

The publisher writes inside Kafka transactions under one transactional id for its whole life, so
a producer that failed (a broker restart, an expired batch, a commit that never came back) is
replaced by one with the same id: its ``init_transactions`` fences the old one (the broker refuses
the old one's late writes and commit) and lets the coordinator finish the old transaction, either
committed or aborted. After that a ``read_committed`` read-back of the topics is definitive, and
re-sending exactly what is not there gives every event once to ``read_committed`` readers.
:class:`TransactionalProducer` keeps the state of one such producer: the events sent in its open
transaction, the commit in progress (started without blocking, through kafka-python 3.0.x's
transaction manager, pinned) and its deadline, and the first failure its I/O thread reported.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from producers.delivery import PendingEvent, abandon_producer

log = logging.getLogger(__name__)


class TransactionalProducer:
    """A started transactional producer, its open transaction and its commit in progress.

    ``open`` and ``committing`` hold the publisher's sequence numbers of the events in the open
    transaction and in the one being committed. Not thread-safe: the publisher calls it under its
    own lock; only :meth:`_on_failure` runs on kafka-python's I/O thread (one attribute write).
    """

    def __init__(self, config: dict[str, Any], clock: Callable[[], float]) -> None:
        self._clock = clock
        self._producer = KafkaProducer(**config)
        self._commit_timeout_s = config["delivery_timeout_ms"] / 1000
        self.open: list[int] = []
        self.opened_at = 0.0
        self.committing: list[int] = []
        self._commit: Any = None  # kafka-python TransactionalRequestResult of the commit
        self._commit_deadline = 0.0
        self.failure: str | None = None  # set by the I/O thread, or here

    def init(self) -> None:
        """Fence any older producer of this transactional id (blocks up to ``max_block_ms``)."""
        self._producer.init_transactions()

    def partitions_for(self, topic: str) -> set[int] | None:
        parts: set[int] | None = self._producer.partitions_for(topic)
        return parts

    def send(self, seq: int, pending: PendingEvent) -> None:
        """Add ``pending`` to the open transaction (begun here if none is)."""
        if not self.open:
            self._producer.begin_transaction()
            self.opened_at = self._clock()
        self.open.append(seq)
        future = self._producer.send(
            pending.topic, value=pending.value, key=pending.key, partition=pending.partition
        )
        future.add_errback(self._on_failure)

    def _on_failure(self, error: BaseException) -> None:
        if self.failure is None:
            self.failure = f"{type(error).__name__}: {error}"

    @property
    def is_committing(self) -> bool:
        return self._commit is not None

    def begin_commit(self) -> None:
        """Start committing the open transaction without waiting for it."""
        transactions = self._producer._transaction_manager  # kafka-python 3.0.x (pinned)
        self._commit = transactions.begin_commit()
        self._producer._sender.wakeup()
        self._commit_deadline = self._clock() + self._commit_timeout_s
        self.committing, self.open = self.open, []

    def committed(self) -> list[int]:
        """The events of a commit that completed since the last call (sets :attr:`failure` if it
        failed or outlived its deadline)."""
        if self._commit is None:
            return []
        if not self._commit.is_done:
            if self._clock() > self._commit_deadline and self.failure is None:
                self.failure = f"commit not confirmed within {self._commit_timeout_s:g} s"
            return []
        if self._commit.failed:
            error = self._commit.exception
            self.failure = self.failure or f"commit failed: {type(error).__name__}: {error}"
            return []
        self._commit, done, self.committing = None, self.committing, []
        return done

    def wait(self, timeout: float) -> None:
        """Block up to ``timeout`` seconds for the commit in progress or the open sends."""
        try:
            if self._commit is not None:
                self._commit.wait(timeout_ms=timeout * 1000)
            else:
                self._producer.flush(timeout=timeout)
        except KafkaError as e:  # a failed commit is taken in by committed(); a flush times
            log.debug("wait: %s", e)  # out while the broker is away

    def in_doubt(self) -> list[int]:
        """Every event this producer sent and did not see committed."""
        return sorted(self.committing + self.open)

    def close(self) -> None:
        """Close after the last commit (nothing open): a clean shutdown."""
        self._producer.close(timeout=5)

    def abandon(self) -> None:
        """Drop the producer now; the next one with this transactional id fences what it left."""
        started = time.monotonic()
        abandon_producer(self._producer)
        log.debug("abandoned a transactional producer in %.2f s", time.monotonic() - started)
