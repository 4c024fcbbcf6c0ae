"""payments: connected providers, saved payment methods, payments, receipts, refunds, applied provider events

Revision ID: 0022_payments
Revises: 0021_sessions
Create Date: 2026-12-06 14:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billing.db

revision: str = '0022_payments'
down_revision: str | None = '0021_sessions'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN_PAYMENT = "status IN ('pending', 'processing', 'requires_action') AND invoice_id IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payment_provider_code', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('sync_with_provider', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('provider_payment_methods', billing.db.JSONType, nullable=True))
        batch_op.add_column(sa.Column('payment_provider_error', sa.String(length=1000), nullable=True))

    op.create_table(
        'payment_providers',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('organization_id', sa.String(length=36), nullable=False),
        sa.Column('code', sa.String(length=255), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('sealed_settings', sa.Text(), nullable=False),
        sa.Column('visible_settings', billing.db.JSONType, nullable=False),
        sa.Column('created_at', billing.db.UTCDateTime(), nullable=False),
        sa.Column('updated_at', billing.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('organization_id', 'code', name='uq_payment_providers_org_code'),
    )
    op.create_index('ix_payment_providers_organization_id', 'payment_providers', ['organization_id'])

    op.create_table(
        'payment_methods',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('organization_id', sa.String(length=36), nullable=False),
        sa.Column('customer_id', sa.String(length=36), nullable=False),
        sa.Column('provider_code', sa.String(length=255), nullable=False),
        sa.Column('provider_kind', sa.String(length=32), nullable=False),
        sa.Column('provider_method_id', sa.String(length=255), nullable=False),
        sa.Column('method_type', sa.String(length=32), nullable=False),
        sa.Column('brand', sa.String(length=32), nullable=True),
        sa.Column('last4', sa.String(length=4), nullable=True),
        sa.Column('exp_month', sa.Integer(), nullable=True),
        sa.Column('exp_year', sa.Integer(), nullable=True),
        sa.Column('is_default', sa.Boolean(), nullable=False),
        sa.Column('created_at', billing.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('customer_id', 'provider_code', 'provider_method_id', name='uq_payment_methods_provider_id'),
    )
    op.create_index('ix_payment_methods_customer', 'payment_methods', ['organization_id', 'customer_id'])

    op.create_table(
        'payments',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('organization_id', sa.String(length=36), nullable=False),
        sa.Column('customer_id', sa.String(length=36), nullable=False),
        sa.Column('invoice_id', sa.String(length=36), nullable=True),
        sa.Column('payable_type', sa.String(length=32), nullable=False),
        sa.Column('payment_type', sa.String(length=16), nullable=False),
        sa.Column('provider_kind', sa.String(length=32), nullable=True),
        sa.Column('provider_code', sa.String(length=255), nullable=True),
        sa.Column('provider_customer_id', sa.String(length=255), nullable=True),
        sa.Column('provider_method_id', sa.String(length=255), nullable=True),
        sa.Column('provider_payment_id', sa.String(length=255), nullable=True),
        sa.Column('amount_cents', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('provider_status', sa.String(length=64), nullable=True),
        sa.Column('error_code', sa.String(length=64), nullable=True),
        sa.Column('error_message', sa.String(length=1000), nullable=True),
        sa.Column('next_action_url', sa.String(length=2000), nullable=True),
        sa.Column('reference', sa.String(length=255), nullable=True),
        sa.Column('off_session', sa.Boolean(), nullable=False),
        sa.Column('paid_at', billing.db.UTCDateTime(), nullable=True),
        sa.Column('created_at', billing.db.UTCDateTime(), nullable=False),
        sa.Column('updated_at', billing.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id']),
        sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_payments_org_created', 'payments', ['organization_id', 'created_at'])
    op.create_index('ix_payments_invoice', 'payments', ['invoice_id'])
    op.create_index('ix_payments_provider_payment', 'payments',
                    ['organization_id', 'provider_code', 'provider_payment_id'])
    op.create_index('uq_payments_one_open_per_invoice', 'payments', ['invoice_id'], unique=True,
                    sqlite_where=sa.text(_OPEN_PAYMENT), postgresql_where=sa.text(_OPEN_PAYMENT))

    op.create_table(
        'payment_receipts',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('organization_id', sa.String(length=36), nullable=False),
        sa.Column('payment_id', sa.String(length=36), nullable=False),
        sa.Column('number', sa.String(length=64), nullable=False),
        sa.Column('created_at', billing.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('payment_id', name='uq_payment_receipts_payment'),
    )
    op.create_index('ix_payment_receipts_organization_id', 'payment_receipts', ['organization_id'])

    op.create_table(
        'refunds',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('organization_id', sa.String(length=36), nullable=False),
        sa.Column('credit_note_id', sa.String(length=36), nullable=False),
        sa.Column('payment_id', sa.String(length=36), nullable=False),
        sa.Column('provider_code', sa.String(length=255), nullable=False),
        sa.Column('provider_refund_id', sa.String(length=255), nullable=True),
        sa.Column('amount_cents', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('error_code', sa.String(length=64), nullable=True),
        sa.Column('error_message', sa.String(length=1000), nullable=True),
        sa.Column('created_at', billing.db.UTCDateTime(), nullable=False),
        sa.Column('updated_at', billing.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['credit_note_id'], ['credit_notes.id']),
        sa.ForeignKeyConstraint(['payment_id'], ['payments.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('credit_note_id', name='uq_refunds_credit_note'),
    )
    op.create_index('ix_refunds_organization_id', 'refunds', ['organization_id'])

    op.create_table(
        'payment_provider_events',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('organization_id', sa.String(length=36), nullable=False),
        sa.Column('provider_code', sa.String(length=255), nullable=False),
        sa.Column('event_id', sa.String(length=255), nullable=False),
        sa.Column('event_type', sa.String(length=128), nullable=False),
        sa.Column('received_at', billing.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('organization_id', 'provider_code', 'event_id', name='uq_provider_events'),
    )


def downgrade() -> None:
    op.drop_table('payment_provider_events')
    op.drop_index('ix_refunds_organization_id', table_name='refunds')
    op.drop_table('refunds')
    op.drop_index('ix_payment_receipts_organization_id', table_name='payment_receipts')
    op.drop_table('payment_receipts')
    op.drop_index('uq_payments_one_open_per_invoice', table_name='payments')
    op.drop_index('ix_payments_provider_payment', table_name='payments')
    op.drop_index('ix_payments_invoice', table_name='payments')
    op.drop_index('ix_payments_org_created', table_name='payments')
    op.drop_table('payments')
    op.drop_index('ix_payment_methods_customer', table_name='payment_methods')
    op.drop_table('payment_methods')
    op.drop_index('ix_payment_providers_organization_id', table_name='payment_providers')
    op.drop_table('payment_providers')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('payment_provider_error')
        batch_op.drop_column('provider_payment_methods')
        batch_op.drop_column('sync_with_provider')
        batch_op.drop_column('payment_provider_code')
