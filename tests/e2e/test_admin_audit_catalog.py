"""In a real browser: the coupons, metrics and add-ons an account manager changes are in the audit trail (filtered to
coupons) and in the metric's own History, at 1280 and 390 px, on a phone as on a keyboard."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from billing.audit.actors import Actor, acting_as
from billing.catalog.coupons import create_coupon, update_coupon
from billing.catalog.metrics import create_billable_metric
from billing.organizations.services import create_admin
from tests.e2e.screens import (
    assert_accessible,
    assert_no_sideways_scroll,
    assert_phone_ready,
    assert_tap_targets,
    look_at,
    open_admin,
)

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"  # noqa: S105 (a test account's password)
CHROME = (".brand", ".nav", ".subnav")  # the admin's header, the same on every page: not this test's screens


def test_the_trail_filtered_to_coupons_and_a_metric_history(page: Page, live_server, org):
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    create_admin(email="manager@acme.test", password=PASSWORD, organization_id=org.id)
    with acting_as(Actor(kind="api_key", id="k1", label=org.api_key[:10])):
        create_coupon(organization_id=org.id, data={
            "name": "Launch week", "code": "launch", "coupon_type": "percentage", "percentage_rate": "15",
            "frequency": "recurring", "frequency_duration": 3, "expiration": "no_expiration"})
        create_billable_metric(organization_id=org.id, data={"name": "Storage", "code": "storage",
                                                             "aggregation_type": "sum_agg", "field_name": "gb"})
    with acting_as(Actor(kind="account_manager", id="u1", label="manager@acme.test")):
        update_coupon(organization_id=org.id, code="launch", data={"name": "Launch month", "percentage_rate": "20"})

    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email").fill("manager@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # A coupon made in the admin, by the account manager who is signed in.
    page.goto(f"{live_server}/admin/discounts")
    page.locator("#coupon-name").fill("Ten euros")
    page.locator("#coupon-code").fill("ten")
    page.locator("#coupon-coupon_type").select_option("fixed_amount")
    page.locator("#coupon-value").fill("10.50")
    page.locator("#coupon-currency").fill("EUR")
    page.get_by_role("button", name="Create coupon").click()
    expect(page.locator('[data-coupon="ten"]')).to_be_visible()

    # The metric changed through its form: its page then shows its History.
    open_admin(page, "Catalog", "Metrics")
    page.goto(f"{live_server}/admin/metrics/storage/edit")
    page.get_by_label("Filters").fill("region: eu, us")
    page.get_by_label("Name").fill("Storage (GB)")
    page.get_by_role("button", name="Save changes").click()
    expect(page).to_have_url(f"{live_server}/admin/metrics")

    page.goto(f"{live_server}/admin/audit")
    page.get_by_label("Object").select_option("coupon")
    expect(page).to_have_url(f"{live_server}/admin/audit?actor=&object_type=coupon&action=&since=&until=")
    rows = page.locator("tr[data-audit-action]")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("Coupon created")
    expect(rows.first).to_contain_text("€10.50")
    expect(page.locator("tr[data-audit-action='coupon.updated']")).to_contain_text("Launch week")
    expect(page.locator("tr[data-audit-action='coupon.updated']")).to_contain_text("20")
    look_at(page, "audit-coupons")
    page.set_viewport_size({"width": 390, "height": 900})
    # Not assert_focus_visible here: Chromium's calendar button inside a date input takes a Tab stop of its own,
    # and the input does not match :focus meanwhile (the filters' dates, as they were).
    assert_accessible(page, exclude=CHROME)
    assert_no_sideways_scroll(page)
    assert_tap_targets(page, exclude=CHROME)
    page.set_viewport_size({"width": 1280, "height": 900})

    page.goto(f"{live_server}/admin/metrics/storage/edit")
    history = page.locator("section.history")
    expect(history.locator("li[data-audit-action]")).to_have_count(2)
    expect(history.locator("li[data-audit-action='billable_metric.updated']")).to_contain_text("manager@acme.test")
    expect(history.get_by_text("filters › region")).to_be_visible()
    history.scroll_into_view_if_needed()
    look_at(page, "metric-history")
    page.set_viewport_size({"width": 390, "height": 900})
    # The History block is this test's; the page's head and form are tests/e2e/test_admin_metrics.py's.
    assert_phone_ready(page, exclude=(*CHROME, ".metric-form", ".page-head", "p.small > a"))
    assert problems == []
