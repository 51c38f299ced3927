"""Proof bundles a third party checks offline: records, inclusion proofs, signed checkpoints.

A bundle is one JSON document: the public key, and for each record its coordinates, its exact
Kafka value (base64), leaf index and hash, the RFC 9162 inclusion proof in the tree of the
log's latest valid checkpoint, and that checkpoint with its signed note. A consistency bundle
holds two checkpoints of one log and the proof that the later tree extends the earlier one.
``auditor/verify_bundle.py`` checks either with the standard library and ``cryptography`` only.
The prover refuses to build a proof from a store that no longer matches the checkpoint.
"""

from __future__ import annotations

from typing import Any

from base.errors import LedgerError
from base.settings import Settings
from streams.store.base import Store, Table, quote_identifier
from streams.trust.checkpoint import Checkpoint
from streams.trust.keys import Verifier
from streams.trust.logs import checkpoints_of, tables_of
from streams.trust.merkle import consistency_proof, inclusion_proof, root

BUNDLE_FORMAT = "border-ledger proof bundle v1"
_RECORD = "kafka_topic, kafka_partition, kafka_offset, leaf_index, leaf_hash, kafka_value"


class ProveError(LedgerError):
    """No proof can be given (unknown record, nothing signed yet, or a store that was altered)."""


def _leaves(store: Store, table: Table, topic: str, partition: int, size: int) -> list[bytes]:
    result = store.query(
        f"SELECT leaf_hash FROM {quote_identifier(store.database)}.{table.value} "
        "WHERE kafka_topic = {topic:String} AND kafka_partition = {partition:Int32} "
        "ORDER BY kafka_offset LIMIT {size:UInt64}",
        {"topic": topic, "partition": partition, "size": size},
    )
    return [bytes.fromhex(str(r[0])) for r in result.rows]


def _latest_checkpoint(store: Store, verifier: Verifier, topic: str, partition: int) -> Checkpoint:
    good = [c for c in checkpoints_of(store, topic, partition) if c.verifies(verifier)]
    if not good:
        raise ProveError(f"{topic}[{partition}] has no valid checkpoint yet")
    return good[-1]


def _signed_tree(store: Store, table: Table, checkpoint: Checkpoint) -> list[bytes]:
    leaves = _leaves(store, table, checkpoint.topic, checkpoint.partition, checkpoint.tree_size)
    if len(leaves) != checkpoint.tree_size or root(leaves) != checkpoint.root:
        raise ProveError(
            f"{checkpoint.log_id}: the stored leaves do not match the checkpoint of size "
            f"{checkpoint.tree_size}; run `ledger verify`"
        )
    return leaves


def record_proof(
    store: Store, settings: Settings, verifier: Verifier, row: tuple[Any, ...]
) -> dict[str, Any]:
    """The proof entry of one stored row (``_RECORD`` columns)."""
    topic, partition, offset, index, digest, value = row
    table = tables_of(settings)[str(topic)]
    checkpoint = _latest_checkpoint(store, verifier, str(topic), int(partition))
    if int(index) >= checkpoint.tree_size:
        raise ProveError(f"{topic}[{partition}]@{offset} is not signed yet (wait for a checkpoint)")
    if not value:
        raise ProveError(f"{topic}[{partition}]@{offset} was erased by retention")
    leaves = _signed_tree(store, table, checkpoint)
    return {
        "topic": str(topic),
        "partition": int(partition),
        "offset": int(offset),
        "value": str(value),
        "leaf_index": int(index),
        "leaf_hash": str(digest),
        "inclusion_proof": [h.hex() for h in inclusion_proof(int(index), leaves)],
        "checkpoint": checkpoint.to_json(),
    }


def _rows(store: Store, table: Table, column: str, ids: list[str]) -> list[tuple[Any, ...]]:
    result = store.query(
        f"SELECT {_RECORD} FROM {quote_identifier(store.database)}.{table.value} "
        f"WHERE has({{ids:Array(String)}}, {column}) ORDER BY kafka_topic, kafka_partition, "
        "kafka_offset",
        {"ids": ids},
    )
    return result.rows


def event_bundle(
    store: Store, settings: Settings, verifier: Verifier, event_ids: list[str]
) -> dict[str, Any]:
    """The bundle proving the stored events ``event_ids``."""
    rows = _rows(store, Table.EVENTS, "event_id", event_ids)
    found = len(rows)
    if found < len(set(event_ids)):
        raise ProveError(f"only {found} of the events {sorted(set(event_ids))} are stored")
    return _bundle(verifier, [record_proof(store, settings, verifier, r) for r in rows])


def decision_bundle(
    store: Store, settings: Settings, verifier: Verifier, decision_id: str
) -> dict[str, Any]:
    """The bundle proving every emission of a decision and every event of its evidence."""
    emissions = _rows(store, Table.DECISIONS, "decision_id", [decision_id])
    if not emissions:
        raise ProveError(f"no decision {decision_id} is stored")
    evidence = store.query(
        f"SELECT DISTINCT arrayJoin(evidence) FROM "
        f"{quote_identifier(store.database)}.decisions WHERE decision_id = {{id:String}}",
        {"id": decision_id},
    ).rows
    events = _rows(store, Table.EVENTS, "event_id", sorted(str(r[0]) for r in evidence))
    proofs = [record_proof(store, settings, verifier, r) for r in [*emissions, *events]]
    return {**_bundle(verifier, proofs), "decision_id": decision_id}


def consistency_bundle(
    store: Store,
    settings: Settings,
    verifier: Verifier,
    topic: str,
    partition: int,
    *,
    old_size: int,
    new_size: int,
) -> dict[str, Any]:
    """The bundle proving that the log's checkpoint of ``new_size`` extends that of ``old_size``."""
    table = tables_of(settings)[topic]
    by_size = {
        c.tree_size: c for c in checkpoints_of(store, topic, partition) if c.verifies(verifier)
    }
    missing = [s for s in (old_size, new_size) if s not in by_size]
    if missing or old_size > new_size:
        raise ProveError(
            f"{topic}[{partition}]: no valid checkpoints of sizes {missing or (old_size, new_size)}"
        )
    leaves = _signed_tree(store, table, by_size[new_size])
    proof = consistency_proof(old_size, leaves) if old_size else []
    return {
        **_bundle(verifier, []),
        "consistency": {
            "old": by_size[old_size].to_json(),
            "new": by_size[new_size].to_json(),
            "proof": [h.hex() for h in proof],
        },
    }


def _bundle(verifier: Verifier, records: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "format": BUNDLE_FORMAT,
        "public_key": verifier.public_raw.hex(),
        "key_id": verifier.key_id,
        "records": records,
    }
