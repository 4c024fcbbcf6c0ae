"""In a real browser: the account manager follows the navigation's count to "Could not bill", fixes nothing first
(Retry now asks first, naming the subscription and the period it bills; then it fails again, said in place),
then retries once the plan is fixed: the row and the count go away.

With TALLY_SCREENSHOTS=<dir>, the list is also captured at 1280 and 390 px wide."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from billing.clock import run_billing_clock
from billing.organizations.services import create_admin
from tests.e2e.screens import look_at, open_admin
from tests.integration.billing_failure_setup import corrupt, repair, subscribe_to, two_plans

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"  # noqa: S105 (a test account's password)


def test_retry_now_from_the_could_not_bill_list(page: Page, live_server, org, clock):
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    create_admin(email="manager@acme.test", password=PASSWORD, organization_id=org.id)
    clock.set("2026-09-01T00:00:00Z")
    two_plans(org.id)
    subscribe_to(org.id, "sub-good", "startup", at="2026-09-01T00:00:00Z")
    for n in range(2):
        subscribe_to(org.id, f"sub-{n}-acme-eu-west", "broken", at="2026-09-01T00:00:00Z")
    corrupt(org.id)
    clock.set("2026-10-01T01:00:00Z")
    run_billing_clock(fan_out=False)

    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email").fill("manager@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.locator("#nav-failure-count")).to_have_text("2")
    open_admin(page, "Billing", "Could not bill")
    rows = page.locator("tr[data-failure]")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("InvalidProperties")
    look_at(page, "could-not-bill")

    rows.first.get_by_role("button", name="Retry now").click()
    question = page.get_by_role("group", name="Confirm")
    expect(question).to_contain_text("now, for the period 1 Sep 2026 – 1 Oct 2026?")
    look_at(page, "could-not-bill-confirm")
    question.get_by_role("link", name="Cancel").click()
    expect(question).to_have_count(0)
    rows.first.get_by_role("button", name="Retry now").click()
    question.get_by_role("button", name="Bill it now").click()
    expect(page.get_by_role("alert")).to_contain_text("It failed again: InvalidProperties")
    repair(org.id)
    rows.first.get_by_role("button", name="Retry now").click()
    question.get_by_role("button", name="Bill it now").click()
    expect(page.get_by_role("status")).to_have_text("Done: 1 invoice issued.")
    expect(rows).to_have_count(1)
    expect(nav.locator("#nav-failure-count")).to_have_text("1")
    rows.first.get_by_role("button", name="Retry now").click()
    question.get_by_role("button", name="Bill it now").click()
    expect(page.get_by_text("Every subscription was billed")).to_be_visible()
    expect(nav.locator("#nav-failure-count")).to_have_text("")
    assert problems == []
