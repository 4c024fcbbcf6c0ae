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


def test_db_upgrade_applies_the_clickhouse_migrations_when_events_live_there(tmp_path: Path):
    """`flask db upgrade` with TALLY_EVENTS_STORE=clickhouse: the ledger's migrations, then ClickHouse's (chDB here,
    in the command's process). Once: tests/metering/test_clickhouse_store.py shows a second run applies none."""
    cli = Cli(tmp_path)
    cli.env.update(TALLY_EVENTS_STORE="clickhouse", CLICKHOUSE_URL=f"chdb://{tmp_path / 'chdb'}")
    migrations = sorted(path.stem for path in (ROOT / "migrations" / "clickhouse").glob("*.sql"))

    result = cli("db", "upgrade")

    assert "database at head" in result.stdout
    assert f"ClickHouse events store: {len(migrations)} migration(s) applied: {', '.join(migrations)}" in result.stdout
    assert cli.count("SELECT count(*) FROM alembic_version") == 1
    assert (tmp_path / "chdb").is_dir()


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
    assert re.search(rf"^Events: {events} \(in the ledger's database\)$", first.stdout, re.M), first.stdout

    second = cli("seed-demo")

    assert "Portal: http://127.0.0.1:5000/portal/" in second.stdout
    assert "API key: tly_" not in second.stdout  # a key is shown once; it is stored hashed
    assert f"Events: {events} (in the ledger's database)" in second.stdout
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


def _demo_books(organization_id: str) -> dict:
    """What the demo bills, by customer (so that two seeds compare): each invoice's dates, status, total and usage
    fees (units, events, cents), and each subscription's current usage by metric."""
    import sqlalchemy as sa

    from billing.customers.models import Customer
    from billing.db import read_only
    from billing.invoicing.models import Fee, Invoice
    from billing.metering.period_usage import current_usage
    from web.demo import CUSTOMERS

    books: dict[str, list] = {}
    with read_only() as session:
        for invoice, customer in session.execute(
                sa.select(Invoice, Customer.external_id).join(Customer, Customer.id == Invoice.customer_id)
                .where(Invoice.organization_id == organization_id).order_by(Invoice.issuing_date, Invoice.number)):
            fees = sorted((fee.item_code, fee.units, fee.events_count, fee.amount_cents) for fee in session.scalars(
                sa.select(Fee).where(Fee.invoice_id == invoice.id, Fee.fee_type == "charge")))
            books.setdefault(customer, []).append(
                (invoice.issuing_date, invoice.status, invoice.total_amount_cents, fees))
    for customer in CUSTOMERS:
        usage = current_usage(organization_id=organization_id, external_customer_id=customer.external_id,
                              external_subscription_id=f"sub_{customer.external_id}")
        books.setdefault(customer.external_id, []).append(sorted(
            (charge.charge.billable_metric.code, charge.units, charge.events_count, charge.amount_cents)
            for charge in usage.charges))
    return books


def test_seed_demo_reset_rebuilds_only_the_demo_organization_and_bills_alike_on_both_event_stores(
        app, org, clock, clickhouse_store):
    """In process, so that it runs on PostgreSQL too: --reset deletes the demo's rows and nobody else's, and its events
    in the store that holds them. Seeded on the ClickHouse store, then reset and seeded on the SQL store at the same
    moment: the same events, invoices and usage to the cent (two seeds of ~30 s: the reset is the second)."""
    from billing.customers.services import list_customers, upsert_customer
    from billing.metering.services import ingest_events
    from billing.metering.sql_store import SqlEventStore
    from billing.metering.store import configure_event_store, event_store
    from billing.organizations.services import find_organization_by_name
    from web.demo import DEMO_ORGANIZATION, delete_organization_data, seed_demo

    def events_of(organization_id: str) -> int:
        return event_store().list_events(organization_id=organization_id, per_page=1).total_count

    upsert_customer(organization_id=org.id, data={"external_id": "keep-me", "name": "Not a demo customer"})
    clickhouse_store.clear()
    configure_event_store(clickhouse_store)
    try:
        ingest_events(organization_id=org.id, raw_events=[{"transaction_id": "keep-me", "external_subscription_id": "s",
                                                           "code": "calls"}])
        first = seed_demo()
        again = seed_demo()
        on_clickhouse = _demo_books(first.organization_id)
        assert events_of(first.organization_id) == first.events >= 1000
        assert SqlEventStore().list_events(organization_id=first.organization_id).total_count == 0
    finally:
        configure_event_store(SqlEventStore())
    reset = seed_demo(reset=True)

    assert first.created and first.api_key.startswith("tly_")
    assert not again.created and again.api_key is None and again.organization_id == first.organization_id
    assert again.events == first.events  # counted in the ClickHouse store: the ledger's database holds none
    assert reset.created and reset.organization_id != first.organization_id
    assert (reset.customers, reset.invoices, reset.events) == (first.customers, first.invoices, first.events)
    assert _demo_books(reset.organization_id) == on_clickhouse
    assert sum(len(invoices) for invoices in on_clickhouse.values()) > len(on_clickhouse)  # ended periods billed
    assert [c.external_id for c in list_customers(organization_id=org.id).items] == ["keep-me"]
    assert find_organization_by_name(DEMO_ORGANIZATION) == reset.organization_id
    assert events_of(reset.organization_id) == reset.events

    # Each store forgets the demo's events when the demo is deleted, and only those.
    delete_organization_data(reset.organization_id)
    assert events_of(reset.organization_id) == 0
    configure_event_store(clickhouse_store)
    try:
        assert events_of(first.organization_id) == first.events  # the SQL store's reset could not reach them
        delete_organization_data(first.organization_id)
        assert events_of(first.organization_id) == 0 and events_of(org.id) == 1
    finally:
        configure_event_store(SqlEventStore())


def test_health(app):
    response = app.test_client().get("/health")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
