-- Investigator views over the audit tables of 001_ledger.sql and the maintained tables of
-- 001_ledger_state.sql (read-only; SELECT them as the `investigator` user).
-- docs/investigator-guide.md shows them in use.
--
-- Same conventions as 001: `{database}` is replaced before execution, one statement per block
-- ending in a line with ';', no ';' inside. Views are dropped and created again on every
-- migration, so a store always has the current definitions (a query running during a migration
-- may briefly miss a view). Same SQL on both backends, so only syntax ClickHouse 18.16 already
-- had: one JOIN per SELECT (joins are nested through subqueries), `ANY LEFT JOIN (subquery) AS
-- r USING (cols)`, tuple IN subqueries, no window functions, no base64Decode, no parameterised
-- views (as-of queries with a knowledge time are functions in streams/audit.py). A view's
-- columns are spelled out, never `*`. Unmatched right-hand columns of a LEFT JOIN are NULL only
-- where the right side is Nullable, so the right sides cast what may be missing to Nullable.
--
-- Deduplication of decisions. The worker is at-least-once: an emission may be published again at
-- a later offset. The decisions topic is keyed by traveller_id and a decision_id always belongs
-- to one traveller, so all emissions of a decision_id are in one partition, in publication order.
-- The latest emission of a decision_id is the one with the greatest (kafka_partition,
-- kafka_offset), i.e. the greatest `version` of the maintained tables; the decision is in force
-- when that emission is ISSUED. Repeats of an emission change nothing.
--
-- Speed. Every join is USING (traveller_id, ...), so a filter on one traveller reaches both
-- sides and each side reads that traveller's granules only. The latest emission is taken with
-- argMax(tuple(...), version) over the maintained tables, which hold one row per decision once
-- merged, instead of over the whole emission log.

DROP TABLE IF EXISTS {database}.decision_log;

-- Every emission with its knowledge time (emitted_at: when the ledger published it) and whether
-- it is the latest emission of its decision_id. As-of questions filter on emitted_at.
CREATE VIEW IF NOT EXISTS {database}.decision_log AS
SELECT
    decision_id, status, traveller_id, code, severity, jurisdiction, rule, evidence,
    deadline, deadline_ms, overstay_seconds, observed_at, observed_at_ms, detail,
    emitted_at, emitted_at_ms, version = last_version AS latest,
    kafka_topic, kafka_partition, kafka_offset, ingested_at
FROM (
    SELECT
        decision_id, status, traveller_id, code, severity, jurisdiction, rule, evidence,
        deadline, deadline_ms, overstay_seconds, observed_at, observed_at_ms, detail,
        emitted_at, emitted_at_ms, kafka_topic, kafka_partition, kafka_offset, ingested_at,
        toUInt64(kafka_partition) * 1099511627776 + toUInt64(kafka_offset) AS version
    FROM {database}.decisions
) AS l
ANY LEFT JOIN (
    SELECT traveller_id, decision_id, max(version) AS last_version
    FROM {database}.decision_current
    GROUP BY traveller_id, decision_id
) AS r USING (traveller_id, decision_id);

DROP TABLE IF EXISTS {database}.decisions_in_force;

-- The decisions in force now: per decision_id the latest emission, kept if ISSUED.
CREATE VIEW IF NOT EXISTS {database}.decisions_in_force AS
SELECT
    decision_id, traveller_id,
    tupleElement(last, 2) AS code, tupleElement(last, 3) AS severity,
    tupleElement(last, 4) AS jurisdiction, tupleElement(last, 5) AS rule,
    tupleElement(last, 6) AS evidence, tupleElement(last, 7) AS deadline,
    tupleElement(last, 8) AS deadline_ms, tupleElement(last, 9) AS overstay_seconds,
    tupleElement(last, 10) AS observed_at, tupleElement(last, 11) AS observed_at_ms,
    tupleElement(last, 12) AS detail, tupleElement(last, 13) AS emitted_at,
    tupleElement(last, 14) AS emitted_at_ms, tupleElement(last, 15) AS kafka_topic,
    tupleElement(last, 16) AS kafka_partition, tupleElement(last, 17) AS kafka_offset
FROM (
    SELECT
        traveller_id, decision_id,
        argMax(tuple(status, code, severity, jurisdiction, rule, evidence, deadline,
                      deadline_ms, overstay_seconds, observed_at, observed_at_ms, detail,
                      emitted_at, emitted_at_ms, kafka_topic, kafka_partition, kafka_offset),
               version) AS last
    FROM {database}.decision_current
    GROUP BY traveller_id, decision_id
) AS latest
WHERE tupleElement(last, 1) = 'ISSUED';

DROP TABLE IF EXISTS {database}.stay_decisions_in_force;

-- The decisions in force that end or judge a stay (STAY_CLOSED, OVERSTAY, SUSPECTED_OVERSTAY,
-- ENTRY_WITHOUT_EXIT), by the entry they cite first; last_event_id is their last evidence (the
-- exit, or the second entry).
CREATE VIEW IF NOT EXISTS {database}.stay_decisions_in_force AS
SELECT
    code, traveller_id, entry_event_id, decision_id,
    tupleElement(last, 2) AS jurisdiction, tupleElement(last, 3) AS rule,
    tupleElement(last, 4) AS last_event_id, tupleElement(last, 5) AS deadline,
    tupleElement(last, 6) AS deadline_ms, tupleElement(last, 7) AS overstay_seconds,
    tupleElement(last, 8) AS observed_at, tupleElement(last, 9) AS observed_at_ms,
    tupleElement(last, 10) AS emitted_at, tupleElement(last, 11) AS emitted_at_ms
FROM (
    SELECT
        code, traveller_id, entry_event_id, decision_id,
        argMax(tuple(status, jurisdiction, rule, last_event_id, deadline, deadline_ms,
                     overstay_seconds, observed_at, observed_at_ms, emitted_at, emitted_at_ms),
               version) AS last
    FROM {database}.stay_emissions
    WHERE code IN ('STAY_CLOSED', 'OVERSTAY', 'SUSPECTED_OVERSTAY', 'ENTRY_WITHOUT_EXIT')
    GROUP BY code, traveller_id, entry_event_id, decision_id
) AS latest
WHERE tupleElement(last, 1) = 'ISSUED';

DROP TABLE IF EXISTS {database}.timeline;

-- A traveller's timeline: events and decision emissions interleaved, one row each. `at` is event
-- time: occurred_at of an event, observed_at of the decision an emission carries (a RETRACTED
-- emission carries the decision it withdraws, so its `at` is that decision's observed_at and its
-- knowledge time `emitted_at` says when it was withdrawn; NULL for events). `what` is the event
-- type, or 'CODE STATUS'; `port` is the event's, or that of a decision's first evidence event;
-- `detail` summarises a crossing (direction, basis, nationality, document, channel, permit), is
-- the JSON payload of other events and the decision's detail text. `ref_id` is the event_id or
-- decision_id, `evidence` the decision's event ids. Heartbeats (no traveller) are left out.
-- It reads the traveller-ordered copies of the events and emissions (event_ports,
-- decision_current: one traveller's rows are a granule or two, where the monthly partitions of
-- events and decisions cost a granule per month); a decision's port is the one it carries
-- (DecisionEmitted v3), filled in from the crossing when the table was built from an older log.
CREATE VIEW IF NOT EXISTS {database}.timeline AS
SELECT
    traveller_id, occurred_at AS at, occurred_at_ms AS at_ms, 'event' AS kind, type AS what,
    port, detail, event_id AS ref_id, CAST([] AS Array(String)) AS evidence,
    CAST(NULL AS Nullable(DateTime('UTC'))) AS emitted_at,
    CAST(NULL AS Nullable(UInt16)) AS emitted_at_ms,
    kafka_topic, kafka_partition, kafka_offset
FROM {database}.event_ports
UNION ALL
SELECT
    traveller_id, observed_at AS at, observed_at_ms AS at_ms, 'decision' AS kind,
    concat(code, ' ', status) AS what, port, detail, decision_id AS ref_id, evidence,
    CAST(emitted_at AS Nullable(DateTime('UTC'))) AS emitted_at,
    CAST(emitted_at_ms AS Nullable(UInt16)) AS emitted_at_ms,
    kafka_topic, kafka_partition, kafka_offset
FROM {database}.decision_current;

DROP TABLE IF EXISTS {database}.event_places;

-- Where and when each event happened (its port and instant, heartbeats left out), by
-- (traveller, event), for looking a crossing up by its id.
-- Nullable, so that a LEFT JOIN on an event not (yet) stored gives NULL rather than defaults.
CREATE VIEW IF NOT EXISTS {database}.event_places AS
SELECT
    traveller_id, event_id, CAST(port AS Nullable(String)) AS place_port,
    CAST(occurred_at AS Nullable(DateTime('UTC'))) AS place_at,
    CAST(occurred_at_ms AS Nullable(UInt16)) AS place_at_ms
FROM {database}.event_ports;

DROP TABLE IF EXISTS {database}.stays;

-- One row per STAY_OPENED decision in force: the entry (evidence[1]) with its port and instant,
-- the deadline, and the outcome from the decisions in force citing the same entry first:
-- 'overstay' (OVERSTAY, with overstay_seconds and the exit), 'closed within limit'
-- (STAY_CLOSED), 'suspected overstay' (SUSPECTED_OVERSTAY), 'exit unknown' (closed by a second
-- entry, ENTRY_WITHOUT_EXIT, with no overstay suspected), else 'open'. exit_event_id is the exit
-- of a STAY_CLOSED or OVERSTAY (NULL when no exit is known) with the port and instant that
-- decision carries (DecisionEmitted v5; filled from the stored exit for older emissions when
-- the table was built); closed_by_entry_id the second entry of an ENTRY_WITHOUT_EXIT. It reads
-- stay_emissions alone, grouped by the stay (traveller, entry, entry's instant and port): a
-- filter on any of them reaches the table (through the CASTs to the view's Nullable types too),
-- so one traveller reads that traveller's granules and one port-day the entries' month, and no
-- crossing is joined.
CREATE VIEW IF NOT EXISTS {database}.stays AS
SELECT
    traveller_id, tupleElement(opened, 2) AS jurisdiction, entry_event_id, entry_port,
    CAST(entered_at AS Nullable(DateTime('UTC'))) AS entered_at,
    CAST(entered_at_ms AS Nullable(UInt16)) AS entered_at_ms, tupleElement(opened, 3) AS deadline,
    tupleElement(opened, 4) AS deadline_ms, tupleElement(opened, 5) AS rule,
    multiIf(has(codes, 'OVERSTAY'), 'overstay',
            has(codes, 'STAY_CLOSED'), 'closed within limit',
            has(codes, 'SUSPECTED_OVERSTAY'), 'suspected overstay',
            has(codes, 'ENTRY_WITHOUT_EXIT'), 'exit unknown',
            'open') AS outcome,
    if(has(codes, 'OVERSTAY'), CAST(overstay_max AS Nullable(Int64)), NULL) AS overstay_seconds,
    nullIf(tupleElement(exit, 1), '') AS exit_event_id, tupleElement(exit, 2) AS exit_port,
    tupleElement(exit, 3) AS exited_at, tupleElement(exit, 4) AS exited_at_ms,
    closed_by_entry_id, tupleElement(opened, 1) AS decision_id
FROM (
    SELECT
        traveller_id, entry_event_id, entered_at, entered_at_ms, entry_port,
        groupArrayIf(tuple(decision_id, jurisdiction, deadline, deadline_ms, rule),
                     code = 'STAY_OPENED') AS openings,
        groupArrayIf(code, code != 'STAY_OPENED') AS codes,
        maxIf(assumeNotNull(overstay_seconds), code = 'OVERSTAY') AS overstay_max,
        anyIf(tuple(last_event_id, last_port, last_at, last_at_ms),
              code IN ('STAY_CLOSED', 'OVERSTAY')) AS exit,
        anyIf(last_event_id, code = 'ENTRY_WITHOUT_EXIT') AS closed_by_entry_id
    FROM (
        SELECT
            traveller_id, entry_event_id, entered_at, entered_at_ms, entry_port, code,
            decision_id, tupleElement(last, 2) AS jurisdiction, tupleElement(last, 3) AS rule,
            tupleElement(last, 4) AS deadline, tupleElement(last, 5) AS deadline_ms,
            tupleElement(last, 6) AS overstay_seconds, tupleElement(last, 7) AS last_event_id,
            tupleElement(last, 8) AS last_port, tupleElement(last, 9) AS last_at,
            tupleElement(last, 10) AS last_at_ms
        FROM (
            SELECT
                traveller_id, entry_event_id, entered_at, entered_at_ms, entry_port, code,
                decision_id,
                argMax(tuple(status, jurisdiction, rule, deadline, deadline_ms,
                             overstay_seconds, last_event_id, last_port, last_at, last_at_ms),
                       version) AS last
            FROM {database}.stay_emissions
            GROUP BY traveller_id, entry_event_id, entered_at, entered_at_ms, entry_port, code,
                     decision_id
        ) AS latest
        WHERE tupleElement(last, 1) = 'ISSUED'
    ) AS in_force
    GROUP BY traveller_id, entry_event_id, entered_at, entered_at_ms, entry_port
) AS by_stay
ARRAY JOIN openings AS opened;

DROP TABLE IF EXISTS {database}.suspected_overstayers;

-- Suspected in-country overstayers now: a SUSPECTED_OVERSTAY in force whose stay has no exit
-- known and was not closed by a later entry (ENTRY_WITHOUT_EXIT, with which a suspicion
-- stands: DOMAIN.md 5). An exit known retracts the suspicion before STAY_CLOSED or OVERSTAY is
-- issued (the engine publishes a change's retractions first), so those two need no check here:
-- streams/store/recompute.py still checks them, and the tests hold the two equal. The entry's
-- port and instant are those the decision carries (stay_emissions), so no crossing is looked
-- up: the list reads the SUSPECTED_OVERSTAY and ENTRY_WITHOUT_EXIT key ranges only, one
-- traveller a granule of each, one port-day of entries that month's part of them.
CREATE VIEW IF NOT EXISTS {database}.suspected_overstayers AS
SELECT
    traveller_id, tupleElement(last, 2) AS jurisdiction, entry_event_id, entry_port,
    CAST(entered_at AS Nullable(DateTime('UTC'))) AS entered_at,
    CAST(entered_at_ms AS Nullable(UInt16)) AS entered_at_ms, tupleElement(last, 3) AS deadline,
    tupleElement(last, 4) AS deadline_ms, tupleElement(last, 5) AS rule, decision_id,
    tupleElement(last, 6) AS observed_at, tupleElement(last, 7) AS observed_at_ms,
    tupleElement(last, 8) AS emitted_at, tupleElement(last, 9) AS emitted_at_ms
FROM (
    SELECT
        traveller_id, entry_event_id, entered_at, entered_at_ms, entry_port, decision_id,
        argMax(tuple(status, jurisdiction, deadline, deadline_ms, rule, observed_at,
                     observed_at_ms, emitted_at, emitted_at_ms),
               version) AS last
    FROM {database}.stay_emissions
    WHERE code = 'SUSPECTED_OVERSTAY'
    GROUP BY traveller_id, entry_event_id, entered_at, entered_at_ms, entry_port, decision_id
) AS latest
WHERE tupleElement(last, 1) = 'ISSUED'
  AND (traveller_id, entry_event_id) NOT IN (
      SELECT traveller_id, entry_event_id FROM {database}.stay_decisions_in_force
      WHERE code = 'ENTRY_WITHOUT_EXIT'
  );

DROP TABLE IF EXISTS {database}.overstays;

-- Out-of-country overstays: an OVERSTAY in force (the traveller left after the deadline), with
-- the entry's and the exit's port and instant as the decision carries them (stay_emissions:
-- the list is the OVERSTAY key range, one traveller or one port-day of entries reads its own
-- part of it, no crossing is joined).
CREATE VIEW IF NOT EXISTS {database}.overstays AS
SELECT
    traveller_id, tupleElement(last, 2) AS jurisdiction, entry_event_id, entry_port,
    CAST(entered_at AS Nullable(DateTime('UTC'))) AS entered_at,
    CAST(entered_at_ms AS Nullable(UInt16)) AS entered_at_ms,
    tupleElement(last, 3) AS exit_event_id, tupleElement(last, 4) AS exit_port,
    tupleElement(last, 5) AS exited_at, tupleElement(last, 6) AS exited_at_ms,
    tupleElement(last, 7) AS deadline, tupleElement(last, 8) AS deadline_ms,
    tupleElement(last, 9) AS overstay_seconds, tupleElement(last, 10) AS rule, decision_id,
    tupleElement(last, 11) AS emitted_at, tupleElement(last, 12) AS emitted_at_ms
FROM (
    SELECT
        traveller_id, entry_event_id, entered_at, entered_at_ms, entry_port, decision_id,
        argMax(tuple(status, jurisdiction, last_event_id, last_port, last_at, last_at_ms,
                     deadline, deadline_ms, overstay_seconds, rule, emitted_at, emitted_at_ms),
               version) AS last
    FROM {database}.stay_emissions
    WHERE code = 'OVERSTAY'
    GROUP BY traveller_id, entry_event_id, entered_at, entered_at_ms, entry_port, decision_id
) AS latest
WHERE tupleElement(last, 1) = 'ISSUED';

DROP TABLE IF EXISTS {database}.decisions_by_rule_port_day;

-- Decisions in force per day (UTC date of observed_at), rule, code and port: the port the
-- decision carries, that of the crossing it cites first (NULL when its first evidence is not a
-- crossing, and for emissions written before DecisionEmitted v3, which did not carry it). One
-- day reads that day's rows of decision_day and joins nothing.
CREATE VIEW IF NOT EXISTS {database}.decisions_by_rule_port_day AS
SELECT day, rule, code, severity, port, count() AS decisions, uniqExact(traveller_id) AS travellers
FROM (
    SELECT
        day, tupleElement(last, 2) AS rule, tupleElement(last, 3) AS code,
        tupleElement(last, 4) AS severity, tupleElement(last, 5) AS traveller_id,
        tupleElement(last, 6) AS port
    FROM (
        SELECT
            day, decision_id,
            argMax(tuple(status, rule, code, severity, traveller_id, port), version) AS last
        FROM {database}.decision_day
        GROUP BY day, decision_id
    ) AS latest
    WHERE tupleElement(last, 1) = 'ISSUED'
) AS l
GROUP BY day, rule, code, severity, port;

DROP TABLE IF EXISTS {database}.dead_letter_report;

-- Dead letters, readable: where the message was read (source topic, partition, offset), why it
-- failed, when, and the size of its raw value in bytes (decoded from base64 arithmetically).
CREATE VIEW IF NOT EXISTS {database}.dead_letter_report AS
SELECT
    source_topic, source_partition, source_offset, reason, failed_at, failed_at_ms,
    source_timestamp, source_timestamp_ms,
    toInt64(intDiv(length(raw_base64), 4) * 3)
        - toInt64(endsWith(raw_base64, '=')) - toInt64(endsWith(raw_base64, '==')) AS raw_bytes,
    kafka_topic, kafka_partition, kafka_offset
FROM {database}.dead_letters;
