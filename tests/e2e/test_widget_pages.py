"""Each widget page opened directly in Chromium at its narrowest (280 px), light and dark: readable without a
horizontal scroll, and nothing refused by the Content-Security-Policy (no inline script or style)."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page

pytestmark = pytest.mark.browser

WIDGETS = ("usage", "bill", "wallet", "invoices")


def _api(live_server: str, api_key: str) -> httpx.Client:
    return httpx.Client(base_url=f"{live_server}/api/v1", headers={"Authorization": f"Bearer {api_key}"}, timeout=10)


def _ok(response: httpx.Response) -> dict:
    assert response.status_code < 300, response.text
    return response.json()


def set_up_customer(api: httpx.Client) -> dict[str, str]:
    """A metered plan with a filtered charge and a tax, a subscriber with usage, a wallet and an invoice: the embed
    token's widget URLs."""
    metric = _ok(api.post("/billable_metrics", json={"billable_metric": {
        "name": "API calls", "code": "api_calls", "aggregation_type": "count_agg",
        "filters": [{"key": "region", "values": ["eu", "us"]}]}}))["billable_metric"]
    _ok(api.post("/taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "20", "applied_to_organization": True}}))
    _ok(api.post("/plans", json={"plan": {
        "name": "Startup", "code": "startup", "interval": "monthly", "amount_cents": 1000, "amount_currency": "EUR",
        "charges": [{"billable_metric_id": metric["lago_id"], "charge_model": "standard",
                     "properties": {"amount": "0.05"},
                     "filters": [{"values": {"region": ["eu"]}, "properties": {"amount": "0.04"},
                                  "invoice_display_name": "Europe"}]}]}}))
    _ok(api.post("/customers", json={"customer": {"external_id": "alice", "name": "Alice Corp", "currency": "EUR"}}))
    _ok(api.post("/subscriptions", json={"subscription": {
        "external_customer_id": "alice", "plan_code": "startup", "external_id": "sub-alice"}}))
    for i in range(12):
        region = "eu" if i % 3 else "us"
        _ok(api.post("/events", json={"event": {"transaction_id": f"e-{i}", "external_subscription_id": "sub-alice",
                                                "code": "api_calls", "properties": {"region": region}}}))
    _ok(api.post("/wallets", json={"wallet": {"external_customer_id": "alice", "rate_amount": "1", "currency": "EUR",
                                              "name": "Prepaid credits", "granted_credits": "20"}}))
    _ok(api.post("/add_ons", json={"add_on": {"name": "Setup", "code": "setup", "amount_cents": 12000,
                                              "amount_currency": "EUR"}}))
    _ok(api.post("/invoices", json={"invoice": {"external_customer_id": "alice", "currency": "EUR",
                                                "fees": [{"add_on_code": "setup", "units": 1}]}}))
    return _ok(api.post("/customers/alice/embed_token"))["embed"]["urls"]


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_widget_is_readable_at_280_px_without_a_csp_refusal(page: Page, live_server, org, theme):
    urls = set_up_customer(_api(live_server, org.api_key))
    refusals: list[str] = []
    page.on("console", lambda message: "Content Security Policy" in message.text and refusals.append(message.text))
    page.set_viewport_size({"width": 280, "height": 700})
    for widget in WIDGETS:
        page.goto(f"{urls[widget]}?theme={theme}")
        assert page.locator(f"body.widget-{widget}").count() == 1
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"), widget
    assert refusals == []
