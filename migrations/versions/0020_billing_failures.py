"""billing failures: subscriptions the clock could not bill, start or end, until a later run does

Revision ID: 0020_billing_failures
Revises: 0019_credit_note_offsets
Create Date: 2026-12-06 10:50:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billing.db

revision: str = '0020_billing_failures'
down_revision: str | None = '0019_credit_note_offsets'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'billing_failures',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('organization_id', sa.String(length=36), nullable=False),
        sa.Column('subscription_id', sa.String(length=36), nullable=False),
        sa.Column('step', sa.String(length=16), nullable=False),
        sa.Column('period_from', billing.db.UTCDateTime(), nullable=True),
        sa.Column('period_to', billing.db.UTCDateTime(), nullable=True),
        sa.Column('reason', sa.String(length=500), nullable=False),
        sa.Column('first_failed_at', billing.db.UTCDateTime(), nullable=False),
        sa.Column('last_failed_at', billing.db.UTCDateTime(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('resolved_at', billing.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('subscription_id', 'step', name='uq_billing_failures_subscription_step'),
    )
    op.create_index('ix_billing_failures_org_open', 'billing_failures', ['organization_id', 'resolved_at'])


def downgrade() -> None:
    op.drop_index('ix_billing_failures_org_open', table_name='billing_failures')
    op.drop_table('billing_failures')
