"""credit note offsets: what a credit note takes off its invoice's amount due

Revision ID: 0019_credit_note_offsets
Revises: 0018_ingest_function
Create Date: 2026-11-25 07:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0019_credit_note_offsets'
down_revision: str | None = '0018_ingest_function'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('credit_notes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('offset_amount_cents', sa.BigInteger(), nullable=False, server_default='0'))
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('offset_amount_cents', sa.BigInteger(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_column('offset_amount_cents')
    with op.batch_alter_table('credit_notes', schema=None) as batch_op:
        batch_op.drop_column('offset_amount_cents')
