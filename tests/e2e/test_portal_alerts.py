"""In a real browser: a crossed alert's notice on the portal's overview and in the usage widget, and the admin's
list of a customer's alerts, at both widths."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from billing.organizations.services import create_admin
from tests.e2e.screens import look_at

pytestmark = pytest.mark.browser

NOTICE = "Usage passed 5 API calls (alert: Heavy use)"
PASSWORD = "correct horse battery staple"  # noqa: S105 (a test account's password)


def test_the_portal_and_the_usage_widget_show_a_crossed_alert(page: Page, live_server, org, run_jobs):
    with httpx.Client(base_url=f"{live_server}/api/v1", headers={"Authorization": f"Bearer {org.api_key}"},
                      timeout=10) as api:
        metric = api.post("/billable_metrics", json={"billable_metric": {
            "name": "API calls", "code": "api_calls", "aggregation_type": "count_agg"}}).json()["billable_metric"]
        api.post("/plans", json={"plan": {
            "name": "Startup", "code": "startup", "interval": "monthly", "amount_cents": 1000,
            "amount_currency": "EUR", "charges": [{"billable_metric_id": metric["lago_id"],
                                                   "charge_model": "standard", "properties": {"amount": "0.05"}}]}})
        customer = api.post("/customers", json={"customer": {"external_id": "alice", "name": "Alice Corp"}}).json()
        api.post("/wallets", json={"wallet": {"external_customer_id": "alice", "rate_amount": "1", "currency": "EUR",
                                              "code": "main", "name": "Main", "granted_credits": "20"}})
        api.post("/customers/alice/wallets/main/alerts", json={"alert": {
            "alert_type": "wallet_ongoing_balance_amount", "code": "low", "name": "Running low",
            "thresholds": [{"value": 1000}, {"value": 500}]}}).raise_for_status()
        api.post("/subscriptions", json={"subscription": {
            "external_customer_id": "alice", "plan_code": "startup", "external_id": "sub-alice"}}).raise_for_status()
        api.post("/subscriptions/sub-alice/alerts", json={"alert": {
            "alert_type": "billable_metric_current_usage_units", "code": "heavy", "name": "Heavy use",
            "billable_metric_code": "api_calls", "thresholds": [{"value": 5}, {"value": 100}]}}).raise_for_status()
        api.post("/events/batch", json={"events": [
            {"transaction_id": f"e{n}", "external_subscription_id": "sub-alice", "code": "api_calls"}
            for n in range(6)]}).raise_for_status()
        run_jobs()
        portal_url = api.get("/customers/alice/portal_url").json()["customer"]["portal_url"]
        token = api.post("/customers/alice/embed_token", json={}).json()["embed"]["token"]

    page.goto(portal_url)
    expect(page.locator('[data-subscription="sub-alice"] .alert-crossed')).to_have_text(NOTICE)
    look_at(page, "portal-alert")
    page.goto(f"{live_server}/embed/{token}/usage")
    expect(page.locator(".alert-crossed")).to_have_text(NOTICE)
    look_at(page, "widget-usage-alert")

    create_admin(email="manager@acme.test", password=PASSWORD, organization_id=org.id)
    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email").fill("manager@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server}/admin/customers/{customer['customer']['lago_id']}")
    expect(page.locator('[data-alert="heavy"]')).to_contain_text("5, 100")
    expect(page.locator('[data-alert="low"]')).to_contain_text("€5.00, €10.00")
    look_at(page, "admin-customer-alerts")
