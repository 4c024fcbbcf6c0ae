"""invoices are unique per subscription and billing boundary (advance fees, trials)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billing.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("invoice_subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("boundary", billing.db.UTCDateTime(), nullable=True))
    # Every invoice so far was billed in arrears, at the end of what it covered.
    op.execute("UPDATE invoice_subscriptions SET boundary = to_datetime")
    with op.batch_alter_table("invoice_subscriptions", schema=None) as batch_op:
        batch_op.alter_column("boundary", existing_type=billing.db.UTCDateTime(), nullable=False)
        batch_op.alter_column("charges_from_datetime", existing_type=billing.db.UTCDateTime(), nullable=True)
        batch_op.drop_constraint("uq_invoice_subscriptions_period", type_="unique")
        batch_op.create_unique_constraint("uq_invoice_subscriptions_boundary", ["subscription_id", "boundary"])


def downgrade() -> None:
    with op.batch_alter_table("invoice_subscriptions", schema=None) as batch_op:
        batch_op.drop_constraint("uq_invoice_subscriptions_boundary", type_="unique")
        batch_op.create_unique_constraint("uq_invoice_subscriptions_period", ["subscription_id", "from_datetime"])
        batch_op.drop_column("boundary")
