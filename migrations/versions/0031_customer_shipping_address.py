"""customer shipping address: Lago's `shipping_address` (the billing address stays in address_line1...country),
which the customer can now correct in the portal too

Revision ID: 0031_customer_shipping_address
Revises: 0026_provider_customers
Create Date: 2026-12-06 20:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0031_customer_shipping_address'
down_revision: str | None = '0026_provider_customers'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (('shipping_address_line1', 255), ('shipping_address_line2', 255), ('shipping_city', 255),
            ('shipping_state', 255), ('shipping_zipcode', 64), ('shipping_country', 2))


def upgrade() -> None:
    with op.batch_alter_table('customers') as batch:
        for name, length in _COLUMNS:
            batch.add_column(sa.Column(name, sa.String(length=length), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('customers') as batch:
        for name, _length in reversed(_COLUMNS):
            batch.drop_column(name)
