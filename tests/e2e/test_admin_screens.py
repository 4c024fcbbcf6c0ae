"""In a real browser: an account manager signs in, opens a customer and uses the htmx controls."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from billing.catalog.metrics import create_billable_metric
from billing.catalog.services import create_plan
from billing.customers.services import upsert_customer
from billing.lifecycle import create_subscription
from billing.metering.services import ingest_events
from billing.organizations.services import create_admin
from tests.e2e.screens import open_admin

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"  # noqa: S105 (a test account's password)


def _customer_with_usage(organization_id: str) -> str:
    metric = create_billable_metric(organization_id=organization_id, data={
        "name": "API calls", "code": "api_calls", "aggregation_type": "count_agg"})
    create_plan(organization_id=organization_id, data={
        "name": "Startup", "code": "startup", "interval": "monthly", "amount_cents": 1000, "amount_currency": "EUR",
        "charges": [{"billable_metric_id": metric.id, "charge_model": "standard", "properties": {"amount": "0.05"}}]})
    customer = upsert_customer(organization_id=organization_id, data={
        "external_id": "alice", "name": "Alice Corp", "email": "billing@alice.test"})
    create_subscription(organization_id=organization_id, data={
        "external_customer_id": "alice", "plan_code": "startup", "external_id": "sub-alice"})
    _events(organization_id, 2, prefix="first")
    return customer.id


def _events(organization_id: str, count: int, *, prefix: str) -> None:
    ingest_events(organization_id=organization_id, raw_events=[
        {"transaction_id": f"{prefix}-{i}", "external_subscription_id": "sub-alice", "code": "api_calls"}
        for i in range(count)])


def test_sign_in_find_a_customer_refresh_usage_and_get_a_portal_link(page: Page, live_server, org):
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    create_admin(email="manager@acme.test", password=PASSWORD, organization_id=org.id)
    _customer_with_usage(org.id)

    page.goto(f"{live_server}/")
    expect(page).to_have_url(f"{live_server}/admin/login?next=%2Fadmin%2F")
    page.get_by_label("Email").fill("manager@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Home")).to_be_visible()  # signing in lands on the home
    open_admin(page, "Customers")
    expect(page.get_by_role("heading", name="Customers")).to_be_visible()
    # htmx listens to the box once its script has run: typed before that (a loaded machine), the
    # search would never be sent.
    page.wait_for_load_state("networkidle")
    page.get_by_label("Search", exact=True).fill("alice")
    expect(page).to_have_url(f"{live_server}/admin/customers?search=alice")
    page.get_by_role("link", name="Alice Corp").click()

    meter = page.locator('[data-subscription="sub-alice"] [data-metric="api_calls"]')
    expect(meter.locator(".units")).to_have_text("2")
    _events(org.id, 3, prefix="second")
    page.get_by_role("button", name="Refresh").click()
    expect(meter.locator(".units")).to_have_text("5")
    expect(meter.locator(".amount")).to_have_text("€0.25")

    page.get_by_role("link", name="Portal link").click()
    portal_url = page.get_by_label("Portal URL").input_value()
    assert portal_url.startswith(f"{live_server}/portal/")

    page.goto(portal_url)
    expect(page.get_by_role("heading", name="Alice Corp")).to_be_visible()
    expect(page.locator('[data-metric="api_calls"] .units')).to_have_text("5")
    assert problems == []


def test_terminate_an_advance_plan_choosing_what_the_unused_days_become(page: Page, live_server, org, clock,
                                                                        run_jobs):
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    create_admin(email="manager@acme.test", password=PASSWORD, organization_id=org.id)
    create_plan(organization_id=org.id, data={
        "name": "Prepaid", "code": "prepaid", "interval": "monthly", "amount_cents": 3000, "amount_currency": "EUR",
        "pay_in_advance": True})
    clock.set("2026-11-01T00:00:00Z")
    customer = upsert_customer(organization_id=org.id, data={"external_id": "bob", "name": "Bob Ltd"})
    create_subscription(organization_id=org.id, data={
        "external_customer_id": "bob", "plan_code": "prepaid", "external_id": "sub-bob"})
    run_jobs()
    clock.set("2026-11-10T12:00:00Z")

    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email").fill("manager@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server}/admin/customers/{customer.id}")
    page.get_by_text("Manage this subscription").click()
    page.get_by_role("link", name="Terminate…").click()
    page.get_by_label("Refund them").check()
    page.get_by_role("button", name="Terminate now").click()

    # Nothing was paid yet: what a refund would give back is credited (20 unused days of €30.00).
    expect(page.locator(".result")).to_contain_text("sub-bob is terminated. Credit note")
    expect(page.locator(".result")).to_contain_text("€20.00 credited")
    notes = page.locator("[data-credit-note]")
    expect(notes).to_have_count(1)  # the invoices block refreshed itself (HX-Trigger)
    expect(notes.first).to_contain_text("Order cancellation")
    assert problems == []
