"""dunning: overdue invoices, payment requests, dunning campaigns and their attempts

Revision ID: 0024_dunning
Revises: 0023_payment_emails
Create Date: 2026-12-06 15:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billing.db

revision: str = '0024_dunning'
down_revision: str | None = '0023_payment_emails'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LIVE_DEFAULT = "applied_to_organization AND deleted_at IS NULL"
_LIVE_CODE = "deleted_at IS NULL"
_OPEN_REQUEST_PAYMENT = "status IN ('pending', 'processing', 'requires_action') AND payment_request_id IS NOT NULL"


def upgrade() -> None:
    op.create_table(
        'dunning_campaigns',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('organization_id', sa.String(length=36), nullable=False),
        sa.Column('code', sa.String(length=255), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('description', sa.String(length=1000), nullable=True),
        sa.Column('max_attempts', sa.Integer(), nullable=False),
        sa.Column('days_between_attempts', sa.Integer(), nullable=False),
        sa.Column('bcc_emails', billing.db.JSONType, nullable=False),
        sa.Column('applied_to_organization', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('reminder_subject', sa.String(length=255), nullable=False),
        sa.Column('reminder_message', sa.Text(), nullable=False),
        sa.Column('created_at', billing.db.UTCDateTime(), nullable=False),
        sa.Column('updated_at', billing.db.UTCDateTime(), nullable=False),
        sa.Column('deleted_at', billing.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_dunning_campaigns_organization_id', 'dunning_campaigns', ['organization_id'])
    op.create_index('uq_dunning_campaigns_org_code', 'dunning_campaigns', ['organization_id', 'code'], unique=True,
                    sqlite_where=sa.text(_LIVE_CODE), postgresql_where=sa.text(_LIVE_CODE))
    op.create_index('uq_dunning_campaigns_org_default', 'dunning_campaigns', ['organization_id'], unique=True,
                    sqlite_where=sa.text(_LIVE_DEFAULT), postgresql_where=sa.text(_LIVE_DEFAULT))
    op.create_table(
        'dunning_campaign_thresholds',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('dunning_campaign_id', sa.String(length=36), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('amount_cents', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['dunning_campaign_id'], ['dunning_campaigns.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('dunning_campaign_id', 'currency', name='uq_dunning_thresholds_currency'),
    )
    op.create_table(
        'dunning_attempts',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('organization_id', sa.String(length=36), nullable=False),
        sa.Column('customer_id', sa.String(length=36), nullable=False),
        sa.Column('dunning_campaign_id', sa.String(length=36), nullable=False),
        sa.Column('cycle', sa.Integer(), nullable=False),
        sa.Column('attempt', sa.Integer(), nullable=False),
        sa.Column('created_at', billing.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id']),
        sa.ForeignKeyConstraint(['dunning_campaign_id'], ['dunning_campaigns.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('customer_id', 'cycle', 'attempt', name='uq_dunning_attempts_once'),
    )
    op.create_index('ix_dunning_attempts_organization_id', 'dunning_attempts', ['organization_id'])
    op.create_index('ix_dunning_attempts_customer_id', 'dunning_attempts', ['customer_id'])
    op.create_table(
        'payment_requests',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('organization_id', sa.String(length=36), nullable=False),
        sa.Column('customer_id', sa.String(length=36), nullable=False),
        sa.Column('email', sa.String(length=255), nullable=True),
        sa.Column('amount_cents', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('payment_status', sa.String(length=16), nullable=False),
        sa.Column('dunning_attempt_id', sa.String(length=36), nullable=True),
        sa.Column('created_at', billing.db.UTCDateTime(), nullable=False),
        sa.Column('updated_at', billing.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id']),
        sa.ForeignKeyConstraint(['dunning_attempt_id'], ['dunning_attempts.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_payment_requests_org_customer', 'payment_requests',
                    ['organization_id', 'customer_id', 'created_at'])
    op.create_index('ix_payment_requests_dunning_attempt_id', 'payment_requests', ['dunning_attempt_id'])
    op.create_table(
        'payment_request_invoices',
        sa.Column('payment_request_id', sa.String(length=36), nullable=False),
        sa.Column('invoice_id', sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(['payment_request_id'], ['payment_requests.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id']),
        sa.PrimaryKeyConstraint('payment_request_id', 'invoice_id'),
    )
    op.create_index('ix_payment_request_invoices_invoice_id', 'payment_request_invoices', ['invoice_id'])
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payment_request_id', sa.String(length=36), nullable=True))
        batch_op.create_foreign_key('fk_payments_payment_request', 'payment_requests', ['payment_request_id'], ['id'])
        batch_op.create_index('ix_payments_payment_request_id', ['payment_request_id'])
    op.create_index('uq_payments_one_open_per_request', 'payments', ['payment_request_id'], unique=True,
                    sqlite_where=sa.text(_OPEN_REQUEST_PAYMENT), postgresql_where=sa.text(_OPEN_REQUEST_PAYMENT))
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payment_overdue', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('applied_dunning_campaign_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('exclude_from_dunning_campaign', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('last_dunning_campaign_attempt', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('last_dunning_campaign_attempt_at', billing.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('dunning_cycle', sa.Integer(), nullable=False, server_default='0'))
        batch_op.create_foreign_key('fk_customers_dunning_campaign', 'dunning_campaigns',
                                    ['applied_dunning_campaign_id'], ['id'])
    with op.batch_alter_table('email_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payment_request_id', sa.String(length=36), nullable=True))
        batch_op.create_foreign_key('fk_email_deliveries_payment_request', 'payment_requests',
                                    ['payment_request_id'], ['id'], ondelete='CASCADE')
        batch_op.create_unique_constraint('uq_email_deliveries_payment_request_kind', ['payment_request_id', 'kind'])
    # The hourly sweep reads finalized invoices that are unpaid and not yet overdue, by due date.
    op.create_index('ix_invoices_overdue_sweep', 'invoices', ['payment_due_date'],
                    sqlite_where=sa.text("status = 'finalized' AND payment_status != 'succeeded' AND NOT payment_overdue"),
                    postgresql_where=sa.text("status = 'finalized' AND payment_status != 'succeeded' "
                                             "AND NOT payment_overdue"))


def downgrade() -> None:
    op.drop_index('ix_invoices_overdue_sweep', table_name='invoices')
    with op.batch_alter_table('email_deliveries', schema=None) as batch_op:
        batch_op.drop_constraint('uq_email_deliveries_payment_request_kind', type_='unique')
        batch_op.drop_constraint('fk_email_deliveries_payment_request', type_='foreignkey')
        batch_op.drop_column('payment_request_id')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_constraint('fk_customers_dunning_campaign', type_='foreignkey')
        batch_op.drop_column('dunning_cycle')
        batch_op.drop_column('last_dunning_campaign_attempt_at')
        batch_op.drop_column('last_dunning_campaign_attempt')
        batch_op.drop_column('exclude_from_dunning_campaign')
        batch_op.drop_column('applied_dunning_campaign_id')
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_column('payment_overdue')
    op.drop_index('uq_payments_one_open_per_request', table_name='payments')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index('ix_payments_payment_request_id')
        batch_op.drop_constraint('fk_payments_payment_request', type_='foreignkey')
        batch_op.drop_column('payment_request_id')
    op.drop_table('payment_request_invoices')
    op.drop_table('payment_requests')
    op.drop_table('dunning_attempts')
    op.drop_table('dunning_campaign_thresholds')
    op.drop_table('dunning_campaigns')
