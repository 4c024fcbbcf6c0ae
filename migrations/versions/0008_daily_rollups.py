"""daily usage rollups beside the hourly ones

A month of usage sums ~30 daily rows per filter group instead of ~720 hourly ones. Both levels are
folded by the same job, so they are rebuilt here from the events: the hourly rollups are emptied
and the watermark goes back to 0 (until the job has run, usage reads the events raw: the same
results, only slower for a while).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billing.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usage_daily_rollups",
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("external_subscription_id", sa.String(length=255), nullable=False),
        sa.Column("code", sa.String(length=255), nullable=False),
        sa.Column("group_key", sa.String(length=1024), nullable=False),
        sa.Column("bucket_start", billing.db.UTCDateTime(), nullable=False),
        sa.Column("events_count", sa.BigInteger(), nullable=False),
        sa.Column("value_sum", billing.db.PreciseDecimal(precision=40, scale=15), nullable=False),
        sa.Column("value_max", billing.db.PreciseDecimal(precision=40, scale=15), nullable=True),
        sa.Column("value_time_sum", billing.db.PreciseDecimal(precision=40, scale=15), nullable=False),
        sa.Column("latest_timestamp", billing.db.UTCDateTime(), nullable=True),
        sa.Column("latest_event_id", sa.BigInteger(), nullable=True),
        sa.Column("latest_value", billing.db.PreciseDecimal(precision=40, scale=15), nullable=True),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("organization_id", "external_subscription_id", "code", "group_key", "bucket_start"),
    )
    op.execute("DELETE FROM usage_rollups")
    op.execute("DELETE FROM usage_unique_values")
    op.execute("UPDATE rollup_watermarks SET last_event_id = 0 WHERE name = 'events'")


def downgrade() -> None:
    op.drop_table("usage_daily_rollups")
