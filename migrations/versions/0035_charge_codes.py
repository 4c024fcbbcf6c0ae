"""charge codes: a charge is named within its plan by `code` (Lago's charge_code)

Revision ID: 0035_charge_codes
Revises: 0034_usage_alerts
Create Date: 2026-12-06 23:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0035_charge_codes'
down_revision: str | None = '0034_usage_alerts'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('charges') as batch:
        batch.add_column(sa.Column('code', sa.String(length=255), nullable=True))
    backfill_codes(op.get_bind())


def backfill_codes(bind) -> None:
    """Name the charges without a code."""
    # NOTE: existing charges get Lago's default code: their metric's code, then `<code>_2`, `<code>_3`... for
    # a second charge of the same metric in one plan (lago-api Charges::GenerateCodeService), oldest first.
    # A child plan's copy takes its parent charge's code.
    rows = bind.execute(sa.text(
        "SELECT c.id, c.plan_id, m.code, c.deleted_at IS NULL FROM charges c "
        "JOIN billable_metrics m ON m.id = c.billable_metric_id "
        "WHERE c.parent_id IS NULL AND c.code IS NULL ORDER BY c.plan_id, c.created_at, c.id")).all()
    taken: dict[str, set[str]] = {}
    for charge_id, plan_id, metric_code, live in rows:
        used = taken.setdefault(plan_id, set())
        code, suffix = metric_code, 1
        while live and code in used:
            suffix += 1
            code = f"{metric_code}_{suffix}"
        if live:  # a deleted charge's code is free again (codes are unique among a plan's live charges)
            used.add(code)
        bind.execute(sa.text("UPDATE charges SET code = :code WHERE id = :id"), {"code": code, "id": charge_id})
    bind.execute(sa.text(
        "UPDATE charges SET code = (SELECT p.code FROM charges p WHERE p.id = charges.parent_id) "
        "WHERE parent_id IS NOT NULL AND code IS NULL"))


def downgrade() -> None:
    with op.batch_alter_table('charges') as batch:
        batch.drop_column('code')
