"""metering: event facts, hourly rollups, unique values

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""
import json
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from alembic import op

import billing.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usage_rollups",
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
    op.create_table(
        "usage_unique_values",
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("external_subscription_id", sa.String(length=255), nullable=False),
        sa.Column("code", sa.String(length=255), nullable=False),
        sa.Column("group_key", sa.String(length=1024), nullable=False),
        sa.Column("unique_value", sa.String(length=255), nullable=False),
        sa.Column("bucket_start", billing.db.UTCDateTime(), nullable=False),
        sa.Column("adds", sa.Integer(), nullable=False),
        sa.Column("removes", sa.Integer(), nullable=False),
        sa.Column("last_timestamp", billing.db.UTCDateTime(), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.Column("last_operation", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("organization_id", "external_subscription_id", "code", "group_key", "unique_value",
                                "bucket_start"),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("value", billing.db.PreciseDecimal(precision=40, scale=15), nullable=True))
        batch_op.add_column(sa.Column("unique_value", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("operation", sa.String(length=8), nullable=False, server_default="add"))
        batch_op.add_column(sa.Column("group_key", sa.String(length=1024), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("error", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("rolled_up", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index("ix_events_pending_rollup",
                              ["organization_id", "external_subscription_id", "code", "timestamp"], unique=False,
                              sqlite_where=sa.text("rolled_up = 0"), postgresql_where=sa.text("NOT rolled_up"))
    _derive_existing_events()


def _derive_existing_events() -> None:
    """Give events stored before this revision their metric's value (0001 had count_agg and sum_agg only).

    Self-contained on purpose: a migration must not depend on application code that will change.
    Every event stays pending, so the rollup job folds them all in.
    """
    connection = op.get_bind()
    metrics = {(org, code): (kind, field) for org, code, kind, field in connection.execute(sa.text(
        "SELECT organization_id, code, aggregation_type, field_name FROM billable_metrics WHERE deleted_at IS NULL"))}
    events = sa.table("events", sa.column("id"), sa.column("value", billing.db.PreciseDecimal()),
                      sa.column("error", sa.String()))
    for event_id, org, code, properties in connection.execute(sa.text(
            "SELECT id, organization_id, code, properties FROM events")).all():
        metric = metrics.get((org, code))
        if metric is None:
            values = {"value": None, "error": "metric_not_found"}
        elif metric[0] == "count_agg":
            continue
        else:
            props = json.loads(properties) if isinstance(properties, str) else (properties or {})
            raw = props.get(metric[1])
            try:
                value, error = Decimal(str(raw)), None
                if not value.is_finite() or isinstance(raw, bool):
                    raise InvalidOperation
            except (InvalidOperation, ValueError):
                value, error = Decimal(0), "missing_field" if raw is None else "invalid_value"
            values = {"value": value, "error": error}
        connection.execute(sa.update(events).where(events.c.id == event_id).values(**values))


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_pending_rollup", sqlite_where=sa.text("rolled_up = 0"),
                            postgresql_where=sa.text("NOT rolled_up"))
        for column in ("rolled_up", "error", "group_key", "operation", "unique_value", "value"):
            batch_op.drop_column(column)
    op.drop_table("usage_unique_values")
    op.drop_table("usage_rollups")
