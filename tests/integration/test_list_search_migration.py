"""Migration 0041 (the lists' search, amount and customers' default-order indexes) up and down, on a database of its
own: SQLite (the b-tree indexes only) and, when the suite runs on PostgreSQL, a fresh database next to the suite's:
the trigram indexes per organization, then the same migrations run by a role that may not create extensions (the
trigram indexes left out, the migration done)."""

from __future__ import annotations

import os
from urllib.parse import urlparse

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from web.cli import alembic_config, upgrade_database

REVISION = "0041_list_search_indexes"
TRIGRAM = {"ix_invoices_number_trgm", "ix_customers_name_trgm", "ix_customers_external_id_trgm",
           "ix_customers_email_trgm"}
BTREE = {"ix_invoices_org_amount", "ix_customers_org_created"}
SUITE_URL = os.environ.get("DATABASE_URL", "")


def _before(url: str) -> str:
    return ScriptDirectory.from_config(alembic_config(url)).get_revision(REVISION).down_revision


def _indexes(url: str) -> set[str]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        found = inspect(engine)
        return {index["name"] for table in ("invoices", "customers") for index in found.get_indexes(table)}
    finally:
        engine.dispose()


def test_sqlite_gets_the_btree_indexes_and_loses_them_on_downgrade(tmp_path):
    url = f"sqlite:///{tmp_path / 'migration.db'}"
    upgrade_database(url, _before(url))
    assert not BTREE & _indexes(url)
    upgrade_database(url, REVISION)
    assert BTREE <= _indexes(url) and not TRIGRAM & _indexes(url)
    command.downgrade(alembic_config(url), _before(url))
    assert not BTREE & _indexes(url)


@pytest.fixture
def fresh_postgres():
    """(admin url, url) of an empty database named after the suite's, dropped after the test."""
    if not SUITE_URL.startswith("postgresql"):
        pytest.skip("PostgreSQL only: DATABASE_URL is not a PostgreSQL database")
    name = f"{urlparse(SUITE_URL).path.lstrip('/')}_0041"
    admin = create_engine(SUITE_URL.replace("postgresql://", "postgresql+psycopg://", 1),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin, SUITE_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _trigram_indexes(url: str) -> dict[str, str]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            return dict(connection.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE "
                                                "'%\\_trgm'")).all())
    finally:
        engine.dispose()


def test_postgresql_gets_trigram_indexes_per_organization_and_loses_them_on_downgrade(fresh_postgres):
    _admin, url = fresh_postgres
    upgrade_database(url, _before(url))
    assert _trigram_indexes(url) == {}
    upgrade_database(url, REVISION)
    made = _trigram_indexes(url)
    assert set(made) == TRIGRAM
    assert all("USING gin (organization_id, lower(" in definition and "gin_trgm_ops" in definition
               for definition in made.values()), made
    assert BTREE <= _indexes(url)
    command.downgrade(alembic_config(url), _before(url))
    assert _trigram_indexes(url) == {} and not BTREE & _indexes(url)
    upgrade_database(url, REVISION)
    assert set(_trigram_indexes(url)) == TRIGRAM


def test_a_role_that_may_not_create_extensions_migrates_without_trigram_indexes(fresh_postgres):
    admin, url = fresh_postgres
    database = url.rsplit("/", 1)[1]
    role = f"{database}_owner"
    with admin.connect() as connection:
        connection.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        connection.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        connection.execute(text(f'REVOKE CREATE ON DATABASE "{database}" FROM PUBLIC'))
    owner = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with owner.connect() as connection:  # tables in public, but no extension in the database
        connection.execute(text(f'GRANT CREATE, USAGE ON SCHEMA public TO "{role}"'))
    owner.dispose()
    parsed = urlparse(url)
    restricted = f"postgresql://{role}@{parsed.hostname}:{parsed.port or 5432}/{database}"
    try:
        upgrade_database(restricted, REVISION)
        assert _trigram_indexes(url) == {} and BTREE <= _indexes(url)
        engine = create_engine(restricted.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")) == 0
            assert connection.scalar(text("SELECT version_num FROM alembic_version")) == REVISION
        engine.dispose()
        command.downgrade(alembic_config(restricted), _before(url))
        assert not BTREE & _indexes(url)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            connection.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
