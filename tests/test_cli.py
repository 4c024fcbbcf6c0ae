"""The operator command line (API.md §3), run as an operator runs it: `flask --app wsgi ...` in a subprocess,
against a fresh SQLite file, with jobs in process (no Redis)."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


class Cli:
    def __init__(self, instance: Path):
        self.instance = instance
        self.database = instance / "cli.db"
        self.env = {key: value for key, value in os.environ.items()
                    if key not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "TALLY_BASE_URL", "FLASK_APP")}
        self.env.update(DATABASE_URL=f"sqlite:///{self.database}", TALLY_INSTANCE_PATH=str(instance),
                        TALLY_EMBEDDED_CLOCK="0", PYTHONUNBUFFERED="1",
                        # the demo's providers: tests/test_cli_demo_stripe.py, tests/test_cli_demo_providers.py
                        TALLY_DEMO_STRIPE="off", TALLY_DEMO_ADYEN="off", TALLY_DEMO_GOCARDLESS="off")

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=self.env,
                                capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        if check:
            assert result.returncode == 0, f"flask {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def count(self, sql: str, *params: object) -> int:
        with sqlite3.connect(self.database) as connection:
            return connection.execute(sql, params).fetchone()[0]


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    cli = Cli(tmp_path_factory.mktemp("cli"))
    result = cli("db", "upgrade")
    assert "database at head" in result.stdout
    return cli


def test_db_upgrade_is_repeatable(cli: Cli):
    cli("db", "upgrade")

    assert cli.count("SELECT count(*) FROM alembic_version") == 1


def test_create_organization_prints_its_api_key_alone_on_the_last_line(cli: Cli):
    result = cli("create-organization", "Globex Billing", "--currency", "EUR")

    last_line = result.stdout.rstrip("\n").splitlines()[-1]
    assert re.fullmatch(r"tly_[A-Za-z0-9_-]{20,}", last_line), result.stdout
    assert cli.count("SELECT count(*) FROM organizations WHERE name = ?", "Globex Billing") == 1


def test_create_admin_with_a_password(cli: Cli):
    cli("create-organization", "Initech")

    result = cli("create-admin", "Ops@Initech.example", "--organization", "Initech", "--password", "correct-horse-1")

    assert "ops@initech.example" in result.stdout.lower()
    assert cli.count("SELECT count(*) FROM users WHERE email = ?", "ops@initech.example") == 1
    again = cli("create-admin", "ops@initech.example", "--organization", "Initech", "--password", "correct-horse-1",
                check=False)
    assert again.returncode != 0 and "value_already_exist" in again.stderr


def test_create_admin_for_an_unknown_organization_fails_clearly(cli: Cli):
    result = cli("create-admin", "x@example.com", "--organization", "Nobody Inc", "--password", "long-enough",
                 check=False)

    assert result.returncode != 0
    assert "no such organization" in result.stderr


def test_seed_demo_prints_links_and_is_idempotent(cli: Cli):
    first = cli("seed-demo")

    assert re.search(r"^Admin:\s+http://127\.0\.0\.1:5000/admin/login\b.*admin@demo\.tally", first.stdout, re.M)
    assert re.search(r"^Portal:\s+http://127\.0\.0\.1:5000/portal/\S+$", first.stdout, re.M)
    assert re.search(r"^API key: tly_\S+$", first.stdout, re.M)
    org = "(SELECT id FROM organizations WHERE name = 'Demo SaaS Inc.')"
    customers = cli.count(f"SELECT count(*) FROM customers WHERE organization_id = {org}")
    events = cli.count(f"SELECT count(*) FROM events WHERE organization_id = {org}")
    invoices = cli.count(f"SELECT count(*) FROM invoices WHERE organization_id = {org} AND status = 'finalized'")
    assert customers >= 4
    assert events >= 1000
    assert invoices >= customers  # every subscription started ~2 months ago has an ended period

    second = cli("seed-demo")

    assert "Portal: http://127.0.0.1:5000/portal/" in second.stdout
    assert "API key: tly_" not in second.stdout  # a key is shown once; it is stored hashed
    assert cli.count("SELECT count(*) FROM organizations WHERE name = 'Demo SaaS Inc.'") == 1
    assert cli.count(f"SELECT count(*) FROM customers WHERE organization_id = {org}") == customers
    assert cli.count(f"SELECT count(*) FROM events WHERE organization_id = {org}") == events
    assert cli.count(f"SELECT count(*) FROM invoices WHERE organization_id = {org} AND status = 'finalized'") \
        == invoices
    assert cli.count("SELECT count(*) FROM users WHERE email = 'admin@demo.tally'") == 1


def test_billing_run_at_a_given_time(cli: Cli):
    result = cli("billing", "run", "--at", "2026-01-01T00:00:00Z")

    assert "billing clock at 2026-01-01T00:00:00+00:00" in result.stdout
    assert cli("billing", "run", "--at", "2026-01-01T00:00:00Z").returncode == 0  # idempotent


def test_billing_run_rejects_a_bad_time(cli: Cli):
    result = cli("billing", "run", "--at", "next tuesday", check=False)

    assert result.returncode == 2
    assert "not an ISO 8601 time: next tuesday" in result.stderr
    assert "Traceback" not in result.stderr


def test_seed_demo_reset_rebuilds_only_the_demo_organization(app, org):
    """In process, so that it runs on PostgreSQL too: --reset deletes the demo's rows and nobody else's."""
    from billing.customers.services import list_customers, upsert_customer
    from web.demo import DEMO_ORGANIZATION, seed_demo

    upsert_customer(organization_id=org.id, data={"external_id": "keep-me", "name": "Not a demo customer"})
    first = seed_demo()
    again = seed_demo()
    reset = seed_demo(reset=True)

    assert first.created and first.api_key.startswith("tly_")
    assert not again.created and again.api_key is None and again.organization_id == first.organization_id
    assert reset.created and reset.organization_id != first.organization_id
    assert (reset.customers, reset.invoices) == (first.customers, first.invoices)
    assert abs(reset.events - first.events) <= 2 and first.events >= 1000  # only events of the last seconds differ
    assert [c.external_id for c in list_customers(organization_id=org.id).items] == ["keep-me"]
    from billing.organizations.services import find_organization_by_name

    assert find_organization_by_name(DEMO_ORGANIZATION) == reset.organization_id


def test_health(app):
    response = app.test_client().get("/health")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
