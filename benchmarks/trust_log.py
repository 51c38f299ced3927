"""A signed Merkle log written straight into a store, as the sink would write it, without Kafka.

For benchmarks and tests of ``ledger verify`` at sizes the sink would take minutes to store on a
loaded machine: each value becomes the ``events`` row the sink derives (``record_row``), stamped
with its leaf (index, hash, base64 value), inserted in batches; after every ``every`` leaves a
checkpoint over the log so far is signed with a real key and stored, as ``SinkLog`` does.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from schemas.mapping import Coordinates
from streams.store.base import Store, Table
from streams.store.records import record_row
from streams.trust.checkpoint import CHECKPOINT_COLUMNS, Checkpoint, log_id
from streams.trust.keys import Signer
from streams.trust.merkle import Frontier, leaf_hash


def store_signed_log(
    store: Store,
    signer: Signer,
    topic: str,
    partition: int,
    values: Sequence[bytes],
    *,
    every: int = 10_000,
) -> Frontier:
    """Store ``values`` as offsets 0.. of ``topic``/``partition`` with a checkpoint every
    ``every`` leaves (and one at the end); returns the log's frontier."""
    frontier = Frontier()
    now = datetime.now(UTC)
    for start in range(0, len(values), every):
        rows: list[dict[str, Any]] = []
        for offset in range(start, min(start + every, len(values))):
            value = values[offset]
            row = record_row(Table.EVENTS, value, Coordinates(topic, partition, offset), now, now)
            digest = leaf_hash(value)
            row["leaf_index"] = frontier.size
            row["leaf_hash"] = digest.hex()
            row["kafka_value"] = base64.b64encode(value).decode("ascii")
            frontier.append(digest)
            rows.append(row)
        store.insert_events(rows)
        checkpoint = Checkpoint(
            log_id=log_id(store.settings.app_id, topic, partition),
            topic=topic,
            partition=partition,
            tree_size=frontier.size,
            root=frontier.root(),
            next_offset=start + len(rows),
            signed_at=datetime.now(UTC),
            key_id=signer.key_id,
        ).signed(signer)
        store.insert_rows("checkpoints", CHECKPOINT_COLUMNS, [checkpoint.to_row()])
    return frontier
