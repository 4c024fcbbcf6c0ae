"""progressive billing: plan usage thresholds, their crossings, historical usage, progressive credits

Revision ID: 0033_progressive_billing
Revises: 0032_entitlements
Create Date: 2026-12-06 23:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billing.db

revision: str = '0033_progressive_billing'
down_revision: str | None = '0032_entitlements'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'usage_thresholds',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('organization_id', sa.String(length=36), nullable=False),
        sa.Column('plan_id', sa.String(length=36), nullable=False),
        sa.Column('threshold_display_name', sa.String(length=255), nullable=True),
        sa.Column('amount_cents', sa.BigInteger(), nullable=False),
        sa.Column('recurring', sa.Boolean(), nullable=False),
        sa.Column('created_at', billing.db.UTCDateTime(), nullable=False),
        sa.Column('updated_at', billing.db.UTCDateTime(), nullable=False),
        sa.Column('deleted_at', billing.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_usage_thresholds_organization_id', 'usage_thresholds', ['organization_id'])
    op.create_index('ix_usage_thresholds_plan_id', 'usage_thresholds', ['plan_id'])
    op.create_table(
        'applied_usage_thresholds',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('organization_id', sa.String(length=36), nullable=False),
        sa.Column('invoice_id', sa.String(length=36), nullable=False),
        sa.Column('subscription_id', sa.String(length=36), nullable=False),
        sa.Column('usage_threshold_id', sa.String(length=36), nullable=False),
        sa.Column('crossed_amount_cents', sa.BigInteger(), nullable=False),
        sa.Column('lifetime_usage_amount_cents', sa.BigInteger(), nullable=False),
        sa.Column('period_start', billing.db.UTCDateTime(), nullable=False),
        sa.Column('created_at', billing.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id']),
        sa.ForeignKeyConstraint(['usage_threshold_id'], ['usage_thresholds.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('subscription_id', 'usage_threshold_id', 'crossed_amount_cents',
                            name='uq_applied_usage_thresholds_crossing'),
    )
    for column in ('organization_id', 'invoice_id', 'subscription_id', 'usage_threshold_id'):
        op.create_index(f'ix_applied_usage_thresholds_{column}', 'applied_usage_thresholds', [column])
    with op.batch_alter_table('subscriptions') as batch:
        batch.add_column(sa.Column('historical_usage_amount_cents', sa.BigInteger(), nullable=False,
                                   server_default='0'))
    with op.batch_alter_table('credits') as batch:
        batch.add_column(sa.Column('progressive_billing_invoice_id', sa.String(length=36), nullable=True))
        batch.create_foreign_key('fk_credits_progressive_billing_invoice_id', 'invoices',
                                 ['progressive_billing_invoice_id'], ['id'])
        batch.create_index('ix_credits_progressive_billing_invoice_id', ['progressive_billing_invoice_id'])
    # The usage threshold check follows the events by id from here on (earlier events were billed without it).
    op.execute("INSERT INTO rollup_watermarks (name, last_event_id) "
               "SELECT 'usage_thresholds', coalesce(max(id), 0) FROM events")


def downgrade() -> None:
    op.execute("DELETE FROM rollup_watermarks WHERE name = 'usage_thresholds'")
    with op.batch_alter_table('credits') as batch:
        batch.drop_index('ix_credits_progressive_billing_invoice_id')
        batch.drop_constraint('fk_credits_progressive_billing_invoice_id', type_='foreignkey')
        batch.drop_column('progressive_billing_invoice_id')
    with op.batch_alter_table('subscriptions') as batch:
        batch.drop_column('historical_usage_amount_cents')
    op.drop_table('applied_usage_thresholds')
    op.drop_table('usage_thresholds')
