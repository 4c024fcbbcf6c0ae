"""embedding: the origins allowed to frame an organization's widgets and portal, its accent colour and logo

Revision ID: 0025_embedding
Revises: 0024_dunning
Create Date: 2026-12-06 16:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billing.db

revision: str = '0025_embedding'
down_revision: str | None = '0024_dunning'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'embed_settings',
        sa.Column('organization_id', sa.String(length=36), nullable=False),
        sa.Column('frame_ancestors', billing.db.JSONType, nullable=False),
        sa.Column('accent_color', sa.String(length=7), nullable=True),
        sa.Column('logo', sa.LargeBinary(), nullable=True),
        sa.Column('logo_content_type', sa.String(length=32), nullable=True),
        sa.Column('updated_at', billing.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('organization_id'),
    )


def downgrade() -> None:
    op.drop_table('embed_settings')
