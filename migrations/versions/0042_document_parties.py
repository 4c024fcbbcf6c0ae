"""the parties an invoice or a credit note prints, kept when it is issued

Revision ID: 0042_document_parties
Revises: 0041_list_search_indexes
Create Date: 2026-12-07 09:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billing.db

revision: str = '0042_document_parties'
down_revision: str | None = '0041_list_search_indexes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('invoices', 'credit_notes')


def upgrade() -> None:
    # Documents issued before keep none: their PDFs print the parties as they are (billing.invoicing.parties).
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('parties', billing.db.JSONType, nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column('parties')
