"""organization bank details printed on invoices (Settings › Invoices)

Revision ID: 0030_organization_bank_details
Revises: 0029_customer_shipping_locale
Create Date: 2026-12-06 21:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0030_organization_bank_details'
down_revision: str | None = '0029_customer_shipping_locale'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BANK_COLUMNS = (('bank_account_holder', 255), ('bank_iban', 34), ('bank_bic', 11), ('bank_name', 255))


def upgrade() -> None:
    with op.batch_alter_table('organizations') as batch:
        for name, length in BANK_COLUMNS:
            batch.add_column(sa.Column(name, sa.String(length=length), nullable=True))
        batch.add_column(sa.Column('payment_instructions', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('organizations') as batch:
        batch.drop_column('payment_instructions')
        for name, _length in reversed(BANK_COLUMNS):
            batch.drop_column(name)
