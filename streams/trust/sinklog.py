"""The sink's side of the Merkle logs: stamp each stored row with its leaf, sign checkpoints.

One :class:`~streams.trust.merkle.Frontier` per (topic, partition). Every record the sink stores
becomes the next leaf of its partition's log (``leaf_index``, ``leaf_hash`` of the exact Kafka
value, and the value itself, base64, beside the row); records the sink skips as undecodable are
not stored and so are not leaves. On start the frontier is rebuilt from the leaf hashes already
stored below the committed point, and offsets above it that the sink finds already stored are
appended again as they are re-read (the same bytes in the same order give the same leaves), so a
crash anywhere, even between storing rows and signing, resumes the same log.

After a flush has committed its offsets, a log whose tree grew by ``checkpoint_every`` leaves,
or that has unsigned leaves older than ``checkpoint_seconds``, gets a signed checkpoint: inserted
into the ``checkpoints`` table, then published on ``topic_checkpoints`` (key: the log id). The
sink signs whatever is outstanding when it stops cleanly.
"""

from __future__ import annotations

import binascii
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from base.settings import Settings
from streams.store.base import Store, Table, TopicPartition, quote_identifier
from streams.trust.checkpoint import CHECKPOINT_COLUMNS, Checkpoint, log_id
from streams.trust.keys import Signer
from streams.trust.merkle import Frontier, leaf_hash
from streams.trust.publish import Publisher

log = logging.getLogger(__name__)


class SinkLog:
    """The Merkle logs of the partitions one sink stores (see module docstring)."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.enabled = settings.sink_merkle != 0
        self._frontiers: dict[TopicPartition, Frontier] = {}
        self._signed_size: dict[TopicPartition, int] = {}
        self._unsigned_since: dict[TopicPartition, float] = {}
        self._publisher = Publisher(settings, "sink", "ledger-sink-checkpoints")
        self.signer: Signer | None = None
        self.checkpoints_signed = 0
        key = settings.signing_key.expanduser()
        if self.enabled and key.exists():
            self.signer = Signer.load(key)
        elif self.enabled:
            log.warning(
                "sink: no signing key at %s: leaves are stored but no checkpoint is signed "
                "(create one with `ledger keys init`)",
                key,
            )

    def resume(self, starts: Mapping[TopicPartition, tuple[Table, int]]) -> None:
        """Rebuild each partition's frontier from its stored leaves below its start offset, and
        learn the size it was last signed at: one query per table and one for the checkpoints
        for all the partitions of a claim (a query per partition cost a sink run of 20k events
        about a tenth of its CPU time in chDB's per-query overhead)."""
        if not self.enabled or not starts:
            return
        db = quote_identifier(self.store.database)
        hashes: dict[TopicPartition, list[str]] = {tp: [] for tp in starts}
        tops: dict[tuple[Table, str], int] = {}  # per topic, the highest start of a partition
        for (topic, _), (table, start) in starts.items():
            tops[(table, topic)] = max(tops.get((table, topic), 0), start)
        for (table, topic), top in tops.items():
            if top == 0:
                continue  # no stored row lies below offset 0
            rows = self.store.query(
                f"SELECT kafka_partition, kafka_offset, leaf_hash FROM {db}.{table.value} "
                "WHERE kafka_topic = {topic:String} AND kafka_offset < {top:Int64} "
                "AND leaf_hash != '' ORDER BY kafka_partition, kafka_offset",
                {"topic": topic, "top": top},
            ).rows
            for partition, offset, digest in rows:
                tp = (topic, int(partition))
                if tp in starts and int(offset) < starts[tp][1]:
                    hashes[tp].append(str(digest))
        for tp, digests in hashes.items():
            frontier = Frontier()
            frontier.extend([bytes.fromhex(d) for d in digests])
            self._frontiers[tp] = frontier
        signed = self.store.query(
            f"SELECT kafka_topic, kafka_partition, max(tree_size) FROM {db}.checkpoints "
            "GROUP BY kafka_topic, kafka_partition"
        ).rows
        sizes = {(str(t), int(p)): int(n) for t, p, n in signed}
        now = time.monotonic()
        for tp in starts:
            self._signed_size[tp] = sizes.get(tp, 0)
            # Leaves stored and never signed (a sink killed before signing, or this one's own
            # before a rebalance made it claim the partition again) are due like new ones: else
            # they wait for the next record, and a run until caught up ends with them unsigned.
            if self._frontiers[tp].size > self._signed_size[tp]:
                self._unsigned_since.setdefault(tp, now)

    def forget(self, tps: set[TopicPartition]) -> None:
        """Drop the logs of partitions no longer held here (their next holder resumes them)."""
        for tp in tps:
            self._frontiers.pop(tp, None)
            self._signed_size.pop(tp, None)
            self._unsigned_since.pop(tp, None)

    def already_stored(self, tp: TopicPartition, value: bytes | None) -> None:
        """A record re-read above the committed point that the store already holds."""
        if self.enabled and value is not None:
            self._append(tp, leaf_hash(value))

    def stamp(self, tp: TopicPartition, value: bytes, row: dict[str, Any]) -> None:
        """Make ``row`` (about to be stored) the next leaf of ``tp``'s log."""
        if not self.enabled:
            return
        digest = leaf_hash(value)
        row["leaf_index"] = self._frontiers[tp].size
        row["leaf_hash"] = digest.hex()
        row["kafka_value"] = binascii.b2a_base64(value, newline=False).decode("ascii")
        self._append(tp, digest)

    def _append(self, tp: TopicPartition, digest: bytes) -> None:
        # Per stored row: no Frontier built nor clock read unless the partition needs one.
        frontier = self._frontiers.get(tp)
        if frontier is None:
            frontier = self._frontiers[tp] = Frontier()
        frontier.append(digest)
        if tp not in self._unsigned_since:
            self._unsigned_since[tp] = time.monotonic()

    def sign_due(self, committed: Mapping[TopicPartition, int], *, everything: bool = False) -> int:
        """Sign the logs that are due (all with unsigned leaves if ``everything``); return how many.

        ``committed`` must be the sink's committed points right after a flush: every leaf in a
        frontier is then durably stored below its partition's committed offset.
        """
        if self.signer is None or not self._unsigned_since:
            return 0
        now = time.monotonic()
        due: list[Checkpoint] = []
        for tp, since in list(self._unsigned_since.items()):
            frontier = self._frontiers[tp]
            grown = frontier.size - self._signed_size.get(tp, 0)
            old = now - since >= self.settings.checkpoint_seconds
            if grown > 0 and (everything or old or grown >= self.settings.checkpoint_every):
                due.append(self._checkpoint(tp, frontier, committed[tp]))
        if due:
            self.store.insert_rows("checkpoints", CHECKPOINT_COLUMNS, [c.to_row() for c in due])
            self._publisher.send(
                self.settings.topic_checkpoints,
                [(c.log_id.encode("utf-8"), c.to_message()) for c in due],
            )
            for c in due:
                tp = (c.topic, c.partition)
                self._signed_size[tp] = c.tree_size
                del self._unsigned_since[tp]
            self.checkpoints_signed += len(due)
        return len(due)

    def _checkpoint(self, tp: TopicPartition, frontier: Frontier, next_offset: int) -> Checkpoint:
        assert self.signer is not None
        unsigned = Checkpoint(
            log_id=log_id(self.settings.app_id, tp[0], tp[1]),
            topic=tp[0],
            partition=tp[1],
            tree_size=frontier.size,
            root=frontier.root(),
            next_offset=next_offset,
            signed_at=datetime.now(UTC),
            key_id=self.signer.key_id,
        )
        return unsigned.signed(self.signer)

    def close(self) -> None:
        self._publisher.close()
