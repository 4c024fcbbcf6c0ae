"""item metadata on plans, wallets and credit notes, invoice metadata; every wallet with a code, unique among a
customer's active ones

Revision ID: 0036_item_metadata_wallet_codes
Revises: 0035_charge_codes
Create Date: 2026-12-06 23:00:00
"""
import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billing.db

revision: str = '0036_item_metadata_wallet_codes'
down_revision: str | None = '0035_charge_codes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

METADATA_TABLES = ('plans', 'wallets', 'credit_notes')


def _code(name: str | None) -> str:
    """Lago's default wallet code: the name in lower case, words joined by `_`, else `default`."""
    return re.sub(r'[^a-z0-9]+', '_', (name or '').lower()).strip('_') or 'default'


def upgrade() -> None:
    for table in METADATA_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('metadata', billing.db.JSONType, nullable=True))
    with op.batch_alter_table('invoices') as batch:  # Lago's invoice metadata: a list of key-value pairs
        batch.add_column(sa.Column('metadata', billing.db.JSONType, nullable=True))
    wallets = sa.table('wallets', sa.column('id', sa.String), sa.column('customer_id', sa.String),
                       sa.column('name', sa.String), sa.column('code', sa.String), sa.column('status', sa.String),
                       sa.column('created_at', sa.DateTime))
    connection = op.get_bind()
    rows = connection.execute(sa.select(wallets.c.id, wallets.c.customer_id, wallets.c.name, wallets.c.code,
                                        wallets.c.status).order_by(wallets.c.created_at, wallets.c.id)).all()
    taken: set[tuple[str, str]] = set()
    for row in rows:  # oldest first: the oldest active wallet keeps its code, a later namesake is numbered
        code = base = row.code or _code(row.name)
        if row.status == 'active':
            number = 0
            while (row.customer_id, code) in taken:
                number += 1
                code = f'{base}_{number}'
            taken.add((row.customer_id, code))
        if code != row.code:
            connection.execute(wallets.update().where(wallets.c.id == row.id).values(code=code))
    op.create_index('uq_wallets_customer_active_code', 'wallets', ['customer_id', 'code'], unique=True,
                    sqlite_where=sa.text("status = 'active'"), postgresql_where=sa.text("status = 'active'"))


def downgrade() -> None:
    op.drop_index('uq_wallets_customer_active_code', table_name='wallets')
    with op.batch_alter_table('invoices') as batch:
        batch.drop_column('metadata')
    for table in reversed(METADATA_TABLES):
        with op.batch_alter_table(table) as batch:
            batch.drop_column('metadata')
