"""Erasures recorded by retention: which rows of a log lost their payload on purpose.

``ledger verify`` accepts a row without its Kafka value only when an erasure row names its
offset; the row's leaf hash still enters the tree, so every checkpoint keeps verifying. Each
erasure is also published, as JSON, on ``topic_erasures`` (``border.erasures.v1``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from base.settings import Settings
from streams.store.base import Store, quote_identifier
from streams.trust.publish import Publisher


def erased_offsets(store: Store, topic: str, partition: int) -> set[int]:
    """Offsets of ``topic``/``partition`` that a recorded erasure covers."""
    db = quote_identifier(store.database)
    result = store.query(
        f"SELECT arrayJoin(offsets) FROM {db}.erasures "
        "WHERE kafka_topic = {topic:String} AND kafka_partition = {partition:Int32}",
        {"topic": topic, "partition": partition},
    )
    return {int(r[0]) for r in result.rows}


def erasure_message(row: dict[str, Any]) -> bytes:
    """An erasure row as the JSON message published on ``topic_erasures``."""
    doc = {
        k: v.astimezone(UTC).isoformat() if isinstance(v, datetime) else v for k, v in row.items()
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")


def publish_erasures(settings: Settings, rows: list[dict[str, Any]]) -> None:
    """Publish the erasure events (key: the stay), waiting for every acknowledgement."""
    publisher = Publisher(settings, "operator", "ledger-retention")
    try:
        publisher.send(
            settings.topic_erasures, [(str(r["stay"]).encode(), erasure_message(r)) for r in rows]
        )
    finally:
        publisher.close()
