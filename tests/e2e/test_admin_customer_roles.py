"""In a real browser: the customer page as a manager (subscriptions, wallets, coupons, no money actions) and as a
finance member (invoices, one-off invoice, dunning; the subscriptions and wallets read, not changed), and the one-off
invoice asking first, naming its total before taxes.

With TALLY_SCREENSHOTS=<dir>, each is also captured at 1280 and 390 px wide."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from billing.catalog.add_ons import create_add_on
from billing.catalog.coupons import create_coupon
from billing.organizations.services import create_admin
from billing.wallets.services import create_wallet
from tests.e2e.screens import look_at, open_admin
from tests.web.conftest import billed_customer, create_catalog  # noqa: F401 (billed_customer: a fixture)

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"  # noqa: S105 (a test account's password)


def _sign_in(page: Page, live_server: str, email: str) -> None:
    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


@pytest.mark.parametrize("role", ["manager", "finance"])
def test_the_customer_page_as_each_role(page: Page, live_server, org, billed_customer, role):  # noqa: F811
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    create_catalog(org.id)
    billed_customer(org.id, "bob", name="Bob Builder", events=2)
    create_wallet(organization_id=org.id, data={"external_customer_id": "bob", "rate_amount": "1",
                                                "granted_credits": "20", "name": "Credits"})
    create_coupon(organization_id=org.id, data={"name": "Half", "code": "half", "coupon_type": "percentage",
                                                "percentage_rate": "50", "frequency": "recurring",
                                                "frequency_duration": 3, "expiration": "no_expiration"})
    create_add_on(organization_id=org.id, data={"name": "Setup", "code": "setup", "amount_cents": 5000,
                                                "amount_currency": "EUR"})
    create_admin(email=f"{role}@acme.test", password=PASSWORD, organization_id=org.id, role=role)
    _sign_in(page, live_server, f"{role}@acme.test")
    open_admin(page, "Customers", "Customers")
    page.get_by_role("link", name="Bob Builder").first.click()
    expect(page.get_by_role("heading", name="Bob Builder")).to_be_visible()
    expect(page.get_by_role("heading", name="Wallets")).to_be_visible()
    expect(page.locator("#one-off-title")).to_have_count(0 if role == "manager" else 1)
    expect(page.locator("summary", has_text="New wallet")).to_have_count(1 if role == "manager" else 0)
    look_at(page, f"customer-as-{role}")

    if role == "finance":
        one_off = page.locator("#one-off")
        one_off.get_by_label("Add-on").select_option("setup")
        one_off.get_by_label("Units").fill("2.5")
        one_off.get_by_role("button", name="Issue invoice").click()
        question = one_off.get_by_role("group", name="Confirm")
        expect(question).to_contain_text("Issue an invoice of €125.00 before taxes to Bob Builder now?")
        question.scroll_into_view_if_needed()
        look_at(page, "one-off-confirm")
        question.get_by_role("link", name="Cancel").click()
        expect(one_off.get_by_label("Units")).to_have_value("2.5")
        one_off.get_by_role("button", name="Issue invoice").click()
        question.get_by_role("button", name="Issue €125.00 + taxes").click()
        expect(one_off.get_by_role("status")).to_contain_text("issued: €125.00")
    assert problems == []
