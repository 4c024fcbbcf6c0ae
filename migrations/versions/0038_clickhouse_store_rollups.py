"""the ClickHouse event store's rollups: its own hourly, daily and unique-value tables in the ledger

Revision ID: 0038_clickhouse_store_rollups
Revises: 0037_event_ids
Create Date: 2026-12-07 06:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billing.db

revision: str = '0038_clickhouse_store_rollups'
down_revision: str | None = '0037_event_ids'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY = ('organization_id', 'external_subscription_id', 'code', 'group_key')


def _key_columns() -> list[sa.Column]:
    return [sa.Column('organization_id', sa.String(length=36),
                      sa.ForeignKey('organizations.id', ondelete='CASCADE'), nullable=False),
            sa.Column('external_subscription_id', sa.String(length=255), nullable=False),
            sa.Column('code', sa.String(length=255), nullable=False),
            sa.Column('group_key', sa.String(length=1024), nullable=False)]


def upgrade() -> None:
    # The same columns as usage_rollups / usage_daily_rollups / usage_unique_values (billing/metering/models.py):
    # the ClickHouse store folds its events into these, never into the SQL store's (docs/metering.md).
    for table in ('clickhouse_usage_rollups', 'clickhouse_usage_daily_rollups'):
        op.create_table(
            table, *_key_columns(),
            sa.Column('bucket_start', billing.db.UTCDateTime(), nullable=False),
            sa.Column('events_count', sa.BigInteger(), nullable=False),
            sa.Column('value_sum', billing.db.AggregateDecimal(), nullable=False),
            sa.Column('value_max', billing.db.AggregateDecimal(), nullable=True),
            sa.Column('value_time_sum', billing.db.AggregateDecimal(), nullable=False),
            sa.Column('latest_timestamp', billing.db.UTCDateTime(), nullable=True),
            sa.Column('latest_event_id', sa.BigInteger(), nullable=True),
            sa.Column('latest_value', billing.db.AggregateDecimal(), nullable=True),
            sa.PrimaryKeyConstraint(*_KEY, 'bucket_start'))
    op.create_table(
        'clickhouse_usage_unique_values', *_key_columns(),
        sa.Column('unique_value', sa.String(length=255), nullable=False),
        sa.Column('bucket_start', billing.db.UTCDateTime(), nullable=False),
        sa.Column('adds', sa.Integer(), nullable=False),
        sa.Column('removes', sa.Integer(), nullable=False),
        sa.Column('last_timestamp', billing.db.UTCDateTime(), nullable=False),
        sa.Column('last_event_id', sa.BigInteger(), nullable=False),
        sa.Column('last_operation', sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint(*_KEY, 'unique_value', 'bucket_start'))


def downgrade() -> None:
    for table in ('clickhouse_usage_unique_values', 'clickhouse_usage_daily_rollups', 'clickhouse_usage_rollups'):
        op.drop_table(table)
