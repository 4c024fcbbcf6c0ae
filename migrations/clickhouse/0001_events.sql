-- Events of the ClickHouse event store (billing/metering/clickhouse_store.py, docs/metering.md).
-- One row per stored event and revision: a metric changed re-derives its events as a higher revision.
-- Every copy of a transaction id shares organization, subscription, code, timestamp and id, so the sort key
-- (the ReplacingMergeTree's dedup key) gathers them, and merges keep the highest revision; reads collapse
-- them before counting (LIMIT 1 BY transaction_id), whether merged yet or not.
-- Sorted by time within a subscription's metric: a usage read of a range reads the granules of that range only.
-- The min-max index on (id, timestamp) skips the rest: a usage read's raw events are the partial hours at the
-- range's edges OR the events past the rollup watermark (id), one condition the index evaluates per granule; the
-- jobs' id ranges use it too (ids grow with time, so a range of new ids skips the old granules).
-- The projection `by_transaction` sorts (organization, transaction id) beside it, written with each part: the
-- ingestion's "is this transaction id new?" and GET /events/:transaction_id are point lookups in it.
CREATE TABLE IF NOT EXISTS events (
    id UInt64,
    organization_id String,
    transaction_id String,
    external_subscription_id String,
    subscription_id Nullable(String),
    code String,
    timestamp DateTime64(6, 'UTC'),
    properties String,
    precise_total_amount_cents Nullable(Decimal(40, 15)),
    value Nullable(Decimal(40, 15)),
    unique_value Nullable(String),
    operation LowCardinality(String),
    group_key String,
    error Nullable(String),
    created_at DateTime64(6, 'UTC'),
    revision UInt64,
    INDEX events_id_time (id, timestamp) TYPE minmax GRANULARITY 1,
    PROJECTION by_transaction (
        SELECT organization_id, transaction_id, id, external_subscription_id, code, timestamp
        ORDER BY organization_id, transaction_id
    )
) ENGINE = ReplacingMergeTree(revision)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (organization_id, external_subscription_id, code, timestamp, transaction_id)
SETTINGS deduplicate_merge_projection_mode = 'rebuild'
