"""Migration 0036 gives every wallet a code (Lago's default from its name), numbered where an active wallet of the
same customer has it already, and keeps the codes set; on a database of its own (SQLite)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, Table, create_engine, insert, select

import billing.models  # noqa: F401  (every table)
from billing.db import Base
from web.cli import alembic_config, upgrade_database

REVISION = "0036_item_metadata_wallet_codes"


def _row(model_table, reflected, **values) -> dict:
    """`values` with the model's column defaults, for the columns the database has at this revision."""
    row = {column.name: column.default.arg(None) if column.default.is_callable else column.default.arg
           for column in model_table.columns if column.default is not None and column.name in reflected.c}
    return {name: str(value) if isinstance(value, Decimal) else value for name, value in {**row, **values}.items()}


def test_wallets_without_code_get_lagos_default_unique_among_active_ones(tmp_path):
    url = f"sqlite:///{tmp_path / 'migration.db'}"
    before = ScriptDirectory.from_config(alembic_config(url)).get_revision(REVISION).down_revision
    upgrade_database(url, before)
    engine = create_engine(url)
    models = Base.metadata.tables
    with engine.begin() as connection:
        old = {name: Table(name, MetaData(), autoload_with=connection)
               for name in ("organizations", "customers", "wallets")}
        assert "metadata" not in old["wallets"].c
        connection.execute(insert(old["organizations"]).values(_row(
            models["organizations"], old["organizations"], id="o", name="Acme", document_number_prefix="ACM")))
        for customer in ("c1", "c2"):
            connection.execute(insert(old["customers"]).values(_row(
                models["customers"], old["customers"], id=customer, organization_id="o", external_id=customer)))
        rows = [("w1", "c1", "Prepaid credits", None, "active"), ("w2", "c1", "Prepaid Credits!", None, "active"),
                ("w3", "c1", None, None, "active"), ("w4", "c1", None, "kept", "active"),
                ("w5", "c1", "Prepaid credits", None, "terminated"), ("w6", "c2", "Prepaid credits", None, "active")]
        for day, (wallet_id, customer, name, code, status) in enumerate(rows, 1):
            connection.execute(insert(old["wallets"]).values(_row(
                models["wallets"], old["wallets"], id=wallet_id, organization_id="o", customer_id=customer, name=name,
                code=code, status=status, currency="EUR", rate_amount=1, created_at=datetime(2026, 11, day))))
    upgrade_database(url, REVISION)
    with engine.connect() as connection:
        wallets = Table("wallets", MetaData(), autoload_with=connection)
        codes = dict(connection.execute(select(wallets.c.id, wallets.c.code)).all())
    assert codes == {"w1": "prepaid_credits", "w2": "prepaid_credits_1", "w3": "default", "w4": "kept",
                     "w5": "prepaid_credits", "w6": "prepaid_credits"}
