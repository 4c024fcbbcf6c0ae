from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from billing.db import AggregateDecimal, Base, utcnow


class Event(Base):
    """One usage fact, stored as sent; (organization, transaction_id) is its idempotency key forever.

    Besides what was sent, each event keeps what its metric makes of it at ingestion (`value`,
    `unique_value`, `operation`, `group_key`), so that neither the rollup job nor a usage query
    has to parse properties again. Changing a metric recomputes them (metering.rollups.rebuild).

    No foreign key to `organizations`: the organization comes from the API key that sent the event,
    organizations are never deleted, and the per-row check cost PostgreSQL a tenth of its insert
    time at batch ingestion (bench/README.md).
    """

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("organization_id", "transaction_id", name="uq_events_org_transaction_id"),
        Index("ix_events_org_subscription_code_ts", "organization_id", "external_subscription_id", "code", "timestamp"),
        # The tail past the rollup watermark (metering.rollups), read by every usage query.
        Index("ix_events_org_subscription_code_id", "organization_id", "external_subscription_id", "code", "id"),
        # Ids only ever grow, even after deletions: the rollup watermark relies on it (SQLite would
        # otherwise reuse the ids of deleted last rows).
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    organization_id: Mapped[str] = mapped_column(String(36))
    transaction_id: Mapped[str] = mapped_column(String(255))
    external_subscription_id: Mapped[str] = mapped_column(String(255))
    # Resolved at ingestion; None when no subscription matched (the event is kept, not lost).
    subscription_id: Mapped[str | None] = mapped_column(String(36))
    code: Mapped[str] = mapped_column(String(255))
    timestamp: Mapped[datetime]
    properties: Mapped[dict] = mapped_column(default=dict)
    precise_total_amount_cents: Mapped[Decimal | None]
    value: Mapped[Decimal | None]  # the metric's number for this event (field or expression)
    unique_value: Mapped[str | None] = mapped_column(String(255))  # unique_count_agg: the value counted
    operation: Mapped[str] = mapped_column(String(8), default="add")  # unique_count_agg: add | remove
    group_key: Mapped[str] = mapped_column(String(1024), default="")  # the metric's filter properties, canonical
    error: Mapped[str | None] = mapped_column(String(64))  # why it may not be billed (shown in admin)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class _RollupColumns:
    """Sums of one bucket of one subscription's events of one metric and one filter combination.

    Every field combines associatively (sum, max, latest, Σ value × time), so a period's usage is
    the combination of its whole buckets plus the raw events of its partial edges and of the tail
    not folded yet: exact, and independent of how many events the period holds.
    """

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"),
                                                 primary_key=True)
    external_subscription_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    code: Mapped[str] = mapped_column(String(255), primary_key=True)
    group_key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(primary_key=True)
    events_count: Mapped[int] = mapped_column(BigInteger, default=0)
    value_sum: Mapped[Decimal] = mapped_column(AggregateDecimal(), default=Decimal(0))
    value_max: Mapped[Decimal | None] = mapped_column(AggregateDecimal())
    # Σ value × Unix seconds (weighted sum)
    value_time_sum: Mapped[Decimal] = mapped_column(AggregateDecimal(), default=Decimal(0))
    latest_timestamp: Mapped[datetime | None]
    latest_event_id: Mapped[int | None] = mapped_column(BigInteger)
    latest_value: Mapped[Decimal | None] = mapped_column(AggregateDecimal())


class UsageRollup(_RollupColumns, Base):
    """One UTC hour of a subscription's events of one metric and filter combination."""

    __tablename__ = "usage_rollups"


class UsageDailyRollup(_RollupColumns, Base):
    """One UTC day of the same: a month's usage sums ~30 of these instead of ~720 hours."""

    __tablename__ = "usage_daily_rollups"


class _UniqueValueColumns:
    """For unique_count_agg: one value's additions and removals in one hour."""

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"),
                                                 primary_key=True)
    external_subscription_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    code: Mapped[str] = mapped_column(String(255), primary_key=True)
    group_key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    unique_value: Mapped[str] = mapped_column(String(255), primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(primary_key=True)
    adds: Mapped[int] = mapped_column(default=0)
    removes: Mapped[int] = mapped_column(default=0)
    last_timestamp: Mapped[datetime]
    last_event_id: Mapped[int] = mapped_column(BigInteger)
    last_operation: Mapped[str] = mapped_column(String(8))


class UsageUniqueValue(_UniqueValueColumns, Base):
    """For unique_count_agg: one value's additions and removals in one hour."""

    __tablename__ = "usage_unique_values"


# The ClickHouse event store's rollups (metering.clickhouse_store): the same sums, folded from its events by its own
# watermark. Tables of their own, so that the two stores' rollups never mix: each numbers its events separately.


class ClickHouseHourlyRollup(_RollupColumns, Base):
    __tablename__ = "clickhouse_usage_rollups"


class ClickHouseDailyRollup(_RollupColumns, Base):
    __tablename__ = "clickhouse_usage_daily_rollups"


class ClickHouseUniqueValue(_UniqueValueColumns, Base):
    __tablename__ = "clickhouse_usage_unique_values"


class RollupTables(NamedTuple):
    """Where one store's rollups are: hourly, daily, and the unique values' hours."""

    hourly: type
    daily: type
    unique_values: type


SQL_ROLLUPS = RollupTables(UsageRollup, UsageDailyRollup, UsageUniqueValue)
CLICKHOUSE_ROLLUPS = RollupTables(ClickHouseHourlyRollup, ClickHouseDailyRollup, ClickHouseUniqueValue)


class RollupWatermark(Base):
    """How far the rollup job has folded: every event with id <= last_event_id is in the rollups."""

    __tablename__ = "rollup_watermarks"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigInteger, default=0)
