"""rollups by an id watermark instead of a per-event flag; the organization's catalog version

The rollup job no longer marks each event (`events.rolled_up`, a second write of every row and of
its index entries): one watermark says which events the rollups hold. The rollups are rebuilt
from scratch by the job after this migration (the watermark starts at 0), and until then usage
reads the raw events: the results are the same, only slower for a while.

`organizations.catalog_version` lets each process cache what ingestion reads of the catalog
(billing.metering.catalog_cache).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rollup_watermarks",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.execute("INSERT INTO rollup_watermarks (name, last_event_id) VALUES ('events', 0)")
    op.execute("DELETE FROM usage_rollups")
    op.execute("DELETE FROM usage_unique_values")
    op.drop_index("ix_events_pending_rollup", table_name="events")
    # SQLite: the table is rebuilt with AUTOINCREMENT, so that ids are never reused (the watermark needs it).
    with op.batch_alter_table("events", recreate="auto", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("rolled_up")
    op.create_index("ix_events_org_subscription_code_id", "events",
                    ["organization_id", "external_subscription_id", "code", "id"])
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(sa.Column("catalog_version", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("organizations") as batch:
        batch.drop_column("catalog_version")
    op.drop_index("ix_events_org_subscription_code_id", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("rolled_up", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_index("ix_events_pending_rollup", "events",
                    ["organization_id", "external_subscription_id", "code", "timestamp"],
                    sqlite_where=sa.text("rolled_up = 0"), postgresql_where=sa.text("NOT rolled_up"))
    op.execute("DELETE FROM usage_rollups")
    op.execute("DELETE FROM usage_unique_values")
    op.drop_table("rollup_watermarks")
