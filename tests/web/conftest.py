"""Customers with a subscription, a finalized invoice and usage in the current period, for the screens."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import pytest

from billing import links
from billing.catalog.metrics import create_billable_metric
from billing.catalog.services import create_plan
from billing.customers.services import upsert_customer
from billing.invoicing.queries import get_invoice
from billing.invoicing.runs import bill_subscription
from billing.lifecycle import create_subscription
from billing.metering.services import ingest_events
from billing.organizations.services import create_admin, create_organization

PASSWORD = "correct horse battery staple"  # noqa: S105 (a test account's password)


@pytest.fixture(autouse=True)
def pdfs_on_download(monkeypatch):
    """The screens' tests render an invoice's PDF when they download it (Settings' TALLY_INVOICE_PDFS=0), not in
    the background after each finalization: ~2.5 renders a test that nothing looked at. The background render
    is tested in tests/integration/test_jobs.py and tests/scenarios."""
    from billing import ports

    monkeypatch.setattr(ports.runtime, "invoice_pdfs", False)


@dataclass(frozen=True)
class BilledCustomer:
    organization_id: str
    id: str
    external_id: str
    name: str
    subscription_id: str
    invoice_id: str
    invoice_number: str

    def portal_url(self) -> str:
        return links.portal_url(customer_id=self.id, organization_id=self.organization_id)

    def portal_path(self) -> str:
        return "/portal/" + self.portal_url().rsplit("/portal/", 1)[1]


def create_catalog(organization_id: str, *, plan_name: str = "Startup") -> None:
    """A count metric `api_calls` at 0.05 per call on a 10.00 monthly plan `startup`, in EUR."""
    metric = create_billable_metric(organization_id=organization_id,
                                    data={"name": "API calls", "code": "api_calls", "aggregation_type": "count_agg"})
    create_plan(organization_id=organization_id, data={
        "name": plan_name, "code": "startup", "interval": "monthly", "amount_cents": 1000, "amount_currency": "EUR",
        "charges": [{"billable_metric_id": metric.id, "charge_model": "standard", "properties": {"amount": "0.05"}}]})


def send_events(organization_id: str, subscription_external_id: str, count: int, *, prefix: str) -> None:
    ingest_events(organization_id=organization_id, raw_events=[
        {"transaction_id": f"{prefix}-{i}", "external_subscription_id": subscription_external_id, "code": "api_calls"}
        for i in range(count)])


@pytest.fixture
def billed_customer(clock, run_jobs):
    """Make a customer subscribed since October: October is invoiced, November (now) has `events` calls so far."""

    def make(organization_id: str, external_id: str, *, name: str, events: int = 3) -> BilledCustomer:
        now = clock.now()
        clock.set("2026-10-05T09:00:00Z")
        customer = upsert_customer(organization_id=organization_id, data={"external_id": external_id, "name": name})
        subscription = create_subscription(organization_id=organization_id, data={
            "external_customer_id": external_id, "plan_code": "startup", "external_id": f"sub-{external_id}"})
        clock.set("2026-11-01T01:00:00Z")
        [invoice_id] = bill_subscription(subscription_id=subscription.id, at=clock.now())
        clock.set(now)
        send_events(organization_id, f"sub-{external_id}", events, prefix=f"{external_id}-nov")
        run_jobs()  # let the jobs behind the billing and the events finish before the test goes on
        number = get_invoice(organization_id=organization_id, invoice_id=invoice_id).number
        return BilledCustomer(organization_id=organization_id, id=customer.id, external_id=external_id, name=name,
                              subscription_id=subscription.id, invoice_id=invoice_id, invoice_number=number)

    return make


@pytest.fixture
def other_org(app):
    created = create_organization(name="Globex", default_currency="EUR")
    return created.organization_id


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def account_manager(org):
    email = "manager@acme.test"
    create_admin(email=email, password=PASSWORD, organization_id=org.id)
    return email


def csrf_token_in(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def session_csrf_token(client) -> str:
    """A CSRF token of the client's session (the pay pages' forms), from the sign-in page."""
    return csrf_token_in(client.get("/admin/login").get_data(as_text=True))


def sign_in(client, email: str, password: str = PASSWORD):
    token = csrf_token_in(client.get("/admin/login").get_data(as_text=True))
    return client.post("/admin/login", data={"email": email, "password": password, "csrf_token": token})


def sign_out(client):
    token = csrf_token_in(client.get("/admin/customers").get_data(as_text=True))
    return client.post("/admin/logout", data={"csrf_token": token})


@pytest.fixture
def scrypt_calls(monkeypatch) -> list[int]:
    """The N of every scrypt derivation the app runs from now on (still computed for real)."""
    from billing.organizations import passwords

    calls: list[int] = []
    derive = passwords._derive

    def counted(password, salt, n, r, p):
        calls.append(n)
        return derive(password, salt, n, r, p)

    monkeypatch.setattr(passwords, "_derive", counted)
    return calls


@pytest.fixture
def app_with(app, settings):
    """Build an app with some settings changed (`app_with(base_url=...)`); the shared app is rebound after."""
    from jobs.bootstrap import configure_core
    from web import create_app
    from web.extensions import limiter

    dispatcher = app.extensions["tally_dispatcher"]

    def build(*, own_dispatcher: bool = False, **changes):
        # own_dispatcher: jobs go where the changed settings say (e.g. a Redis that is down), not to the test's.
        other = create_app(dataclasses.replace(settings, **changes), start_clock=False,
                           dispatcher=None if own_dispatcher else dispatcher)
        other.config.update(TESTING=True)
        return other

    yield build
    configure_core(settings, dispatcher=dispatcher)
    limiter.init_app(app)
    limiter._storage_dead = False  # an app built with an unreachable Redis left the limiter on its fallback


@pytest.fixture
def signed_in(client, account_manager):
    response = sign_in(client, account_manager)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client
