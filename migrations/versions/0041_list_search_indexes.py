"""list search indexes: the admin lists' text searches (a part of an invoice number, of a customer's name, external
id or email) read trigram indexes on PostgreSQL (pg_trgm) instead of every row; the invoices list sorted by amount
and the customers list in its default order (newest first) walk an index

On PostgreSQL the extensions pg_trgm and btree_gin (the organization in the same index) are created when the role
may (both are trusted extensions since PostgreSQL 13: the database's owner or a role with CREATE on it may); when
pg_trgm cannot be (not installed on the server, or no privilege), the migration says so and leaves the trigram
indexes out: the lists search as before, by reading the rows (docs/admin.md "Lists"). SQLite has no trigram
index: only the amount index is created there.

Revision ID: 0041_list_search_indexes
Revises: 0040_must_change_password
Create Date: 2026-12-07 09:00:00
"""
import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0041_list_search_indexes'
down_revision: str | None = '0040_must_change_password'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger('alembic.runtime.migration')
STATISTICS = 1000  # values sampled for a searched text's statistics (PostgreSQL's default: 100)

# (index, table, column): what billing.screens.lists searches, as it searches it (`lower(column) LIKE …`).
TRIGRAM_INDEXES = (
    ('ix_invoices_number_trgm', 'invoices', 'number'),
    ('ix_customers_name_trgm', 'customers', 'name'),
    ('ix_customers_external_id_trgm', 'customers', 'external_id'),
    ('ix_customers_email_trgm', 'customers', 'email'),
)


def _extension(connection: sa.Connection, name: str) -> bool:
    """Whether the extension is in this database, created now if the role may."""
    if connection.scalar(sa.text('SELECT 1 FROM pg_extension WHERE extname = :name'), {'name': name}):
        return True
    if not connection.scalar(sa.text('SELECT 1 FROM pg_available_extensions WHERE name = :name'), {'name': name}):
        log.warning('%s is not installed on this PostgreSQL server', name)
        return False
    savepoint = connection.begin_nested()
    try:
        connection.execute(sa.text(f'CREATE EXTENSION IF NOT EXISTS {name}'))
    except sa.exc.DBAPIError as error:  # no privilege: the role neither owns the database nor may CREATE in it
        savepoint.rollback()
        log.warning('%s could not be created: %s', name, str(error.orig).strip().splitlines()[0])
        return False
    savepoint.commit()
    return True


def upgrade() -> None:
    connection = op.get_bind()
    op.create_index('ix_invoices_org_amount', 'invoices', ['organization_id', 'total_amount_cents', 'created_at', 'id'])
    op.create_index('ix_customers_org_created', 'customers', ['organization_id', 'created_at'])
    if connection.dialect.name != 'postgresql':
        return
    if not _extension(connection, 'pg_trgm'):
        log.warning('the lists search without trigram indexes (docs/admin.md "Lists"); to add them later, a superuser '
                    'runs CREATE EXTENSION pg_trgm, then `flask db downgrade 0038_clickhouse_store_rollups` and '
                    '`flask db upgrade`')
        return
    # The organization in the same index (btree_gin): a search reads its organization's matches only, however many
    # organizations share the table; without btree_gin, the trigram alone (the organization filtered after).
    per_organization = _extension(connection, 'btree_gin')
    for name, table, column in TRIGRAM_INDEXES:
        expression = sa.text(f'lower({column}) gin_trgm_ops')
        op.create_index(name, table, ['organization_id', expression] if per_organization else [expression],
                        postgresql_using='gin')
        # NOTE: a finer histogram of the searched text: with the default (100 values) a name held by 0.1 % of the
        # customers was estimated at 1 %, and the invoices list then walked its default order, looking up each
        # invoice's customer, instead of reading the few matching customers' invoices (77 ms against 2 ms).
        if table == 'customers':
            op.execute(sa.text(f'ALTER INDEX {name} ALTER COLUMN {2 if per_organization else 1} '
                               f'SET STATISTICS {STATISTICS}'))


def downgrade() -> None:
    # NOTE: the extensions stay: something else may use them, and dropping them needs the privilege creating them did.
    if op.get_bind().dialect.name == 'postgresql':
        for name, table, _column in reversed(TRIGRAM_INDEXES):
            op.execute(sa.text(f'DROP INDEX IF EXISTS {name}'))
    op.drop_index('ix_customers_org_created', table_name='customers')
    op.drop_index('ix_invoices_org_amount', table_name='invoices')
