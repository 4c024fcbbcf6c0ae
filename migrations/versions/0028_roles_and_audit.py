"""roles and audit: an account manager's role, an API key's last use, the append-only audit log

Revision ID: 0028_roles_and_audit
Revises: 0026_provider_customers
Create Date: 2026-12-06 19:50:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billing.db

revision: str = '0028_roles_and_audit'
down_revision: str | None = '0027_list_indexes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# NOTE: append-only for real on PostgreSQL: no UPDATE of an entry, and no DELETE but the cascade of its whole
# organization's deletion (the row of `organizations` is gone by then; `seed-demo --reset` and erasing a tenant).
# TRUNCATE, a table owner's maintenance statement, stays possible (the tests empty every table with it).
REFUSE_CHANGES = """
CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM organizations WHERE id = OLD.organization_id) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
"""


def upgrade() -> None:
    # Every account manager so far could do everything: they stay admins.
    op.add_column('users', sa.Column('role', sa.String(length=16), nullable=False, server_default='admin'))
    op.add_column('api_keys', sa.Column('last_used_at', billing.db.UTCDateTime(), nullable=True))
    op.create_table(
        'audit_log',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('organization_id', sa.String(length=36), nullable=False),
        sa.Column('at', billing.db.UTCDateTime(), nullable=False),
        sa.Column('actor_kind', sa.String(length=16), nullable=False),
        sa.Column('actor_id', sa.String(length=36), nullable=True),
        sa.Column('actor_label', sa.String(length=255), nullable=False),
        sa.Column('action', sa.String(length=64), nullable=False),
        sa.Column('object_type', sa.String(length=32), nullable=False),
        sa.Column('object_id', sa.String(length=36), nullable=False),
        sa.Column('object_label', sa.String(length=255), nullable=False),
        sa.Column('changes', billing.db.JSONType, nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=True),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_audit_log_org_at', 'audit_log', ['organization_id', 'at'])
    op.create_index('ix_audit_log_object', 'audit_log', ['organization_id', 'object_type', 'object_id'])
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(REFUSE_CHANGES)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP TRIGGER audit_log_append_only ON audit_log')
        op.execute('DROP FUNCTION audit_log_refuse_change()')
    op.drop_index('ix_audit_log_object', table_name='audit_log')
    op.drop_index('ix_audit_log_org_at', table_name='audit_log')
    op.drop_table('audit_log')
    op.drop_column('api_keys', 'last_used_at')
    op.drop_column('users', 'role')
