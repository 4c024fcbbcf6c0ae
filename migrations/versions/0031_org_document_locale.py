"""organization default language of documents (Settings › Invoice PDFs)

Revision ID: 0031_org_document_locale
Revises: 0030_organization_bank_details
Create Date: 2026-12-06 23:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0031_org_document_locale'
down_revision: str | None = '0030_organization_bank_details'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('organizations') as batch:
        batch.add_column(sa.Column('document_locale', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('organizations') as batch:
        batch.drop_column('document_locale')
