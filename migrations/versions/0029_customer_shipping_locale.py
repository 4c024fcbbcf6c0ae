"""customer shipping address and document locale (Lago's shipping_address and billing_configuration.document_locale)

Revision ID: 0029_customer_shipping_locale
Revises: 0026_provider_customers
Create Date: 2026-12-06 20:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0029_customer_shipping_locale'
down_revision: str | None = '0028_roles_and_audit'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHIPPING_COLUMNS = (('shipping_address_line1', 255), ('shipping_address_line2', 255), ('shipping_city', 255),
                    ('shipping_state', 255), ('shipping_zipcode', 64), ('shipping_country', 2))


def upgrade() -> None:
    with op.batch_alter_table('customers') as batch:
        for name, length in SHIPPING_COLUMNS:
            batch.add_column(sa.Column(name, sa.String(length=length), nullable=True))
        batch.add_column(sa.Column('document_locale', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('customers') as batch:
        batch.drop_column('document_locale')
        for name, _length in reversed(SHIPPING_COLUMNS):
            batch.drop_column(name)
