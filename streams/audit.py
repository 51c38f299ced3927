"""As-of audit queries: what the ledger held true at a past knowledge time.

The investigator views (``infra/sql/002_views.sql``) answer for *now*. Views cannot take
parameters on ClickHouse 18.16, so questions about a past knowledge time are functions here that
send the same SQL to either backend with ``{name:Type}`` parameters bound by the store.

Knowledge time is ``decisions.emitted_at`` (+ ``emitted_at_ms``): the Kafka timestamp of the
decision message, i.e. when the ledger published the emission. A decision was in force at
knowledge time T when, among its emissions published at or before T, the latest (greatest
``(kafka_partition, kafka_offset)``, as in the views) is ISSUED. Repeated emissions (the worker
is at-least-once) therefore count once.
"""

from __future__ import annotations

from datetime import datetime

from streams.store.base import COLUMNS, LEAF_COLUMNS, QueryResult, Store, Table, quote_identifier
from streams.store.rows import split_instant

# The columns of the decisions_in_force view, so that as-of answers read like "now" answers: a
# decision row without its emission status, port (and its instant), the sink's ingestion time
# and its Merkle leaf.
_NOT_IN_FORCE = (
    "status",
    "port",
    "port_at",
    "port_at_ms",
    "last_port",
    "last_at",
    "last_at_ms",
    "ingested_at",
    *LEAF_COLUMNS,
)
IN_FORCE_COLUMNS: tuple[str, ...] = tuple(
    c for c in COLUMNS[Table.DECISIONS] if c not in _NOT_IN_FORCE
)

_KNOWN = (
    "(emitted_at < {known_at:DateTime('UTC')} OR (emitted_at = {known_at:DateTime('UTC')} "
    "AND emitted_at_ms <= {known_at_ms:UInt16}))"
)


def decisions_in_force_sql(database: str, *, traveller: bool = False) -> str:
    """The as-of query; parameters ``known_at``, ``known_at_ms`` (and ``traveller`` if asked)."""
    table = f"{quote_identifier(database)}.decisions"
    only = "\n          AND traveller_id = {traveller:String}" if traveller else ""
    return f"""SELECT {", ".join(IN_FORCE_COLUMNS)}
FROM {table}
WHERE status = 'ISSUED'
  AND (decision_id, kafka_partition, kafka_offset) IN (
    SELECT decision_id, tupleElement(last, 1), tupleElement(last, 2)
    FROM (
        SELECT decision_id, max((kafka_partition, kafka_offset)) AS last
        FROM {table}
        WHERE {_KNOWN}{only}
        GROUP BY decision_id
    ) AS lasts
  )
ORDER BY traveller_id, observed_at, observed_at_ms, decision_id"""


def decisions_in_force(
    store: Store, known_at: datetime, traveller: str | None = None
) -> QueryResult:
    """The decisions in force at knowledge time ``known_at`` (aware, millisecond precision).

    Rows have :data:`IN_FORCE_COLUMNS`, ordered by traveller, event time and decision id;
    ``traveller`` restricts the answer to one traveller.
    """
    second, ms = split_instant(known_at)
    params: dict[str, object] = {"known_at": second, "known_at_ms": ms}
    if traveller is not None:
        params["traveller"] = traveller
    sql = decisions_in_force_sql(store.database, traveller=traveller is not None)
    return store.query(sql, params)
