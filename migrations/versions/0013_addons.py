"""add-ons and one-off invoices

Revision ID: 0013_addons
Revises: 0012
Create Date: 2026-11-25
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billing.db


revision: str = '0013_addons'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('add_ons',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('code', sa.String(length=255), nullable=False),
    sa.Column('invoice_display_name', sa.String(length=255), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('amount_currency', sa.String(length=3), nullable=False),
    sa.Column('created_at', billing.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', billing.db.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', billing.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('add_ons', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_add_ons_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index('uq_add_ons_org_code', ['organization_id', 'code'], unique=True, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))

    op.create_table('add_ons_taxes',
    sa.Column('add_on_id', sa.String(length=36), nullable=False),
    sa.Column('tax_id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['add_on_id'], ['add_ons.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tax_id'], ['taxes.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('add_on_id', 'tax_id')
    )
    with op.batch_alter_table('add_ons_taxes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_add_ons_taxes_tax_id'), ['tax_id'], unique=False)

    with op.batch_alter_table('fees', schema=None) as batch_op:
        batch_op.add_column(sa.Column('add_on_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('item_name', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('line_description', sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f('ix_fees_add_on_id'), ['add_on_id'], unique=False)
        batch_op.create_foreign_key('fk_fees_add_on_id', 'add_ons', ['add_on_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('fees', schema=None) as batch_op:
        batch_op.drop_constraint('fk_fees_add_on_id', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_fees_add_on_id'))
        batch_op.drop_column('line_description')
        batch_op.drop_column('item_name')
        batch_op.drop_column('add_on_id')

    with op.batch_alter_table('add_ons_taxes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_add_ons_taxes_tax_id'))

    op.drop_table('add_ons_taxes')
    with op.batch_alter_table('add_ons', schema=None) as batch_op:
        batch_op.drop_index('uq_add_ons_org_code', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_add_ons_organization_id'))

    op.drop_table('add_ons')
