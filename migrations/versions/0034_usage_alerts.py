"""usage alerts: subscription and wallet alerts, their thresholds, what fired and what is due (Lago's usage monitoring)

Revision ID: 0034_usage_alerts
Revises: 0033_progressive_billing
Create Date: 2026-12-06 23:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billing.db

revision: str = '0034_usage_alerts'
down_revision: str | None = '0033_progressive_billing'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'alerts',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('organization_id', sa.String(length=36), nullable=False),
        sa.Column('subscription_external_id', sa.String(length=255), nullable=True),
        sa.Column('wallet_id', sa.String(length=36), nullable=True),
        sa.Column('billable_metric_id', sa.String(length=36), nullable=True),
        sa.Column('alert_type', sa.String(length=64), nullable=False),
        sa.Column('code', sa.String(length=255), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=True),
        sa.Column('direction', sa.String(length=16), nullable=False),
        sa.Column('previous_value', billing.db.PreciseDecimal(), nullable=False),
        sa.Column('period_start', billing.db.UTCDateTime(), nullable=True),
        sa.Column('last_processed_at', billing.db.UTCDateTime(), nullable=True),
        sa.Column('created_at', billing.db.UTCDateTime(), nullable=False),
        sa.Column('updated_at', billing.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['wallet_id'], ['wallets.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['billable_metric_id'], ['billable_metrics.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('organization_id', 'subscription_external_id', 'code', name='uq_alerts_subscription_code'),
        sa.UniqueConstraint('wallet_id', 'code', name='uq_alerts_wallet_code'),
    )
    op.create_index('ix_alerts_org_subscription', 'alerts', ['organization_id', 'subscription_external_id'])
    op.create_index('ix_alerts_wallet_id', 'alerts', ['wallet_id'])
    op.create_index('ix_alerts_billable_metric_id', 'alerts', ['billable_metric_id'])
    op.create_table(
        'alert_thresholds',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('alert_id', sa.String(length=36), nullable=False),
        sa.Column('code', sa.String(length=255), nullable=True),
        sa.Column('value', billing.db.PreciseDecimal(), nullable=False),
        sa.Column('recurring', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_alert_thresholds_alert_id', 'alert_thresholds', ['alert_id'])
    op.create_table(
        'triggered_alerts',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('organization_id', sa.String(length=36), nullable=False),
        sa.Column('alert_id', sa.String(length=36), nullable=False),
        sa.Column('subscription_id', sa.String(length=36), nullable=True),
        sa.Column('wallet_id', sa.String(length=36), nullable=True),
        sa.Column('period_start', billing.db.UTCDateTime(), nullable=True),
        sa.Column('current_value', billing.db.PreciseDecimal(), nullable=False),
        sa.Column('previous_value', billing.db.PreciseDecimal(), nullable=False),
        sa.Column('crossed_thresholds', billing.db.JSONType, nullable=False),
        sa.Column('triggered_at', billing.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['wallet_id'], ['wallets.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_triggered_alerts_alert_time', 'triggered_alerts', ['alert_id', 'triggered_at'])
    op.create_index('ix_triggered_alerts_subscription_period', 'triggered_alerts', ['subscription_id', 'period_start'])
    op.create_table(
        'alert_crossings',
        sa.Column('alert_id', sa.String(length=36), nullable=False),
        sa.Column('period_key', sa.String(length=40), nullable=False),
        sa.Column('value_key', sa.String(length=64), nullable=False),
        sa.Column('triggered_alert_id', sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['triggered_alert_id'], ['triggered_alerts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('alert_id', 'period_key', 'value_key'),
    )
    op.create_index('ix_alert_crossings_triggered_alert_id', 'alert_crossings', ['triggered_alert_id'])
    op.create_table(
        'alert_checks_due',
        sa.Column('organization_id', sa.String(length=36), nullable=False),
        sa.Column('subscription_external_id', sa.String(length=255), nullable=False),
        sa.Column('requested_at', billing.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('organization_id', 'subscription_external_id'),
    )
    # The alerts' own watermark starts at the events stored today: no alert exists before this migration.
    op.execute("INSERT INTO rollup_watermarks (name, last_event_id) "
               "SELECT 'usage_alerts', coalesce(max(id), 0) FROM events")


def downgrade() -> None:
    op.execute("DELETE FROM rollup_watermarks WHERE name = 'usage_alerts'")
    op.drop_table('alert_checks_due')
    op.drop_table('alert_crossings')
    op.drop_table('triggered_alerts')
    op.drop_table('alert_thresholds')
    op.drop_table('alerts')
