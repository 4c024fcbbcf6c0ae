"""wallets2: low-balance emails, ongoing balance, wallet limits and scope

Revision ID: 0016_wallets2
Revises: 0015_advance
Create Date: 2026-11-25 02:35:27.013473
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import billing.db

revision: str = '0016_wallets2'
down_revision: str | None = '0015_advance'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    with op.batch_alter_table('email_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('wallet_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('sequence', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('details', JSON, nullable=False, server_default='{}'))
        batch_op.alter_column('invoice_id', existing_type=sa.VARCHAR(length=36), nullable=True)
        batch_op.create_unique_constraint('uq_email_deliveries_wallet_kind_sequence', ['wallet_id', 'kind', 'sequence'])
        batch_op.create_foreign_key('fk_email_deliveries_wallet_id_wallets', 'wallets', ['wallet_id'], ['id'],
                                    ondelete='CASCADE')

    with op.batch_alter_table('wallets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('depletions', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('allowed_fee_types', JSON, nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('paid_top_up_min_amount_cents', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('paid_top_up_max_amount_cents', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('invoice_requires_successful_payment', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('last_ongoing_balance_sync_at', billing.db.UTCDateTime(), nullable=True))

    op.create_table('wallet_targets',
    sa.Column('wallet_id', sa.String(length=36), nullable=False),
    sa.Column('billable_metric_id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['billable_metric_id'], ['billable_metrics.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['wallet_id'], ['wallets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('wallet_id', 'billable_metric_id')
    )
    with op.batch_alter_table('wallet_targets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wallet_targets_billable_metric_id'), ['billable_metric_id'], unique=False)

    with op.batch_alter_table('wallet_transactions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('invoice_requires_successful_payment', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))

    with op.batch_alter_table('recurring_transaction_rules', schema=None) as batch_op:
        batch_op.add_column(sa.Column('transaction_metadata', JSON, nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('ignore_paid_top_up_limits', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('invoice_requires_successful_payment', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('grants_target_top_up', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('backoff_until', billing.db.UTCDateTime(), nullable=True))

    op.create_table('wallet_checks_due',
    sa.Column('customer_id', sa.String(length=36), nullable=False),
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('requested_at', billing.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('customer_id')
    )
    with op.batch_alter_table('wallet_checks_due', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wallet_checks_due_organization_id'), ['organization_id'], unique=False)
    # Every customer with an active wallet is checked once after the upgrade; from then on, the
    # check follows the events from the last one there is now.
    now = "(now() AT TIME ZONE 'utc')" if op.get_bind().dialect.name == "postgresql" else "CURRENT_TIMESTAMP"
    op.execute("INSERT INTO wallet_checks_due (customer_id, organization_id, requested_at) "
               f"SELECT DISTINCT customer_id, organization_id, {now} FROM wallets WHERE status = 'active'")
    op.execute("INSERT INTO rollup_watermarks (name, last_event_id) "
               "SELECT 'wallet_checks', coalesce(max(id), 0) FROM events")


def downgrade() -> None:
    op.execute("DELETE FROM rollup_watermarks WHERE name = 'wallet_checks'")
    with op.batch_alter_table('wallet_checks_due', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wallet_checks_due_organization_id'))
    op.drop_table('wallet_checks_due')

    with op.batch_alter_table('recurring_transaction_rules', schema=None) as batch_op:
        batch_op.drop_column('backoff_until')
        batch_op.drop_column('grants_target_top_up')
        batch_op.drop_column('invoice_requires_successful_payment')
        batch_op.drop_column('ignore_paid_top_up_limits')
        batch_op.drop_column('transaction_metadata')

    with op.batch_alter_table('wallet_transactions', schema=None) as batch_op:
        batch_op.drop_column('invoice_requires_successful_payment')

    with op.batch_alter_table('wallet_targets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wallet_targets_billable_metric_id'))
    op.drop_table('wallet_targets')

    with op.batch_alter_table('wallets', schema=None) as batch_op:
        batch_op.drop_column('last_ongoing_balance_sync_at')
        batch_op.drop_column('invoice_requires_successful_payment')
        batch_op.drop_column('paid_top_up_max_amount_cents')
        batch_op.drop_column('paid_top_up_min_amount_cents')
        batch_op.drop_column('allowed_fee_types')
        batch_op.drop_column('depletions')

    with op.batch_alter_table('email_deliveries', schema=None) as batch_op:
        batch_op.drop_constraint('fk_email_deliveries_wallet_id_wallets', type_='foreignkey')
        batch_op.drop_constraint('uq_email_deliveries_wallet_kind_sequence', type_='unique')
        batch_op.alter_column('invoice_id', existing_type=sa.VARCHAR(length=36), nullable=False)
        batch_op.drop_column('details')
        batch_op.drop_column('sequence')
        batch_op.drop_column('wallet_id')
