"""In a real browser: an account manager creates a billable metric through the htmx form, errors and all."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from billing.catalog.metrics import get_billable_metric
from billing.organizations.services import create_admin
from tests.e2e.screens import open_admin

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"  # noqa: S105 (a test account's password)


def test_create_a_metric_with_inline_errors_and_an_expression_test(page: Page, live_server, org):
    problems: list[str] = []  # a CSP refusal or a script error shows up here, not as a failure
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    create_admin(email="manager@acme.test", password=PASSWORD, organization_id=org.id)

    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email").fill("manager@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    open_admin(page, "Catalog", "Metrics")
    page.get_by_role("link", name="New metric").click()

    page.get_by_label("Name").fill("Compute seconds")
    page.get_by_label("Code").fill("compute")
    page.get_by_label("Aggregation").select_option("sum_agg")
    page.evaluate("window.__marker = 'same page'")
    page.get_by_role("button", name="Create metric").click()

    field_error = page.locator('[data-field="field_name"] .field-error')
    expect(field_error).to_have_text("Required for this aggregation (or write an expression)")
    expect(page.get_by_label("Name")).to_have_value("Compute seconds")  # what was typed stays
    assert page.evaluate("window.__marker") == "same page"  # swapped by htmx, not reloaded

    page.get_by_label("Expression", exact=True).fill("event.properties.seconds * (event.properties.cpus")
    page.get_by_role("button", name="Test the expression").click()
    expect(page.locator(".trial-error")).to_contain_text("Not a valid expression")

    page.get_by_label("Expression", exact=True).fill("event.properties.seconds * event.properties.cpus")
    page.get_by_label("Sample event properties (JSON)").fill('{"seconds": 1.5, "cpus": 4}')
    page.get_by_role("button", name="Test the expression").click()
    expect(page.locator(".trial-value")).to_have_text("6")

    page.get_by_label("Filters").fill("region: eu, us")
    page.get_by_role("button", name="Create metric").click()

    expect(page).to_have_url(f"{live_server}/admin/metrics")
    expect(page.get_by_role("status")).to_have_text("Metric “Compute seconds” created.")
    expect(page.locator('[data-metric="compute"]')).to_contain_text("event.properties.seconds * event.properties.cpus")
    metric = get_billable_metric(organization_id=org.id, code="compute")
    assert metric.expression == "event.properties.seconds * event.properties.cpus"
    assert [(f.key, f.values) for f in metric.filters] == [("region", ["eu", "us"])]
    assert problems == []
