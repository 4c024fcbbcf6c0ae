"""payment emails: a receipt, a failed charge, a payment to confirm, one per payment and kind

Revision ID: 0023_payment_emails
Revises: 0022_payments
Create Date: 2026-12-08 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0023_payment_emails'
down_revision: str | None = '0022_payments'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('email_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payment_id', sa.String(length=36), nullable=True))
        batch_op.create_unique_constraint('uq_email_deliveries_payment_kind', ['payment_id', 'kind'])
        batch_op.create_foreign_key('fk_email_deliveries_payment_id_payments', 'payments', ['payment_id'], ['id'],
                                    ondelete='CASCADE')


def downgrade() -> None:
    with op.batch_alter_table('email_deliveries', schema=None) as batch_op:
        batch_op.drop_constraint('fk_email_deliveries_payment_id_payments', type_='foreignkey')
        batch_op.drop_constraint('uq_email_deliveries_payment_kind', type_='unique')
        batch_op.drop_column('payment_id')
