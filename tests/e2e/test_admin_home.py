"""In a real browser: the account manager signs in and lands on the home; its figures are those of the hand-built
books (tests/analytics_data.py); changing the MRR chart's period redraws that chart alone and keeps it in the URL,
which a reload honours; the currency changes every chart.

With TALLY_SCREENSHOTS=<dir>, the home is also captured at 1280 and 390 px wide."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from billing.organizations.services import create_admin, create_organization
from tests.analytics_data import build_books
from tests.e2e.screens import look_at

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"  # noqa: S105 (a test account's password)


def test_home_after_sign_in_with_its_figures_and_periods(page: Page, live_server, org, clock):
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    build_books(create_organization(name="Other Cloud", default_currency="EUR").organization_id)
    build_books(org.id)
    create_admin(email="manager@acme.test", password=PASSWORD, organization_id=org.id)

    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email").fill("manager@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server}/admin/")
    expect(page.get_by_role("heading", name="Home", level=1)).to_be_visible()
    expect(page.locator('[data-attention="overdue"] .attention-count')).to_have_text("2")
    expect(page.locator('[data-attention="overdue"]')).to_contain_text("€152.00 · $40.00 owed")
    expect(page.locator('[data-figure="mrr"]')).to_have_text("€120.00")
    expect(page.locator('[data-figure="invoiced"]')).to_have_text("€100.00")
    mrr_bars = page.locator("#chart-mrr-svg g.month")
    expect(mrr_bars).to_have_count(6)
    expect(page.get_by_role("img", name="Monthly recurring revenue, June 2026 to November 2026")).to_be_visible()
    look_at(page, "admin-home")

    revenue_before = page.locator("#chart-revenue").inner_html()
    page.get_by_label("Period").first.select_option("12")
    expect(mrr_bars).to_have_count(12)
    expect(page).to_have_url(f"{live_server}/admin/?mrr_months=12&currency=EUR&revenue_months=6&usage_months=6"
                             "&customers_months=6")
    assert page.locator("#chart-revenue").inner_html() == revenue_before
    expect(page.locator('#chart-mrr-svg g.month[data-month="2026-10-01"]')).to_have_attribute("data-amount", "16333")

    page.reload()
    expect(mrr_bars).to_have_count(12)
    expect(page.get_by_label("Period").first).to_have_value("12")

    page.get_by_label("Currency").select_option("USD")
    expect(page.locator('[data-figure="mrr"]')).to_have_text("$0.00")
    expect(page.locator('#chart-mrr-svg g.month[data-month="2026-10-01"]')).to_have_attribute("data-amount", "5000")
    expect(page.locator("#chart-customers-table")).to_contain_text("Initech")
    assert problems == []
