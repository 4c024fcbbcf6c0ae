"""In a real browser: an account manager creates an add-on, then bills it on a one-off invoice of two lines."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from billing.customers.services import upsert_customer
from billing.organizations.services import create_admin
from tests.e2e.screens import open_admin

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"  # noqa: S105 (a test account's password)


def test_create_an_add_on_and_issue_a_one_off_invoice(page: Page, live_server, org, clock):
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    create_admin(email="manager@acme.test", password=PASSWORD, organization_id=org.id)
    customer = upsert_customer(organization_id=org.id, data={"external_id": "alice", "name": "Alice Corp",
                                                             "currency": "EUR"})
    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email").fill("manager@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    open_admin(page, "Catalog", "Add-ons")
    page.get_by_role("link", name="New add-on").click()
    page.get_by_label("Name", exact=True).fill("Setup fee")
    page.get_by_label("Price").fill("0")
    page.get_by_role("button", name="Create add-on").click()
    # Refused in place (htmx): each reason next to its field, what was typed kept.
    expect(page.locator('[data-field="code"] .field-error')).to_have_text("Required")
    expect(page.locator('[data-field="amount"] .field-error')).to_have_text("Above 0")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Setup fee")
    page.get_by_label("Code").fill("setup")
    page.get_by_label("Price").fill("150")
    page.get_by_role("button", name="Create add-on").click()
    expect(page.locator('[data-add-on="setup"]')).to_contain_text("€150.00")

    page.goto(f"{live_server}/admin/customers/{customer.id}")
    form = page.locator(".one-off-form")
    form.get_by_role("button", name="Add a line").click()
    lines = form.locator(".one-off-line")
    expect(lines).to_have_count(2)
    lines.nth(0).get_by_label("Add-on").select_option("setup")
    lines.nth(0).get_by_label("Units").fill("2")
    lines.nth(1).get_by_label("Add-on").select_option("setup")
    lines.nth(1).get_by_label("Unit price").fill("19.99")
    lines.nth(1).get_by_label("Description").fill("Extra seat")
    form.get_by_role("button", name="Issue invoice").click()
    # It asks first, naming the total before taxes (2 × €150.00 + €19.99), and issues on the answer.
    question = page.locator("#one-off [data-confirm]")
    expect(question).to_contain_text("€319.99 before taxes")
    question.get_by_role("button", name="Issue €319.99 + taxes").click()
    expect(page.locator("#one-off [role=status]")).to_contain_text("issued: €319.99")
    # The invoice list reloads itself (HX-Trigger) and shows the one-off invoice.
    expect(page.locator("#invoices")).to_contain_text("one-off")
    expect(page.locator("#invoices")).to_contain_text("€319.99")
    assert problems == []
