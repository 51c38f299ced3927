-- Ledger audit store: append-only tables written by the ClickHouse sink (streams/sink.py).
--
-- One DDL for both backends: chDB 4.4 (ClickHouse 26.9) and clickhouse-server 18.16. Hence:
--   * instants are `x DateTime('UTC')` (whole seconds) plus `x_ms UInt16` (0..999), because 18.16
--     has no DateTime64; the exact instant is x + x_ms / 1000;
--   * plain String instead of LowCardinality(String), no TTL, no skip indices;
--   * ORDER BY keys are never Nullable (heartbeats store traveller_id = '').
-- `{database}` is replaced by the validated settings.clickhouse_database before execution.
-- Statements are separated by a line ending in ';' and must not contain ';' otherwise.
-- Every statement is idempotent (IF NOT EXISTS): migration runs on every start.

CREATE DATABASE IF NOT EXISTS {database};

-- Every event from the crossings and permits topics, heartbeats included.
CREATE TABLE IF NOT EXISTS {database}.events
(
    event_id         String,
    type             String,
    traveller_id     String,              -- '' for GateHeartbeat
    occurred_at      DateTime('UTC'),
    occurred_at_ms   UInt16,
    port             Nullable(String),
    direction        Nullable(String),
    basis            Nullable(String),
    nationality      Nullable(String),
    document         Nullable(String),
    channel          Nullable(String),
    permit_id        Nullable(String),
    jurisdiction     Nullable(String),    -- only when the event names it (StayExtended)
    payload          String,              -- the whole event as JSON (event_to_json_dict)
    schema_fingerprint String,            -- hex CRC-64-AVRO fingerprint of the writer schema
    kafka_topic      String,
    kafka_partition  Int32,
    kafka_offset     Int64,
    ingested_at      DateTime('UTC'),
    leaf_index       UInt64,              -- position in its (topic, partition) Merkle log
    leaf_hash        String,              -- hex RFC 9162 leaf hash of the Kafka value ('' = none)
    kafka_value      String               -- the exact Kafka value, base64 ('' once erased)
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (traveller_id, occurred_at, event_id);

-- The full emission history of the decisions topic (ISSUED and RETRACTED, never updated).
-- emitted_at is the Kafka record timestamp of the decision message: when the ledger published
-- it, i.e. its knowledge time (as-of queries, streams/audit.py). The worker is at-least-once, so
-- an emission may appear again at a later offset; readers dedup on decision_id (002_views.sql).
CREATE TABLE IF NOT EXISTS {database}.decisions
(
    decision_id       String,
    status            String,
    traveller_id      String,
    code              String,
    severity          String,
    jurisdiction      Nullable(String),
    rule              String,
    evidence          Array(String),
    deadline          Nullable(DateTime('UTC')),
    deadline_ms       Nullable(UInt16),
    overstay_seconds  Nullable(Int64),
    observed_at       DateTime('UTC'),
    observed_at_ms    UInt16,
    detail            String,
    port              Nullable(String),     -- port of the crossing cited first (DecisionEmitted v3)
    port_at           Nullable(DateTime('UTC')), -- and its instant (v4)
    port_at_ms        Nullable(UInt16),
    last_port         Nullable(String),     -- port of the crossing cited last, when the evidence
    last_at           Nullable(DateTime('UTC')), -- cites more than one event (v5): for
    last_at_ms        Nullable(UInt16),     -- STAY_CLOSED and OVERSTAY, the exit
    emitted_at        DateTime('UTC'),
    emitted_at_ms     UInt16,
    kafka_topic       String,
    kafka_partition   Int32,
    kafka_offset      Int64,
    ingested_at       DateTime('UTC'),
    leaf_index        UInt64,
    leaf_hash         String,
    kafka_value       String
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(observed_at)
ORDER BY (traveller_id, observed_at, decision_id);

-- Messages the workers could not process. raw_base64 is the original message value, base64.
CREATE TABLE IF NOT EXISTS {database}.dead_letters
(
    source_topic         String,
    source_partition     Int32,
    source_offset        Int64,
    source_timestamp     Nullable(DateTime('UTC')),
    source_timestamp_ms  Nullable(UInt16),
    reason               String,
    raw_base64           String,
    failed_at            DateTime('UTC'),
    failed_at_ms         UInt16,
    kafka_topic          String,
    kafka_partition      Int32,
    kafka_offset         Int64,
    ingested_at          DateTime('UTC'),
    leaf_index           UInt64,
    leaf_hash            String,
    kafka_value          String
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(failed_at)
ORDER BY (source_topic, source_partition, source_offset);

-- Sink progress: every offset below next_offset of (kafka_topic, kafka_partition) is stored in
-- the tables above. Written after a batch's rows are in; read as max(next_offset).
CREATE TABLE IF NOT EXISTS {database}.sink_offsets
(
    kafka_topic      String,
    kafka_partition  Int32,
    next_offset      Int64,
    committed_at     DateTime('UTC')
)
ENGINE = ReplacingMergeTree(next_offset)
ORDER BY (kafka_topic, kafka_partition);
