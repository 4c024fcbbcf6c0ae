"""ingest function: the ingestion locks and the catalog version read in one call (PostgreSQL)

Revision ID: 0018_ingest_function
Revises: 0017_ingest
Create Date: 2026-11-25 07:05:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0018_ingest_function'
down_revision: str | None = '0017_ingest'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # VOLATILE: its SELECT takes a new snapshot once the locks are held (READ COMMITTED), so it sees
    # a catalog change that committed while they were awaited, though the calling statement began
    # before (billing.metering.services: one statement per batch, committed on its own).
    op.execute("""
        CREATE FUNCTION tally_locked_catalog_version(organization varchar, barrier bigint, namespace integer)
        RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock_shared(barrier);
            PERFORM pg_advisory_xact_lock_shared(namespace, hashtext(organization));
            RETURN (SELECT catalog_version FROM organizations WHERE id = organization);
        END
        $$
    """)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION tally_locked_catalog_version(varchar, bigint, integer)")
