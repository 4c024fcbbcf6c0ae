"""provider customers: a customer's id at each provider it has been linked to, so that a move between providers
keeps them (moving back reuses the customer there; an old provider's method can still be detached)

Revision ID: 0026_provider_customers
Revises: 0025_embedding
Create Date: 2026-12-06 17:30:00
"""
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import billing.db

revision: str = '0026_provider_customers'
down_revision: str | None = '0025_embedding'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        'payment_provider_customers',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('organization_id', sa.String(length=36), nullable=False),
        sa.Column('customer_id', sa.String(length=36), nullable=False),
        sa.Column('provider_code', sa.String(length=255), nullable=False),
        sa.Column('provider_kind', sa.String(length=32), nullable=False),
        sa.Column('provider_customer_id', sa.String(length=255), nullable=False),
        sa.Column('created_at', billing.db.UTCDateTime(), nullable=False),
        sa.Column('updated_at', billing.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('customer_id', 'provider_code', name='uq_payment_provider_customers_code'),
    )
    op.create_index('ix_payment_provider_customers_org', 'payment_provider_customers',
                    ['organization_id', 'customer_id'])
    # The customers linked today: their current provider customer is the first one kept.
    linked = op.get_bind().execute(sa.text(
        "SELECT id, organization_id, payment_provider_code, payment_provider, payment_provider_customer_id "
        "FROM customers WHERE payment_provider_code IS NOT NULL AND payment_provider IS NOT NULL "
        "AND payment_provider_customer_id IS NOT NULL")).all()
    now = datetime.now(UTC)
    op.bulk_insert(table, [{"id": str(uuid.uuid4()), "organization_id": organization_id, "customer_id": customer_id,
                            "provider_code": code, "provider_kind": kind, "provider_customer_id": provider_customer_id,
                            "created_at": now, "updated_at": now}
                           for customer_id, organization_id, code, kind, provider_customer_id in linked])


def downgrade() -> None:
    op.drop_index('ix_payment_provider_customers_org', table_name='payment_provider_customers')
    op.drop_table('payment_provider_customers')
