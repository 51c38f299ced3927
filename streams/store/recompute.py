"""The investigator views recomputed from the append-only tables alone, as a check and a baseline.

``infra/sql/002_views.sql`` reads the maintained tables that materialized views keep at insert
time. This module holds the same views written over ``events``, ``decisions`` and
``dead_letters`` only (the definitions the store had before it maintained any state): the latest
emission of every decision_id is found over the whole emission log on every query. Tests compare
the two after retractions, repeats and replays (they must agree row for row), and
``make bench-audit`` times them as the baseline. Same SQL on both backends.
"""

from __future__ import annotations

import re

from streams.store.base import quote_identifier

# Whether an emission is the latest of its decision_id (greatest (partition, offset)).
_IS_LATEST = """(decision_id, kafka_partition, kafka_offset) IN (
        SELECT decision_id, tupleElement(last, 1), tupleElement(last, 2)
        FROM (
            SELECT decision_id, max((kafka_partition, kafka_offset)) AS last
            FROM {db}.decisions
            GROUP BY decision_id
        ) AS lasts
    )"""

_DECISION_LOG = (
    """
SELECT
    decision_id, status, traveller_id, code, severity, jurisdiction, rule, evidence,
    deadline, deadline_ms, overstay_seconds, observed_at, observed_at_ms, detail,
    emitted_at, emitted_at_ms,
    """
    + _IS_LATEST
    + """ AS latest,
    kafka_topic, kafka_partition, kafka_offset, ingested_at
FROM {db}.decisions"""
)

_IN_FORCE = """
SELECT
    decision_id, traveller_id, code, severity, jurisdiction, rule, evidence,
    deadline, deadline_ms, overstay_seconds, observed_at, observed_at_ms, detail,
    emitted_at, emitted_at_ms, kafka_topic, kafka_partition, kafka_offset
FROM ({decision_log}) AS dl
WHERE latest AND status = 'ISSUED'"""

_STAY_DECISIONS = """
SELECT
    code, traveller_id, evidence[1] AS entry_event_id, decision_id, jurisdiction, rule,
    evidence[-1] AS last_event_id, deadline, deadline_ms, overstay_seconds,
    observed_at, observed_at_ms, emitted_at, emitted_at_ms
FROM ({decisions_in_force}) AS f
WHERE code IN ('STAY_CLOSED', 'OVERSTAY', 'SUSPECTED_OVERSTAY', 'ENTRY_WITHOUT_EXIT')"""

_TIMELINE = """
SELECT
    traveller_id, occurred_at AS at, occurred_at_ms AS at_ms, 'event' AS kind, type AS what,
    port,
    if(type = 'CrossingRecorded',
       arrayStringConcat(arrayFilter(x -> x != '', [
           ifNull(direction, ''), ifNull(basis, ''), ifNull(nationality, ''),
           ifNull(document, ''), ifNull(channel, ''),
           if(permit_id IS NULL, '', concat('permit ', assumeNotNull(permit_id)))]), ' '),
       payload) AS detail,
    event_id AS ref_id, CAST([] AS Array(String)) AS evidence,
    CAST(NULL AS Nullable(DateTime('UTC'))) AS emitted_at,
    CAST(NULL AS Nullable(UInt16)) AS emitted_at_ms,
    kafka_topic, kafka_partition, kafka_offset
FROM {db}.events
WHERE traveller_id != ''
UNION ALL
SELECT
    traveller_id, at, at_ms, 'decision' AS kind, what, port, detail, ref_id, evidence,
    emitted_at, emitted_at_ms, kafka_topic, kafka_partition, kafka_offset
FROM (
    SELECT
        traveller_id, observed_at AS at, observed_at_ms AS at_ms,
        concat(code, ' ', status) AS what, detail, decision_id AS ref_id, evidence,
        CAST(emitted_at AS Nullable(DateTime('UTC'))) AS emitted_at,
        CAST(emitted_at_ms AS Nullable(UInt16)) AS emitted_at_ms,
        kafka_topic, kafka_partition, kafka_offset, evidence[1] AS first_event_id
    FROM {db}.decisions
) AS l
ANY LEFT JOIN (
    SELECT event_id AS first_event_id, port FROM {db}.events
) AS r USING first_event_id"""

_EVENT_AT = """
    SELECT
        event_id AS {key}, port AS {port},
        CAST(occurred_at AS Nullable(DateTime('UTC'))) AS {at},
        CAST(occurred_at_ms AS Nullable(UInt16)) AS {at}_ms
    FROM {db}.events"""

_EVENT_PLACES = """
SELECT
    traveller_id, event_id, port AS place_port,
    CAST(occurred_at AS Nullable(DateTime('UTC'))) AS place_at,
    CAST(occurred_at_ms AS Nullable(UInt16)) AS place_at_ms
FROM {db}.events
WHERE traveller_id != ''"""

_STAYS = """
SELECT
    traveller_id, jurisdiction, entry_event_id, entry_port, entered_at, entered_at_ms,
    deadline, deadline_ms, rule,
    multiIf(has(codes, 'OVERSTAY'), 'overstay',
            has(codes, 'STAY_CLOSED'), 'closed within limit',
            has(codes, 'SUSPECTED_OVERSTAY'), 'suspected overstay',
            has(codes, 'ENTRY_WITHOUT_EXIT'), 'exit unknown',
            'open') AS outcome,
    if(has(codes, 'OVERSTAY'), CAST(overstay_max AS Nullable(Int64)), NULL) AS overstay_seconds,
    nullIf(exit_event_id, '') AS exit_event_id, exit_port, exited_at, exited_at_ms,
    closed_by_entry_id, decision_id
FROM (
    SELECT
        traveller_id, jurisdiction, entry_event_id, entry_port, entered_at, entered_at_ms,
        deadline, deadline_ms, rule, codes, overstay_max, exit_event_id,
        closed_by_entry_id, decision_id
    FROM (
        SELECT
            traveller_id, jurisdiction, entry_event_id, deadline, deadline_ms, rule, codes,
            overstay_max, exit_event_id, closed_by_entry_id, decision_id
        FROM (
            SELECT
                decision_id, traveller_id, jurisdiction, rule, deadline, deadline_ms,
                evidence[1] AS entry_event_id
            FROM ({decisions_in_force}) AS f
            WHERE code = 'STAY_OPENED'
        ) AS l
        ANY LEFT JOIN (
            SELECT
                evidence[1] AS entry_event_id,
                groupArray(code) AS codes,
                maxIf(assumeNotNull(overstay_seconds), code = 'OVERSTAY') AS overstay_max,
                anyIf(evidence[-1], code IN ('STAY_CLOSED', 'OVERSTAY')) AS exit_event_id,
                anyIf(evidence[-1], code = 'ENTRY_WITHOUT_EXIT') AS closed_by_entry_id
            FROM ({decisions_in_force}) AS f
            WHERE code IN ('STAY_CLOSED', 'OVERSTAY', 'SUSPECTED_OVERSTAY', 'ENTRY_WITHOUT_EXIT')
            GROUP BY entry_event_id
        ) AS r USING entry_event_id
    ) AS l
    ANY LEFT JOIN ({entry_at}) AS r USING entry_event_id
) AS l
ANY LEFT JOIN ({exit_at}) AS r USING exit_event_id"""

_SUSPECTED = """
SELECT
    traveller_id, jurisdiction, entry_event_id, entry_port, entered_at, entered_at_ms,
    deadline, deadline_ms, rule, decision_id, observed_at, observed_at_ms,
    emitted_at, emitted_at_ms
FROM (
    SELECT
        traveller_id, jurisdiction, evidence[1] AS entry_event_id, deadline, deadline_ms, rule,
        decision_id, observed_at, observed_at_ms, emitted_at, emitted_at_ms
    FROM ({decisions_in_force}) AS f
    WHERE code = 'SUSPECTED_OVERSTAY'
      AND evidence[1] NOT IN (
          SELECT evidence[1] FROM ({decisions_in_force}) AS c
          WHERE code IN ('STAY_CLOSED', 'OVERSTAY', 'ENTRY_WITHOUT_EXIT')
      )
) AS l
ANY LEFT JOIN ({entry_at}) AS r USING entry_event_id"""

_OVERSTAYS = """
SELECT
    traveller_id, jurisdiction, entry_event_id, entry_port, entered_at, entered_at_ms,
    exit_event_id, exit_port, exited_at, exited_at_ms, deadline, deadline_ms, overstay_seconds,
    rule, decision_id, emitted_at, emitted_at_ms
FROM (
    SELECT
        traveller_id, jurisdiction, entry_event_id, entry_port, entered_at, entered_at_ms,
        exit_event_id, deadline, deadline_ms, overstay_seconds, rule, decision_id, emitted_at,
        emitted_at_ms
    FROM (
        SELECT
            traveller_id, jurisdiction, evidence[1] AS entry_event_id,
            evidence[-1] AS exit_event_id, deadline, deadline_ms, overstay_seconds, rule,
            decision_id, emitted_at, emitted_at_ms
        FROM ({decisions_in_force}) AS f
        WHERE code = 'OVERSTAY'
    ) AS l
    ANY LEFT JOIN ({entry_at}) AS r USING entry_event_id
) AS l
ANY LEFT JOIN ({exit_at}) AS r USING exit_event_id"""

_BY_DAY = (
    """
SELECT
    toDate(observed_at) AS day, rule, code, severity, port,
    count() AS decisions, uniqExact(traveller_id) AS travellers
FROM {db}.decisions
WHERE status = 'ISSUED' AND """
    + _IS_LATEST
    + """
GROUP BY day, rule, code, severity, port"""
)

_DEAD_LETTERS = """
SELECT
    source_topic, source_partition, source_offset, reason, failed_at, failed_at_ms,
    source_timestamp, source_timestamp_ms,
    toInt64(intDiv(length(raw_base64), 4) * 3)
        - toInt64(endsWith(raw_base64, '=')) - toInt64(endsWith(raw_base64, '==')) AS raw_bytes,
    kafka_topic, kafka_partition, kafka_offset
FROM {db}.dead_letters"""


def recomputed_views(database: str) -> dict[str, str]:
    """Per view name, a SELECT computing that view from the append-only tables of ``database``."""
    db = quote_identifier(database)
    log = _DECISION_LOG.format(db=db)
    in_force = _IN_FORCE.format(decision_log=log)
    entry_at = _EVENT_AT.format(db=db, key="entry_event_id", port="entry_port", at="entered_at")
    exit_at = _EVENT_AT.format(db=db, key="exit_event_id", port="exit_port", at="exited_at")
    parts = {"db": db, "decisions_in_force": in_force, "entry_at": entry_at, "exit_at": exit_at}
    return {
        "decision_log": log,
        "decisions_in_force": in_force,
        "stay_decisions_in_force": _STAY_DECISIONS.format(**parts),
        "timeline": _TIMELINE.format(**parts),
        "event_places": _EVENT_PLACES.format(**parts),
        "stays": _STAYS.format(**parts),
        "suspected_overstayers": _SUSPECTED.format(**parts),
        "overstays": _OVERSTAYS.format(**parts),
        "decisions_by_rule_port_day": _BY_DAY.format(**parts),
        "dead_letter_report": _DEAD_LETTERS.format(**parts),
    }


def on_plain_tables(sql: str, database: str) -> str:
    """``sql`` with every view it reads replaced by its recomputation from the plain tables."""
    views = recomputed_views(database)
    pattern = re.compile(r"\b(FROM|JOIN)\s+(" + "|".join(views) + r")\b")
    return pattern.sub(lambda m: f"{m.group(1)} ({views[m.group(2)]}) AS {m.group(2)}", sql)
