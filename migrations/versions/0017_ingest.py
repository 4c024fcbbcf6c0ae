"""ingest: events without a foreign key to organizations (its per-row check was a tenth of
ingestion's insert); rollup aggregates in NUMERIC without limits (a sum must never overflow)

Revision ID: 0017_ingest
Revises: 0016_wallets2
Create Date: 2026-11-25 06:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017_ingest'
down_revision: str | None = '0016_wallets2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite's constraint has no name: batch mode names it by this convention to drop it.
_SQLITE_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


_ROLLUP_TABLES = ('usage_rollups', 'usage_daily_rollups')
_AGGREGATES = ('value_sum', 'value_max', 'value_time_sum', 'latest_value')


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint('events_organization_id_fkey', 'events', type_='foreignkey')
        for table in _ROLLUP_TABLES:
            for column in _AGGREGATES:
                op.alter_column(table, column, type_=sa.Numeric(), existing_type=sa.Numeric(40, 15))
        return
    # SQLite keeps decimals as text: only the foreign key goes.
    # The table is rebuilt: its ids must still never be reused (models.Event).
    with op.batch_alter_table('events', naming_convention=_SQLITE_NAMES,
                              table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_constraint('fk_events_organization_id_organizations', type_='foreignkey')


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _ROLLUP_TABLES:
            for column in _AGGREGATES:
                op.alter_column(table, column, type_=sa.Numeric(40, 15), existing_type=sa.Numeric())
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_foreign_key('events_organization_id_fkey', 'organizations', ['organization_id'], ['id'],
                                    ondelete='CASCADE')
