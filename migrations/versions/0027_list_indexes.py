"""list indexes: the admin lists across customers read a page by walking an index in their default order
(invoices and credit notes by issuing date, subscriptions by their end), and find overdue invoices without
reading the others

Revision ID: 0027_list_indexes
Revises: 0026_provider_customers
Create Date: 2026-12-06 20:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0027_list_indexes'
down_revision: str | None = '0026_provider_customers'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OVERDUE = 'payment_overdue'


def upgrade() -> None:
    op.create_index('ix_invoices_org_issuing', 'invoices', ['organization_id', 'issuing_date', 'created_at', 'id'])
    op.create_index('ix_invoices_org_overdue', 'invoices', ['organization_id', 'customer_id'],
                    sqlite_where=sa.text(_OVERDUE), postgresql_where=sa.text(_OVERDUE))
    op.create_index('ix_credit_notes_org_issuing', 'credit_notes',
                    ['organization_id', 'issuing_date', 'created_at', 'id'])
    op.create_index('ix_subscriptions_org_ending', 'subscriptions', ['organization_id', 'ending_at'])


def downgrade() -> None:
    op.drop_index('ix_subscriptions_org_ending', table_name='subscriptions')
    op.drop_index('ix_credit_notes_org_issuing', table_name='credit_notes')
    op.drop_index('ix_invoices_org_overdue', table_name='invoices')
    op.drop_index('ix_invoices_org_issuing', table_name='invoices')
