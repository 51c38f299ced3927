-- Tamper evidence (streams/trust): signed checkpoints of the per-(topic, partition) Merkle logs.
-- The record tables carry each row's leaf beside it (leaf_index, leaf_hash, kafka_value in
-- 001_ledger.sql); this file holds what the trust modules add. Same portability rules as 001.

-- One row per signed tree head. root_hash is hex, signature base64 (Ed25519 over the checkpoint
-- note, streams/trust/checkpoint.py). next_offset: every leaf of the tree lies below it.
CREATE TABLE IF NOT EXISTS {database}.checkpoints
(
    log_id           String,
    kafka_topic      String,
    kafka_partition  Int32,
    tree_size        UInt64,
    root_hash        String,
    next_offset      Int64,
    signed_at        DateTime('UTC'),
    signed_at_ms     UInt16,
    key_id           String,
    signature        String
)
ENGINE = MergeTree()
ORDER BY (kafka_topic, kafka_partition, tree_size);

-- Retention erasures (ledger retention --apply): one row per (stay, topic, partition) erased.
-- The rows named by `offsets` keep their leaf hash but lose their payload; ledger verify counts
-- them as erased. The same facts are published on border.erasures.v1. A stay is named by its
-- entry event id only: the erasure record itself holds no personal data.
CREATE TABLE IF NOT EXISTS {database}.erasures
(
    erasure_id       String,
    jurisdiction     String,
    policy           String,
    stay             String,
    outcome          String,
    last_record_at   DateTime('UTC'),
    due_at           DateTime('UTC'),
    erased_at        DateTime('UTC'),
    kafka_topic      String,
    kafka_partition  Int32,
    offsets          Array(Int64),
    first_leaf       UInt64,
    last_leaf        UInt64
)
ENGINE = MergeTree()
ORDER BY (kafka_topic, kafka_partition, erasure_id);
