"""The sink's calls into the store: retried with backoff while the store is unreachable, and
inserts that stay exact after a failed attempt (rows that did land are not inserted again).

Retries never give up: the sink blocks rather than skipping data, until the store is back or the
sink is asked to stop (:class:`Stopped`; the unflushed batch is then re-read by the next run).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from base.errors import LedgerError
from streams.store.base import Store, StoreUnavailableError, Table, TopicPartition

log = logging.getLogger("streams.sink")

T = TypeVar("T")
_MAX_BACKOFF_SECONDS = 10.0


class SinkError(LedgerError):
    """The sink cannot run (Kafka unreachable at start, or it was stopped mid-flush)."""


class Fenced(Exception):
    """Internal: the sink no longer holds its partitions in the group; the batch must not land."""


class Stopped(Exception):
    """Internal: stop requested while waiting; the unflushed batch is left for the next run."""


@dataclass(slots=True)
class SinkStats:
    """Counters of one sink run."""

    consumed: int = 0
    inserted: dict[str, int] = field(default_factory=lambda: {t.value: 0 for t in Table})
    already_stored: int = 0
    undecodable: dict[str, int] = field(default_factory=dict)
    flushes: int = 0
    store_retries: int = 0

    def add_skipped(self, batch: SinkStats) -> None:
        """Add a stored batch's records that were already stored or undecodable."""
        self.already_stored += batch.already_stored
        for topic, n in batch.undecodable.items():
            self.undecodable[topic] = self.undecodable.get(topic, 0) + n

    def summary(self) -> str:
        """One line for progress reports."""
        rows = ", ".join(f"{k} {v}" for k, v in self.inserted.items())
        bad = sum(self.undecodable.values())
        return (
            f"consumed {self.consumed}; inserted {rows}; already stored {self.already_stored}; "
            f"undecodable {bad} {dict(sorted(self.undecodable.items()))}; "
            f"flushes {self.flushes}; store retries {self.store_retries}"
        )


class StoreCalls:
    """The sink's store operations with retries; ``stop`` ends a wait for the store."""

    def __init__(self, store: Store, stats: SinkStats) -> None:
        self.store = store
        self.stats = stats
        self.stop = threading.Event()
        self.fence: Callable[[], bool] = lambda: True  # False: another sink may hold the rows

    def insert_exactly(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """Insert ``rows``; after a failed attempt, first drop rows that did land."""
        attempt = 0
        while True:
            try:
                if attempt:
                    if not self.fence():
                        raise Fenced()
                    rows = self._not_yet_stored(table, rows)
                    if not rows:
                        return
                self.store.insert(table, rows)
                return
            except StoreUnavailableError as e:
                attempt += 1
                self._backoff(attempt, e)

    def _not_yet_stored(self, table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        by_tp: dict[TopicPartition, list[int]] = {}
        for row in rows:
            by_tp.setdefault((row["kafka_topic"], row["kafka_partition"]), []).append(
                row["kafka_offset"]
            )
        present: set[tuple[str, int, int]] = set()
        for (topic, partition), offsets in by_tp.items():
            for o in self.store.stored_offsets(
                table, topic, partition, min(offsets), max(offsets) + 1
            ):
                present.add((topic, partition, o))
        if present:
            log.info("sink: %d rows of the failed batch had landed; not re-inserted", len(present))
        return [
            r
            for r in rows
            if (r["kafka_topic"], r["kafka_partition"], r["kafka_offset"]) not in present
        ]

    def retry(self, op: Callable[[], T]) -> T:
        attempt = 0
        while True:
            try:
                return op()
            except StoreUnavailableError as e:
                attempt += 1
                self._backoff(attempt, e)

    def _backoff(self, attempt: int, error: Exception) -> None:
        self.stats.store_retries += 1
        delay = min(0.2 * 2 ** min(attempt, 10), _MAX_BACKOFF_SECONDS)
        log.warning(
            "sink: store unavailable (attempt %d), retrying in %.1fs: %s", attempt, delay, error
        )
        if self.stop.wait(delay):
            raise Stopped()
