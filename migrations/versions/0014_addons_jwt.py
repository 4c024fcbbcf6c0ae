"""organizations' RSA key pair for jwt-signed webhooks

Revision ID: 0014_addons_jwt
Revises: 0013_addons
Create Date: 2026-11-25
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014_addons_jwt'
down_revision: str | None = '0013_addons'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('webhook_jwt_public_key', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('webhook_jwt_private_key', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_column('webhook_jwt_private_key')
        batch_op.drop_column('webhook_jwt_public_key')
