"""must_change_password: an account manager given a temporary password chooses their own at their next sign-in

Revision ID: 0040_must_change_password
Revises: 0038_clickhouse_store_rollups
Create Date: 2026-12-07 12:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0040_must_change_password'
down_revision: str | None = '0038_clickhouse_store_rollups'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Members added before this keep the password they have: none is asked to change it.
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('must_change_password', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.drop_column('must_change_password')
