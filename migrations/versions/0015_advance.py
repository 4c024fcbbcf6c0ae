"""termination credit notes (one per terminated subscription); regroup_paid_fees: fees' own payment status

Revision ID: 0015_advance
Revises: 0014_addons_jwt
Create Date: 2026-11-26 09:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billing.db

revision: str = '0015_advance'
down_revision: str | None = '0014_addons_jwt'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('credit_notes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('terminated_subscription_id', sa.String(length=36), nullable=True))
        batch_op.create_unique_constraint('uq_credit_notes_terminated_subscription', ['terminated_subscription_id'])
        batch_op.create_foreign_key('fk_credit_notes_terminated_subscription', 'subscriptions',
                                    ['terminated_subscription_id'], ['id'])
    with op.batch_alter_table('charges', schema=None) as batch_op:
        batch_op.add_column(sa.Column('regroup_paid_fees', sa.String(length=16), nullable=True))
    with op.batch_alter_table('fees', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payment_status', sa.String(length=16), nullable=False,
                                      server_default='pending'))
        batch_op.add_column(sa.Column('succeeded_at', billing.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('failed_at', billing.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('refunded_at', billing.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('fees', schema=None) as batch_op:
        batch_op.drop_column('refunded_at')
        batch_op.drop_column('failed_at')
        batch_op.drop_column('succeeded_at')
        batch_op.drop_column('payment_status')
    with op.batch_alter_table('charges', schema=None) as batch_op:
        batch_op.drop_column('regroup_paid_fees')
    with op.batch_alter_table('credit_notes', schema=None) as batch_op:
        batch_op.drop_constraint('fk_credit_notes_terminated_subscription', type_='foreignkey')
        batch_op.drop_constraint('uq_credit_notes_terminated_subscription', type_='unique')
        batch_op.drop_column('terminated_subscription_id')
