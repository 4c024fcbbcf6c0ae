"""In a real browser, on an account manager's customer page: usage so far follows new events without disturbing a
form being typed, and a wallet grant asks first, naming the credits and what they are worth."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from billing.organizations.services import create_admin

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"  # noqa: S105 (a test account's password)


def _event(api: httpx.Client, transaction_id: str) -> None:
    api.post("/events", json={"event": {"transaction_id": transaction_id, "external_subscription_id": "sub-alice",
                                        "code": "api_calls", "properties": {}}}).raise_for_status()


@pytest.fixture
def customer_page(page: Page, live_server, org) -> tuple[Page, httpx.Client]:
    api = httpx.Client(base_url=f"{live_server}/api/v1", headers={"Authorization": f"Bearer {org.api_key}"},
                       timeout=10)
    metric = api.post("/billable_metrics", json={"billable_metric": {
        "name": "API calls", "code": "api_calls", "aggregation_type": "count_agg"}}).json()["billable_metric"]
    api.post("/plans", json={"plan": {
        "name": "Startup", "code": "startup", "interval": "monthly", "amount_cents": 1000, "amount_currency": "EUR",
        "charges": [{"billable_metric_id": metric["lago_id"], "charge_model": "standard",
                     "properties": {"amount": "0.05"}}]}}).raise_for_status()
    customer = api.post("/customers", json={"customer": {"external_id": "alice", "name": "Alice Corp",
                                                         "currency": "EUR"}}).json()["customer"]
    api.post("/subscriptions", json={"subscription": {
        "external_customer_id": "alice", "plan_code": "startup", "external_id": "sub-alice"}}).raise_for_status()
    create_admin(email="manager@acme.test", password=PASSWORD, organization_id=org.id)
    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email").fill("manager@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server}/admin/customers/{customer['lago_id']}")
    yield page, api
    api.close()


def test_usage_follows_events_and_leaves_the_forms_alone(customer_page):
    page, api = customer_page
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    _event(api, "evt-1")
    meter = page.locator('[data-subscription="sub-alice"] [data-metric="api_calls"]')
    expect(meter.locator(".units")).to_have_text("1", timeout=10_000)
    page.get_by_label("Name", exact=True).fill("Prepaid")  # the new-wallet form, half typed
    page.evaluate("window.__marker = 'same page'")

    _event(api, "evt-2")
    _event(api, "evt-3")

    expect(meter.locator(".units")).to_have_text("3", timeout=10_000)
    expect(meter.locator(".amount")).to_have_text("€0.15")
    expect(page.locator('[data-subscription="sub-alice"] .usage-total')).to_have_text("€0.15")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Prepaid")
    assert page.evaluate("window.__marker") == "same page"
    assert problems == []


def test_a_grant_asks_first_naming_its_worth_and_can_be_canceled(customer_page):
    page, _ = customer_page
    page.get_by_label("Value of one credit (EUR)").fill("1.50")
    page.get_by_role("button", name="Create wallet").click()
    expect(page.locator(".flash-success")).to_have_text("Wallet created.")
    wallet = page.locator("article.wallet")
    wallet.get_by_label("Action").select_option("grant")
    wallet.get_by_label("Credits", exact=True).fill("10")
    wallet.get_by_role("button", name="Continue").click()

    question = wallet.locator("[data-confirm]")
    expect(question).to_contain_text("Grant 10 free credits, worth €15.00, to the wallet? No invoice is issued.")
    question.get_by_role("link", name="Cancel").click()
    expect(wallet.locator("[data-confirm]")).to_have_count(0)
    expect(wallet.locator(".wallet-balance")).to_have_text("€0.00")

    wallet.get_by_label("Credits", exact=True).fill("10")
    wallet.get_by_role("button", name="Continue").click()
    wallet.get_by_role("button", name="Grant 10 credits").click()
    expect(page.locator(".flash-success")).to_have_text("Credits granted.")
    expect(page.locator("article.wallet .wallet-balance")).to_have_text("€15.00")
