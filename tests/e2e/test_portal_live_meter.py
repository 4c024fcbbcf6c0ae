"""In a real browser, the portal's usage meter follows events sent to the API, without a page reload."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def _api(live_server: str, api_key: str) -> httpx.Client:
    return httpx.Client(base_url=f"{live_server}/api/v1", headers={"Authorization": f"Bearer {api_key}"}, timeout=10)


def _set_up_subscription(api: httpx.Client) -> str:
    """A metered plan and one subscriber; returns the customer's portal URL, as the API hands it out."""
    metric = api.post("/billable_metrics", json={"billable_metric": {
        "name": "API calls", "code": "api_calls", "aggregation_type": "count_agg"}})
    metric.raise_for_status()
    api.post("/plans", json={"plan": {
        "name": "Startup", "code": "startup", "interval": "monthly", "amount_cents": 1000, "amount_currency": "EUR",
        "charges": [{"billable_metric_id": metric.json()["billable_metric"]["lago_id"], "charge_model": "standard",
                     "properties": {"amount": "0.05"}}]}}).raise_for_status()
    api.post("/customers", json={"customer": {"external_id": "alice", "name": "Alice Corp"}}).raise_for_status()
    api.post("/subscriptions", json={"subscription": {
        "external_customer_id": "alice", "plan_code": "startup", "external_id": "sub-alice"}}).raise_for_status()
    response = api.get("/customers/alice/portal_url")
    response.raise_for_status()
    return response.json()["customer"]["portal_url"]


def _send_event(api: httpx.Client, transaction_id: str) -> None:
    api.post("/events", json={"event": {"transaction_id": transaction_id, "external_subscription_id": "sub-alice",
                                        "code": "api_calls", "properties": {}}}).raise_for_status()


def test_meter_updates_when_an_event_arrives_without_reloading(page: Page, live_server, org):
    problems: list[str] = []  # a CSP refusal or a script error shows up here, not as a failure
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    with _api(live_server, org.api_key) as api:
        portal_url = _set_up_subscription(api)
        _send_event(api, "evt-1")

        page.goto(portal_url)
        meter = page.locator('[data-subscription="sub-alice"] [data-metric="api_calls"]')
        expect(meter.locator(".units")).to_have_text("1")
        expect(meter.locator(".amount")).to_have_text("€0.05")
        page.evaluate("window.__marker = 'still the same page'")

        _send_event(api, "evt-2")
        _send_event(api, "evt-3")

        expect(meter.locator(".units")).to_have_text("3", timeout=10_000)
        expect(meter.locator(".events")).to_have_text("3")
        expect(meter.locator(".amount")).to_have_text("€0.15")
        expect(page.locator(".usage-total")).to_have_text("€0.15")
        assert page.evaluate("window.__marker") == "still the same page"
        assert page.url == portal_url
    assert problems == []
