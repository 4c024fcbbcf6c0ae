"""features, privileges and their values per plan and per subscription (Lago's entitlements)

Revision ID: 0032_entitlements
Revises: 0031_org_document_locale
Create Date: 2026-12-06 23:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billing.db

revision: str = '0032_entitlements'
down_revision: str | None = '0031_org_document_locale'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = billing.db.JSONType


def _times() -> list[sa.Column]:
    return [sa.Column('created_at', billing.db.UTCDateTime(), nullable=False),
            sa.Column('updated_at', billing.db.UTCDateTime(), nullable=False)]


def upgrade() -> None:
    op.create_table(
        'entitlement_features',
        sa.Column('id', sa.String(36), primary_key=True),
        sa.Column('organization_id', sa.String(36), sa.ForeignKey('organizations.id', ondelete='CASCADE'),
                  nullable=False, index=True),
        sa.Column('code', sa.String(255), nullable=False),
        sa.Column('name', sa.String(255), nullable=True),
        sa.Column('description', sa.Text(), nullable=True),
        *_times(),
    )
    op.create_index('uq_entitlement_features_org_code', 'entitlement_features', ['organization_id', 'code'],
                    unique=True)
    op.create_table(
        'entitlement_privileges',
        sa.Column('id', sa.String(36), primary_key=True),
        sa.Column('feature_id', sa.String(36), sa.ForeignKey('entitlement_features.id', ondelete='CASCADE'),
                  nullable=False, index=True),
        sa.Column('code', sa.String(255), nullable=False),
        sa.Column('name', sa.String(255), nullable=True),
        sa.Column('value_type', sa.String(16), nullable=False),
        sa.Column('config', JSON, nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        *_times(),
        sa.UniqueConstraint('feature_id', 'code', name='uq_entitlement_privileges_feature_code'),
    )
    op.create_table(
        'entitlement_entitlements',
        sa.Column('id', sa.String(36), primary_key=True),
        sa.Column('organization_id', sa.String(36), sa.ForeignKey('organizations.id', ondelete='CASCADE'),
                  nullable=False, index=True),
        sa.Column('feature_id', sa.String(36), sa.ForeignKey('entitlement_features.id', ondelete='CASCADE'),
                  nullable=False, index=True),
        sa.Column('plan_id', sa.String(36), sa.ForeignKey('plans.id', ondelete='CASCADE'), nullable=True,
                  index=True),
        sa.Column('subscription_external_id', sa.String(255), nullable=True),
        *_times(),
    )
    op.create_index('uq_entitlements_plan_feature', 'entitlement_entitlements', ['plan_id', 'feature_id'],
                    unique=True, sqlite_where=sa.text('plan_id IS NOT NULL'),
                    postgresql_where=sa.text('plan_id IS NOT NULL'))
    op.create_index('uq_entitlements_subscription_feature', 'entitlement_entitlements',
                    ['organization_id', 'subscription_external_id', 'feature_id'], unique=True,
                    sqlite_where=sa.text('subscription_external_id IS NOT NULL'),
                    postgresql_where=sa.text('subscription_external_id IS NOT NULL'))
    op.create_table(
        'entitlement_values',
        sa.Column('id', sa.String(36), primary_key=True),
        sa.Column('entitlement_id', sa.String(36),
                  sa.ForeignKey('entitlement_entitlements.id', ondelete='CASCADE'), nullable=False, index=True),
        sa.Column('privilege_id', sa.String(36), sa.ForeignKey('entitlement_privileges.id', ondelete='CASCADE'),
                  nullable=False, index=True),
        sa.Column('value', sa.Text(), nullable=False),
        *_times(),
        sa.UniqueConstraint('entitlement_id', 'privilege_id', name='uq_entitlement_values_entitlement_privilege'),
    )


def downgrade() -> None:
    op.drop_table('entitlement_values')
    op.drop_table('entitlement_entitlements')
    op.drop_table('entitlement_privileges')
    op.drop_table('entitlement_features')
