"""keep the events table's planner statistics fresh (PostgreSQL)

After the rollup job marks a large backlog as rolled up, stale statistics make PostgreSQL believe
most events are still pending and scan the table instead of the partial index. Analyzing after 1 %
of the rows changed (PostgreSQL's default is 10 %) keeps the plans right on a large table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE events SET (autovacuum_analyze_scale_factor = 0.01, "
                    "autovacuum_vacuum_scale_factor = 0.02)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE events RESET (autovacuum_analyze_scale_factor, autovacuum_vacuum_scale_factor)")
