-- Maintained tables: the current state of the decisions, kept up to date at insert time by
-- materialized views over the append-only `decisions` table (001_ledger.sql), so the
-- investigator views (002_views.sql) read the answer instead of recomputing it over the whole
-- emission log on every query. The append-only tables stay the record; these are derived from
-- them and can be rebuilt from them at any time (each is filled from `decisions` on creation).
--
-- Same portability rules as 001 (chDB 26.x and ClickHouse 18.16): `CREATE MATERIALIZED VIEW ..
-- TO`, ReplacingMergeTree with a version column, no LowCardinality, no TTL.
--
-- Latest emission of a decision. The version of an emission is its Kafka position,
-- kafka_partition * 2^40 + kafka_offset, so "greatest version" is the view's "greatest
-- (kafka_partition, kafka_offset)". Readers take argMax(..., version) per decision_id, which is
-- exact at any merge state; where a table is a ReplacingMergeTree (decision_day,
-- stay_emissions) it only gets cheaper as merges drop superseded rows. A decision_id keeps its
-- observed_at across emissions, so the monthly partitions never split a decision. The tables
-- read one traveller at a time (event_ports, decision_current) have no partitions and granules
-- of 256 rows, so a traveller's rows are one or two granules, not one per month.
--
-- Each view's SELECT is written once, here: the migration derives from it the fill of its table
-- (streams/store/sql_files.py), which copies existing rows when the table is created on a store
-- that already has data (guarded by the table being empty, so a re-run inserts nothing). Start
-- the sink after the migration: an emission inserted between the CREATE and the fill would make
-- the guard skip. A fill takes a decision's port and its instant from the stored crossing it
-- cites first when the emission does not carry them (written before DecisionEmitted v3 and v4;
-- the columns are listed in sql_files.LOOKED_UP), so a table rebuilt on an older store holds
-- them too; event_ports comes first for that. The guard is also on the crossings' side, so a
-- migration of a filled store reads none of them.

-- Every event of a traveller (heartbeats left out), ordered by traveller with fine granules and
-- no partitions: a traveller's timeline reads that traveller's rows only (the events table is
-- partitioned by month, so one traveller there costs a granule of every month), and the views
-- look up where and when a crossing happened (an exit, a decision's first evidence) by
-- (traveller, event). `detail` is the timeline's: a crossing summarised (direction, basis,
-- nationality, document, channel, permit), any other event's JSON payload.
CREATE TABLE IF NOT EXISTS {database}.event_ports
(
    traveller_id      String,
    event_id          String,
    type              String,
    port              Nullable(String),
    occurred_at       DateTime('UTC'),
    occurred_at_ms    UInt16,
    detail            String,
    kafka_topic       String,
    kafka_partition   Int32,
    kafka_offset      Int64
)
ENGINE = MergeTree()
ORDER BY (traveller_id, event_id, kafka_topic, kafka_partition, kafka_offset)
SETTINGS index_granularity = 256;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.event_ports_mv
TO {database}.event_ports
AS SELECT
    traveller_id, event_id, type, port, occurred_at, occurred_at_ms,
    if(type = 'CrossingRecorded',
       arrayStringConcat(arrayFilter(x -> x != '', [
           ifNull(direction, ''), ifNull(basis, ''), ifNull(nationality, ''),
           ifNull(document, ''), ifNull(channel, ''),
           if(permit_id IS NULL, '', concat('permit ', assumeNotNull(permit_id)))]), ' '),
       payload) AS detail,
    kafka_topic, kafka_partition, kafka_offset
FROM {database}.events
WHERE traveller_id != '';

-- Every emission of every decision, ordered by traveller with fine granules and no partitions:
-- the decisions in force, the stays, the latest flag of decision_log and the timeline's
-- decisions, read one traveller at a time (readers take the newest emission per decision_id).
CREATE TABLE IF NOT EXISTS {database}.decision_current
(
    traveller_id      String,
    decision_id       String,
    status            String,
    code              String,
    severity          String,
    jurisdiction      Nullable(String),
    rule              String,
    evidence          Array(String),
    entry_event_id    String,               -- evidence[1] ('' when there is no evidence)
    deadline          Nullable(DateTime('UTC')),
    deadline_ms       Nullable(UInt16),
    overstay_seconds  Nullable(Int64),
    observed_at       DateTime('UTC'),
    observed_at_ms    UInt16,
    detail            String,
    port              Nullable(String),     -- the decision's port (of its first evidence)
    emitted_at        DateTime('UTC'),
    emitted_at_ms     UInt16,
    kafka_topic       String,
    kafka_partition   Int32,
    kafka_offset      Int64,
    version           UInt64
)
ENGINE = MergeTree()
ORDER BY (traveller_id, decision_id, version)
SETTINGS index_granularity = 256;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.decision_current_mv
TO {database}.decision_current
AS SELECT
    traveller_id, decision_id, status, code, severity, jurisdiction, rule, evidence,
    evidence[1] AS entry_event_id, deadline, deadline_ms, overstay_seconds,
    observed_at, observed_at_ms, detail, port, emitted_at, emitted_at_ms,
    kafka_topic, kafka_partition, kafka_offset,
    toUInt64(kafka_partition) * 1099511627776 + toUInt64(kafka_offset) AS version
FROM {database}.decisions;

-- The same, narrow and ordered by day: decisions_by_rule_port_day reads one day's rows (the
-- port is the decision's own, so no crossing is joined).
CREATE TABLE IF NOT EXISTS {database}.decision_day
(
    day               Date,                 -- toDate(observed_at), UTC
    decision_id       String,
    status            String,
    traveller_id      String,
    code              String,
    severity          String,
    rule              String,
    port              Nullable(String),     -- the decision's own port (of its first evidence)
    entry_event_id    String,               -- evidence[1]
    version           UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (day, decision_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.decision_day_mv
TO {database}.decision_day
AS SELECT
    toDate(observed_at) AS day, decision_id, status, traveller_id, code, severity, rule, port,
    evidence[1] AS entry_event_id,
    toUInt64(kafka_partition) * 1099511627776 + toUInt64(kafka_offset) AS version
FROM {database}.decisions;

-- Every emission of a stay's decisions (STAY_OPENED and the four that end or judge it:
-- STAY_CLOSED, OVERSTAY, SUSPECTED_OVERSTAY, ENTRY_WITHOUT_EXIT), with the entry's instant and
-- port, which each of them carries (port, port_at: DecisionEmitted v4), and the place of its last
-- evidence (the exit: last_port, last_at, v5). stays, overstays, suspected_overstayers and
-- stay_decisions_in_force read it alone and join nothing. Ordered by code first, so a list of
-- one code (the suspected, the overstays) is one key range; then by traveller, with 256-row
-- granules, so one traveller's stays are a granule per code and month; partitioned by the
-- month of the entry, so one port-day of entries reads one month. entered_at is never NULL: a
-- STAY_OPENED's port_at is its own observed_at (the entry's occurred_at), and an emission older
-- than v4 falls back to its observed_at here, which the fill on creation corrects from the stored
-- entry (an older emission written into a new store through this view keeps that fallback: drop
-- the table and migrate again to rebuild it from the record with the lookups).
CREATE TABLE IF NOT EXISTS {database}.stay_emissions
(
    code              String,
    traveller_id      String,
    entry_event_id    String,               -- evidence[1]
    entered_at        DateTime('UTC'),      -- the entry's instant
    entered_at_ms     UInt16,
    entry_port        Nullable(String),
    decision_id       String,
    status            String,
    jurisdiction      Nullable(String),
    rule              String,
    deadline          Nullable(DateTime('UTC')),
    deadline_ms       Nullable(UInt16),
    overstay_seconds  Nullable(Int64),
    last_event_id     String,               -- evidence[-1]: the exit, or the second entry
    last_port         Nullable(String),     -- its port and instant (for an exit), v5
    last_at           Nullable(DateTime('UTC')),
    last_at_ms        Nullable(UInt16),
    observed_at       DateTime('UTC'),
    observed_at_ms    UInt16,
    emitted_at        DateTime('UTC'),
    emitted_at_ms     UInt16,
    version           UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(entered_at)
ORDER BY (code, traveller_id, entry_event_id, decision_id)
SETTINGS index_granularity = 256;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.stay_emissions_mv
TO {database}.stay_emissions
AS SELECT
    code, traveller_id, evidence[1] AS entry_event_id,
    ifNull(port_at, observed_at) AS entered_at, ifNull(port_at_ms, observed_at_ms) AS entered_at_ms,
    port AS entry_port, decision_id, status, jurisdiction, rule, deadline, deadline_ms,
    overstay_seconds, evidence[-1] AS last_event_id, last_port, last_at, last_at_ms,
    observed_at, observed_at_ms, emitted_at, emitted_at_ms,
    toUInt64(kafka_partition) * 1099511627776 + toUInt64(kafka_offset) AS version
FROM {database}.decisions
WHERE code IN ('STAY_OPENED', 'STAY_CLOSED', 'OVERSTAY', 'SUSPECTED_OVERSTAY', 'ENTRY_WITHOUT_EXIT');
