"""PostgreSQL advisory lock keys of metering (one place, so no two uses ever share a key).

- INSERT_BARRIER: held shared by every transaction that inserts events, exclusively for an instant
  by the rollup job before it reads the highest settled id (metering.rollups).
- CATALOG_NAMESPACE: with the organization's hash, held shared by ingestion and exclusively by a
  transaction that changes what ingestion reads (metering.catalog_cache).
- EVENTS_NAMESPACE: with the organization's hash, held by the ClickHouse store's ingestion while it checks
  which transaction ids are new and inserts them (metering.clickhouse_store): one batch of an organization
  at a time, so a transaction id is never stored twice.
"""

INSERT_BARRIER = 7_310_001
CATALOG_NAMESPACE = 7_310_002
EVENTS_NAMESPACE = 7_310_003
