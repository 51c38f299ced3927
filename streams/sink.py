"""The ClickHouse sink: Kafka topics to the append-only audit tables, exactly once.

A kafka-python consumer in the sink group (``streams.sink_group``) reads the crossings, permits,
decisions and dead-letter topics: sinks in several processes share the partitions, and Kafka's
tools show their lag; but the store, not Kafka, holds the offsets each partition resumes from
(the group's commits mirror them and fence each flush). Messages are
decoded with ``schemas.codec`` and buffered; a batch is flushed when it reaches
``settings.sink_batch_size`` rows or is ``settings.sink_flush_seconds`` old.

Exactly-once design. Every stored row carries its Kafka coordinates (topic, partition, offset),
and each (topic, partition) feeds exactly one table. A flush is:

1. one INSERT per table of the batch's rows;
2. then one INSERT into ``sink_offsets`` of each partition's next offset (the *committed point*).

Neither step is atomic with the other, and step 1 is not atomic either: ClickHouse writes one
part per ``PARTITION BY`` month, so a crash or a broken connection can leave any subset of a
batch's months stored. Exactness therefore never relies on atomicity:

* Whenever the group gives the sink a partition, it reads the committed point ``c`` and the set
  ``S`` of offsets ``>= c`` already in that partition's table (at most one batch: everything below
  the previous flush's committed point is below ``c``). It reads from ``c`` on (seeking there,
  unless the poll that assigned the partition returned its records from ``c`` on already) and
  skips offsets in ``S``. Rows from a half-done batch are thus neither lost (missing offsets are
  re-read) nor duplicated (present ones are skipped).
* When an INSERT fails with a broken connection (:class:`StoreUnavailableError`) the server may
  or may not have stored some parts; before retrying, the sink asks which of the batch's offsets
  are now present and inserts only the rest. Retries back off up to 10 s and never give up: the
  sink blocks rather than skipping data. Other store errors stop the sink loudly; a restart then
  resumes exactly as above.

A decision row also keeps the Kafka timestamp of its message as ``emitted_at``: when the ledger
published the emission, its knowledge time for as-of queries (``streams.audit``).

Messages on any topic that do not decode are not the sink's to repair (the worker dead-letters
bad input): they are counted per topic, logged with their coordinates, and passed over; their
offsets still advance the committed point. The startup scan of ``S`` reads the coordinate columns
of the partition's table once; no other read happens on the hot path.

The main job can run a :class:`Sink` in a thread (chDB allows one engine per process): call
:meth:`Sink.end_offsets` first, then :meth:`Sink.run` with a stop event, and poll
:meth:`Sink.caught_up` (true once the store holds everything below those offsets, whichever
sink of the group stored it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from base.errors import LedgerError
from base.settings import Settings
from schemas.mapping import Coordinates
from streams.sink_group import Rebalances, claim, commit_to_group, mirror_to_group, sink_group
from streams.sink_kafka import open_consumer, topic_partitions
from streams.sink_retry import Fenced, SinkError, SinkStats, Stopped, StoreCalls
from streams.sink_rows import SinkRows, record_time, storable
from streams.store.base import Store, Table, TopicPartition
from streams.trust.sinklog import SinkLog

__all__ = ["Sink", "SinkError", "SinkStats", "record_time"]

log = logging.getLogger(__name__)

_REPORT_SECONDS = 5.0


class Sink:
    """Consumes the ledger topics into a :class:`Store`, exactly once (see module docstring)."""

    def __init__(self, settings: Settings, store: Store, *, client_id: str = "ledger-sink"):
        self.settings = settings
        self.store = store
        self.client_id = client_id
        self.stats = SinkStats()
        self._tables: dict[str, Table] = {
            settings.topic_crossings: Table.EVENTS,
            settings.topic_permits: Table.EVENTS,
            settings.topic_decisions: Table.DECISIONS,
            settings.topic_deadletter: Table.DEAD_LETTERS,
        }
        self._lock = threading.Lock()
        self._committed: dict[TopicPartition, int] = {}
        self._pending: dict[Table, list[dict[str, Any]]] = {t: [] for t in Table}
        self._pending_rows = 0
        # Counted into the stats when the batch is stored: a dropped batch is read again.
        self._pending_skipped = SinkStats()
        self._pending_next: dict[TopicPartition, int] = {}
        self._mirrored: dict[TopicPartition, int] = {}  # the last flush's points, sent to the group
        self._pending_since: float | None = None
        self._skip: dict[TopicPartition, set[int]] = {}
        self._stop = threading.Event()
        self._calls = StoreCalls(store, self.stats)
        self._rows = SinkRows(settings)
        self.merkle = SinkLog(settings, store)

    # -- public API ---------------------------------------------------------------------------

    def end_offsets(self, timeout_seconds: float = 60.0) -> dict[TopicPartition, int]:
        """The current end offset of every partition of the four topics that has something to
        store (own short consumer): a partition whose records all expired is left out."""
        consumer = open_consumer(self.settings, self.client_id)
        try:
            tps = topic_partitions(consumer, self._tables, self._stop, timeout_seconds)
            ends = consumer.end_offsets(tps)
            beginnings = consumer.beginning_offsets(tps)
            return {
                (tp.topic, tp.partition): int(end)
                for tp, end in ends.items()
                if int(end) > int(beginnings[tp])
            }
        finally:
            consumer.close()

    def caught_up(self, end_offsets: Mapping[TopicPartition, int]) -> bool:
        """Whether this sink holds partitions and the store holds every record below
        ``end_offsets``: the partitions it holds are checked against its own stored points, the
        others against the points the store records for them (other sinks of the group store
        those). Holding only some partitions is not enough: a fresh group's first assignment can
        precede the metadata of all its topics, and only a rebalance moments later hands out the
        rest, so a partition nobody holds yet counts as not stored."""
        with self._lock:
            held = dict(self._committed)
        if not held or any(held[tp] < end for tp, end in end_offsets.items() if tp in held):
            return False
        others = {tp: end for tp, end in end_offsets.items() if tp not in held and end > 0}
        if not others:
            return True
        stored = self._calls.retry(self.store.committed_offsets)
        return all(stored.get(tp, 0) >= end for tp, end in others.items())

    def committed(self) -> dict[TopicPartition, int]:
        """Per partition held, the next offset not yet durably stored (as of the last flush)."""
        with self._lock:
            return dict(self._committed)

    def run(
        self,
        stop: threading.Event | None = None,
        until: Mapping[TopicPartition, int] | None = None,
    ) -> SinkStats:
        """Consume and store until ``stop`` is set, or until caught up with ``until`` if given.

        Pending rows are flushed before returning. Store outages block (with backoff) until the
        store is back or ``stop`` is set, in which case the unflushed batch is simply re-read by
        the next run.
        """
        self._stop = stop or threading.Event()
        self._calls.stop = self._stop
        consumer: Any = None
        try:
            if not self.store.migrated:  # the caller's migration of this store object stands
                self._calls.retry(self.store.migrate)
            consumer = open_consumer(self.settings, self.client_id, sink_group(self.settings))
            rebalances = Rebalances()
            topics = {tp.topic for tp in topic_partitions(consumer, self._tables, self._stop)}
            consumer.subscribe(sorted(topics), listener=rebalances)
            self._calls.fence = lambda: self._fence(consumer)
            last_report = time.monotonic()
            while not self._stop.is_set():
                if until is not None and self.caught_up(until):
                    break
                self._poll_once(consumer, rebalances)
                if self._due(until):
                    self._flush(consumer)
                elif not self._pending_next:  # every leaf is stored: a timed checkpoint may sign
                    self._calls.retry(lambda: self.merkle.sign_due(self._committed))
                if time.monotonic() - last_report >= _REPORT_SECONDS:
                    log.info("sink: %s", self.stats.summary())
                    last_report = time.monotonic()
            self._flush(consumer)
            # The last flush's mirror may be in flight (closing drops it): sent again, waited
            # for, for the partitions still held at that point (another sink may hold the rest).
            last = {tp: o for tp, o in self._mirrored.items() if self._committed.get(tp) == o}
            if last:
                commit_to_group(consumer, last)
            self._calls.retry(lambda: self.merkle.sign_due(self._committed, everything=True))
        except Stopped:
            log.warning("sink: stopped with an unflushed batch; the next run re-reads it")
        finally:
            if consumer is not None:
                consumer.close()
            self.merkle.close()
        log.info("sink: done; %s", self.stats.summary())
        return self.stats

    # -- consuming ----------------------------------------------------------------------------

    def _poll_once(self, consumer: Any, rebalances: Rebalances) -> None:
        """One poll: act on a rebalance it completed, take the records of partitions held."""
        batch = consumer.poll(
            timeout_ms=int(self._poll_timeout() * 1000),
            max_records=self.settings.sink_batch_size,
        )
        fetched = {(tp.topic, tp.partition): records for tp, records in batch.items() if records}
        claimed = self._rebalanced(consumer, rebalances, fetched) if rebalances.changed else {}
        held = self._committed
        # One ingestion instant per poll: its rows share the second, checked storable once.
        now = datetime.now(UTC)
        now_storable = storable(now)
        for key, records in fetched.items():
            # Records of a partition no longer held are its new holder's; those of a partition
            # claimed just now are taken from its stored point if the poll read them from there
            # (see sink_group.claim), else it was sought there and they are read again.
            if key not in held:
                continue
            start = claimed.get(key, -1) if claimed else -1
            if start is None:
                continue
            for record in records:
                if record.offset >= start:
                    self._take(record, now, now_storable)
        self._step_over_markers(consumer)

    def _rebalanced(
        self,
        consumer: Any,
        rebalances: Rebalances,
        fetched: Mapping[TopicPartition, list[Any]],
    ) -> dict[TopicPartition, int | None]:
        """Act on the rebalance ``poll`` just completed; per partition claimed, the offset from
        which the poll's records are taken (None: it was sought, they are read again).

        A revocation drops the unflushed batch (nothing of it is stored: its partitions' next
        holder re-reads it from the stored point) and every partition still held is claimed
        again, so none resumes past the dropped rows.
        """
        revoked, assigned = rebalances.take()
        claim = set(assigned)
        if revoked:
            claim |= set(self._committed) - revoked
            self._drop_pending()
            self._forget(set(self._committed))
        log.info("sink: rebalanced; revoked %s, claiming %s", sorted(revoked), sorted(claim))
        spans = {tp: (r[0].offset, r[-1].offset) for tp, r in fetched.items() if tp in claim}
        return self._claim(consumer, claim, spans)

    def _fence(self, consumer: Any) -> bool:
        """Whether this sink still holds its partitions in the group's current generation (a
        commit of the points already stored fails otherwise); checked before every insert."""
        with self._lock:
            stored = {tp: self._committed[tp] for tp in self._pending_next if tp in self._committed}
        return commit_to_group(consumer, stored)

    def _drop_pending(self) -> None:
        self._pending = {t: [] for t in Table}
        self._pending_rows = 0
        self._pending_skipped = SinkStats()
        self._pending_next = {}
        self._pending_since = None

    def _forget(self, tps: set[TopicPartition]) -> None:
        with self._lock:
            for tp in tps:
                self._committed.pop(tp, None)
                self._skip.pop(tp, None)
        self.merkle.forget(tps)

    def _claim(
        self,
        consumer: Any,
        tps: set[TopicPartition],
        fetched: Mapping[TopicPartition, tuple[int, int]] | None = None,
    ) -> dict[TopicPartition, int | None]:
        """Seek ``tps`` to their points stored in ClickHouse (unless ``fetched`` already holds
        their records from there); load the offsets stored above. Returns, per partition, the
        point from which the fetched records are kept (None: sought)."""
        claimed = claim(
            consumer,
            tps,
            calls=self._calls,
            tables=self._tables,
            merkle=self.merkle,
            fetched=fetched,
        )
        kept: dict[TopicPartition, int | None] = {}
        for tp, (start, present, from_fetched) in claimed.items():
            self._skip[tp] = present
            with self._lock:
                self._committed[tp] = start
            kept[tp] = start if from_fetched else None
        return kept

    def _step_over_markers(self, consumer: Any) -> None:
        """Advance the pending point to the consumer's position where it moved past no record.

        Transaction markers and aborted records take offsets but are never returned; without
        this, a partition whose last offset is a marker would never count as caught up.
        """
        for tp in consumer.assignment():
            key: TopicPartition = (tp.topic, tp.partition)
            if key not in self._committed:  # not claimed (yet)
                continue
            position = consumer.position(tp)
            if position is not None and position > self._pending_next.get(
                key, self._committed.get(key, 0)
            ):
                self._pending_next[key] = position
                if self._pending_since is None:
                    self._pending_since = time.monotonic()

    def _take(self, record: Any, now: datetime, now_storable: bool) -> None:
        key: TopicPartition = (record.topic, record.partition)
        offset = int(record.offset)
        self.stats.consumed += 1
        self._pending_next[key] = offset + 1
        if self._pending_since is None:
            self._pending_since = time.monotonic()
        skip = self._skip.get(key)
        if skip and offset in skip:
            skip.discard(offset)
            self._pending_skipped.already_stored += 1
            self.merkle.already_stored(key, record.value)
            return
        table = self._tables[record.topic]
        at = Coordinates(record.topic, record.partition, offset)
        try:
            row = self._rows.row(table, record, at, now, now_storable)
        except LedgerError as e:
            bad = self._pending_skipped.undecodable
            bad[record.topic] = bad.get(record.topic, 0) + 1
            log.warning(
                "sink: skipping undecodable message %s[%d]@%d: %s",
                record.topic,
                record.partition,
                offset,
                e,
            )
            return
        self.merkle.stamp(key, record.value, row)
        self._pending[table].append(row)
        self._pending_rows += 1

    # -- flushing -----------------------------------------------------------------------------

    def _poll_timeout(self) -> float:
        if self._pending_since is None:
            return min(self.settings.sink_flush_seconds, 0.5)
        left = self.settings.sink_flush_seconds - (time.monotonic() - self._pending_since)
        return max(0.0, min(left, 0.5))

    def _due(self, until: Mapping[TopicPartition, int] | None) -> bool:
        if not self._pending_next:
            return False
        if self._pending_rows >= self.settings.sink_batch_size:
            return True
        assert self._pending_since is not None
        if time.monotonic() - self._pending_since >= self.settings.sink_flush_seconds:
            return True
        # Reached the target everywhere: no point waiting for more.
        return until is not None and all(
            self._pending_next.get(tp, self._committed.get(tp, -1)) >= end
            for tp, end in until.items()
        )

    def _flush(self, consumer: Any) -> None:
        if not self._pending_next:
            return
        try:
            if not self._fence(consumer):
                raise Fenced()
            for table, rows in self._pending.items():
                if rows:
                    self._calls.insert_exactly(table, rows)
                    self.stats.inserted[table.value] += len(rows)
        except Fenced:
            # Evicted, or a rebalance under way: another sink may hold these partitions now.
            # Nothing of the batch is stored; claim every held partition again from the store.
            held = set(self._committed)
            self._drop_pending()
            self._forget(held)
            self._claim(consumer, held)
            return
        progress = dict(self._pending_next)
        self._calls.retry(lambda: self.store.commit_offsets(progress, datetime.now(UTC)))
        with self._lock:
            self._committed.update(progress)
        self.stats.add_skipped(self._pending_skipped)
        # For Kafka's tools: not waited for (the next fence's commit, sent after it on the same
        # connection, waits for both; the run's end commits the last one again and waits).
        mirror_to_group(consumer, progress)
        self._mirrored = progress
        self._drop_pending()
        self.stats.flushes += 1
        self._calls.retry(lambda: self.merkle.sign_due(self._committed))
        log.debug("sink: flushed; %s", self.stats.summary())
