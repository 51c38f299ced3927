"""Erasures recorded by retention: which rows of a log lost their payload on purpose.

``ledger verify`` accepts a row without its Kafka value only when an erasure row names its
offset; the row's leaf hash still enters the tree, so every checkpoint keeps verifying.
"""

from __future__ import annotations

from streams.store.base import Store, quote_identifier


def erased_offsets(store: Store, topic: str, partition: int) -> set[int]:
    """Offsets of ``topic``/``partition`` that a recorded erasure covers."""
    db = quote_identifier(store.database)
    result = store.query(
        f"SELECT arrayJoin(offsets) FROM {db}.erasures "
        "WHERE kafka_topic = {topic:String} AND kafka_partition = {partition:Int32}",
        {"topic": topic, "partition": partition},
    )
    return {int(r[0]) for r in result.rows}
