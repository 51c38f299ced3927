"""Test tool, run as a subprocess: copy a sunk ledger database and tamper with the copy.

``python -m tests.integration.tamper SOURCE_DB OPERATION`` with the ``LEDGER_*`` environment of
the target (its ``clickhouse_database`` is the copy). A subprocess because chDB binds one data
directory per process. Mutations are waited for, so the store is tampered when this exits.
"""

from __future__ import annotations

import sys
import time

from base.settings import Settings
from streams.store import open_store
from streams.store.base import Store

TABLES = ("events", "decisions", "dead_letters", "sink_offsets", "checkpoints", "erasures")


def copy_database(store: Store, source: str) -> None:
    store.migrate()
    for table in TABLES:
        store.query(f"INSERT INTO {store.database}.{table} SELECT * FROM {source}.{table}")


def wait_for_mutations(store: Store) -> None:
    deadline = time.monotonic() + 60
    sql = "SELECT count() FROM system.mutations WHERE database = {db:String} AND is_done = 0"
    while int(store.query(sql, {"db": store.database}).rows[0][0]):
        if time.monotonic() > deadline:
            raise SystemExit("mutations did not finish within 60 s")
        time.sleep(0.05)


def tamper(store: Store, operation: str, topic: str, base: int = 0) -> None:
    """Apply ``operation`` to partition 0 of ``topic`` at offsets ``base`` + 3..9."""
    db = store.database
    at = {k: base + k for k in range(3, 10)}
    log = f"kafka_topic = '{topic}' AND kafka_partition = 0"
    statements = {
        "none": [],
        "payload-byte": [
            f"ALTER TABLE {db}.events UPDATE payload = concat('[', substring(payload, 2)) "
            f"WHERE {log} AND kafka_offset = {at[5]}"
        ],
        "value-byte": [
            f"ALTER TABLE {db}.events UPDATE kafka_value = concat('A', substring(kafka_value, 2)) "
            f"WHERE {log} AND kafka_offset = {at[6]}"
        ],
        "delete-row": [f"ALTER TABLE {db}.events DELETE WHERE {log} AND kafka_offset = {at[7]}"],
        "insert-row": [
            f"INSERT INTO {db}.events SELECT * FROM {db}.events "
            f"WHERE {log} AND kafka_offset = {at[8]}"
        ],
        "swap-offsets": [
            f"ALTER TABLE {db}.events UPDATE kafka_offset = if(kafka_offset = {at[3]}, {at[9]}, "
            f"{at[3]}) WHERE {log} AND kafka_offset IN ({at[3]}, {at[9]})"
        ],
        "drop-partition": [
            f"ALTER TABLE {db}.events DELETE WHERE kafka_topic = '{topic}' AND kafka_partition = 1"
        ],
    }
    if operation == "replace-signature":
        signed = store.query(
            f"SELECT tree_size, signature FROM {db}.checkpoints WHERE {log} ORDER BY tree_size"
        ).rows
        forged = str(signed[-1][1])  # a real signature, of another checkpoint
        statements[operation] = [
            f"ALTER TABLE {db}.checkpoints UPDATE signature = '{forged}' "
            f"WHERE {log} AND tree_size = {int(signed[0][0])}"
        ]
    for sql in statements[operation]:
        store.query(sql)
    wait_for_mutations(store)


def main() -> None:
    source, operation = sys.argv[1], sys.argv[2]
    settings = Settings.from_env()
    store = open_store(settings, "writer")
    try:
        copy_database(store, source)
        tamper(store, operation, settings.topic_crossings)
    finally:
        store.close()


if __name__ == "__main__":
    main()
