"""event ids for an event store without sequences (ClickHouse): a PostgreSQL sequence, a counter row on SQLite

Revision ID: 0037_event_ids
Revises: 0036_item_metadata_wallet_codes
Create Date: 2026-12-07 02:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0037_event_ids'
down_revision: str | None = '0036_item_metadata_wallet_codes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The ClickHouse store takes its events' ids here (billing.metering.clickhouse_store, docs/metering.md).
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('CREATE SEQUENCE event_ids AS bigint')
        return
    op.create_table('event_id_counter',
                    sa.Column('name', sa.String(32), primary_key=True),
                    sa.Column('last_id', sa.BigInteger(), nullable=False))
    op.execute("INSERT INTO event_id_counter (name, last_id) VALUES ('events', 0)")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP SEQUENCE event_ids')
        return
    op.drop_table('event_id_counter')
