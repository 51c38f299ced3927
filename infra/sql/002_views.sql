-- Investigator views over the audit tables of 001_ledger.sql (read-only; SELECT them as the
-- `investigator` user). docs/investigator-guide.md shows them in use.
--
-- Same conventions as 001: `{database}` is replaced before execution, one statement per block
-- ending in a line with ';', no ';' inside, every statement idempotent (IF NOT EXISTS).
-- Same SQL on both backends, so only syntax ClickHouse 18.16 already had: one JOIN per SELECT
-- (joins are nested through subqueries), `ANY LEFT JOIN (subquery) AS r USING col`, tuple IN
-- subqueries, no window functions, no base64Decode, no parameterised views (as-of queries with a
-- knowledge time are functions in streams/audit.py). A views' columns are spelled out, never `*`.
-- Unmatched right-hand columns of a LEFT JOIN are NULL only where the right side is Nullable, so
-- the right sides cast what may be missing to Nullable.
--
-- Deduplication of decisions. The worker is at-least-once: an emission may be published again at
-- a later offset. The decisions topic is keyed by traveller_id and a decision_id always belongs
-- to one traveller, so all emissions of a decision_id are in one partition, in publication order.
-- The latest emission of a decision_id is the one with the greatest (kafka_partition,
-- kafka_offset) (the partition only breaks ties should the topic ever be re-partitioned); the
-- decision is in force when that emission is ISSUED. Repeats of an emission change nothing.

-- Every emission with its knowledge time (emitted_at: when the ledger published it) and whether
-- it is the latest emission of its decision_id. As-of questions filter on emitted_at.
CREATE VIEW IF NOT EXISTS {database}.decision_log AS
SELECT
    decision_id, status, traveller_id, code, severity, jurisdiction, rule, evidence,
    deadline, deadline_ms, overstay_seconds, observed_at, observed_at_ms, detail,
    emitted_at, emitted_at_ms,
    (decision_id, kafka_partition, kafka_offset) IN (
        SELECT decision_id, tupleElement(last, 1), tupleElement(last, 2)
        FROM (
            SELECT decision_id, max((kafka_partition, kafka_offset)) AS last
            FROM {database}.decisions
            GROUP BY decision_id
        ) AS lasts
    ) AS latest,
    kafka_topic, kafka_partition, kafka_offset, ingested_at
FROM {database}.decisions;

-- The decisions in force now: per decision_id the latest emission, kept if ISSUED.
CREATE VIEW IF NOT EXISTS {database}.decisions_in_force AS
SELECT
    decision_id, traveller_id, code, severity, jurisdiction, rule, evidence,
    deadline, deadline_ms, overstay_seconds, observed_at, observed_at_ms, detail,
    emitted_at, emitted_at_ms, kafka_topic, kafka_partition, kafka_offset
FROM {database}.decision_log
WHERE latest AND status = 'ISSUED';

-- A traveller's timeline: events and decision emissions interleaved, one row each. `at` is event
-- time: occurred_at of an event, observed_at of the decision an emission carries (a RETRACTED
-- emission carries the decision it withdraws, so its `at` is that decision's observed_at and its
-- knowledge time `emitted_at` says when it was withdrawn; NULL for events). `what` is the event
-- type, or 'CODE STATUS'; `port` is the event's, or that of a decision's first evidence event;
-- `detail` summarises a crossing (direction, basis, nationality, document, channel, permit), is
-- the JSON payload of other events and the decision's detail text. `ref_id` is the event_id or
-- decision_id, `evidence` the decision's event ids. Heartbeats (no traveller) are left out.
CREATE VIEW IF NOT EXISTS {database}.timeline AS
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
FROM {database}.events
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
    FROM {database}.decisions
) AS l
ANY LEFT JOIN (
    SELECT event_id AS first_event_id, port FROM {database}.events
) AS r USING first_event_id;

-- One row per STAY_OPENED decision in force: the entry (evidence[1]) with its port and instant,
-- the deadline, and the outcome from the decisions in force citing the same entry first:
-- 'overstay' (OVERSTAY, with overstay_seconds and the exit), 'closed within limit'
-- (STAY_CLOSED), 'suspected overstay' (SUSPECTED_OVERSTAY), 'exit unknown' (closed by a second
-- entry, ENTRY_WITHOUT_EXIT, with no overstay suspected), else 'open'. closed_by_entry_id is that
-- second entry. Entry or exit details are NULL when the event is not (yet) in the store.
CREATE VIEW IF NOT EXISTS {database}.stays AS
SELECT
    traveller_id, jurisdiction, entry_event_id, entry_port, entered_at, entered_at_ms,
    deadline, deadline_ms, rule,
    multiIf(has(codes, 'OVERSTAY'), 'overstay',
            has(codes, 'STAY_CLOSED'), 'closed within limit',
            has(codes, 'SUSPECTED_OVERSTAY'), 'suspected overstay',
            has(codes, 'ENTRY_WITHOUT_EXIT'), 'exit unknown',
            'open') AS outcome,
    if(has(codes, 'OVERSTAY'), CAST(overstay_max AS Nullable(Int64)), NULL) AS overstay_seconds,
    exit_event_id, exit_port, exited_at, exited_at_ms, closed_by_entry_id,
    decision_id
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
            FROM {database}.decisions_in_force
            WHERE code = 'STAY_OPENED'
        ) AS l
        ANY LEFT JOIN (
            SELECT
                evidence[1] AS entry_event_id,
                groupArray(code) AS codes,
                maxIf(assumeNotNull(overstay_seconds), code = 'OVERSTAY') AS overstay_max,
                anyIf(evidence[-1], code IN ('STAY_CLOSED', 'OVERSTAY')) AS exit_event_id,
                anyIf(evidence[-1], code = 'ENTRY_WITHOUT_EXIT') AS closed_by_entry_id
            FROM {database}.decisions_in_force
            WHERE code IN ('STAY_CLOSED', 'OVERSTAY', 'SUSPECTED_OVERSTAY', 'ENTRY_WITHOUT_EXIT')
            GROUP BY entry_event_id
        ) AS r USING entry_event_id
    ) AS l
    ANY LEFT JOIN (
        SELECT
            event_id AS entry_event_id, port AS entry_port,
            CAST(occurred_at AS Nullable(DateTime('UTC'))) AS entered_at,
            CAST(occurred_at_ms AS Nullable(UInt16)) AS entered_at_ms
        FROM {database}.events
    ) AS r USING entry_event_id
) AS l
ANY LEFT JOIN (
    SELECT
        event_id AS exit_event_id, port AS exit_port,
        CAST(occurred_at AS Nullable(DateTime('UTC'))) AS exited_at,
        CAST(occurred_at_ms AS Nullable(UInt16)) AS exited_at_ms
    FROM {database}.events
) AS r USING exit_event_id;

-- Suspected in-country overstayers now: a SUSPECTED_OVERSTAY in force whose stay has no exit
-- known (no STAY_CLOSED or OVERSTAY for its entry) and was not closed by a later entry.
CREATE VIEW IF NOT EXISTS {database}.suspected_overstayers AS
SELECT
    traveller_id, jurisdiction, entry_event_id, entry_port, entered_at, entered_at_ms,
    deadline, deadline_ms, rule, decision_id, observed_at, emitted_at
FROM (
    SELECT
        traveller_id, jurisdiction, evidence[1] AS entry_event_id, deadline, deadline_ms, rule,
        decision_id, observed_at, emitted_at
    FROM {database}.decisions_in_force
    WHERE code = 'SUSPECTED_OVERSTAY'
      AND evidence[1] NOT IN (
          SELECT evidence[1] FROM {database}.decisions_in_force
          WHERE code IN ('STAY_CLOSED', 'OVERSTAY', 'ENTRY_WITHOUT_EXIT')
      )
) AS l
ANY LEFT JOIN (
    SELECT
        event_id AS entry_event_id, port AS entry_port,
        CAST(occurred_at AS Nullable(DateTime('UTC'))) AS entered_at,
        CAST(occurred_at_ms AS Nullable(UInt16)) AS entered_at_ms
    FROM {database}.events
) AS r USING entry_event_id;

-- Out-of-country overstays: an OVERSTAY in force (the traveller left after the deadline).
CREATE VIEW IF NOT EXISTS {database}.overstays AS
SELECT
    traveller_id, jurisdiction, entry_event_id, entry_port, entered_at, exit_event_id,
    exit_port, exited_at, exited_at_ms, deadline, deadline_ms, overstay_seconds, rule,
    decision_id, emitted_at
FROM (
    SELECT
        traveller_id, jurisdiction, entry_event_id, entry_port, entered_at, exit_event_id,
        deadline, deadline_ms, overstay_seconds, rule, decision_id, emitted_at
    FROM (
        SELECT
            traveller_id, jurisdiction, evidence[1] AS entry_event_id,
            evidence[-1] AS exit_event_id, deadline, deadline_ms, overstay_seconds, rule,
            decision_id, emitted_at
        FROM {database}.decisions_in_force
        WHERE code = 'OVERSTAY'
    ) AS l
    ANY LEFT JOIN (
        SELECT
            event_id AS entry_event_id, port AS entry_port,
            CAST(occurred_at AS Nullable(DateTime('UTC'))) AS entered_at
        FROM {database}.events
    ) AS r USING entry_event_id
) AS l
ANY LEFT JOIN (
    SELECT
        event_id AS exit_event_id, port AS exit_port,
        CAST(occurred_at AS Nullable(DateTime('UTC'))) AS exited_at,
        CAST(occurred_at_ms AS Nullable(UInt16)) AS exited_at_ms
    FROM {database}.events
) AS r USING exit_event_id;

-- Decisions in force per day (UTC date of observed_at), rule, code and port (the port of the
-- decision's first evidence event; NULL when it has none or the event is not in the store).
CREATE VIEW IF NOT EXISTS {database}.decisions_by_rule_port_day AS
SELECT
    toDate(observed_at) AS day, rule, code, severity, port,
    count() AS decisions, uniqExact(traveller_id) AS travellers
FROM (
    SELECT observed_at, rule, code, severity, traveller_id, evidence[1] AS first_event_id
    FROM {database}.decisions_in_force
) AS l
ANY LEFT JOIN (
    SELECT event_id AS first_event_id, port FROM {database}.events
) AS r USING first_event_id
GROUP BY day, rule, code, severity, port;

-- Dead letters, readable: where the message was read (source topic, partition, offset), why it
-- failed, when, and the size of its raw value in bytes (decoded from base64 arithmetically).
CREATE VIEW IF NOT EXISTS {database}.dead_letter_report AS
SELECT
    source_topic, source_partition, source_offset, reason, failed_at, failed_at_ms,
    source_timestamp,
    toInt64(intDiv(length(raw_base64), 4) * 3)
        - toInt64(endsWith(raw_base64, '=')) - toInt64(endsWith(raw_base64, '==')) AS raw_bytes,
    kafka_topic, kafka_partition, kafka_offset
FROM {database}.dead_letters;
