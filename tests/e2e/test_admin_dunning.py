"""In a real browser: an account manager creates a dunning campaign, the reminder's preview following what is typed,
a refusal shown next to its field, then the campaign in the list. Screenshots at 1280 and 390 px when asked
(TALLY_SCREENSHOTS=<folder>)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from billing.customers.services import upsert_customer
from billing.dunning import campaigns
from billing.organizations.services import create_admin
from tests.e2e.screens import look_at, open_admin

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"  # noqa: S105 (a test account's password)
SHOTS = os.environ.get("TALLY_SCREENSHOTS")  # the customer section's own screenshot, when asked


def test_create_a_campaign_with_a_live_preview(page: Page, live_server, org):
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    create_admin(email="manager@acme.test", password=PASSWORD, organization_id=org.id)
    alice = upsert_customer(organization_id=org.id, data={"external_id": "alice", "name": "Alice Corp"})

    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email").fill("manager@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    open_admin(page, "Billing", "Dunning")
    page.get_by_role("link", name="New campaign").click()

    preview = page.locator("#reminder-preview")
    expect(preview).to_contain_text("Payment reminder from Acme Cloud: €1,234.50 overdue")
    page.get_by_label("Name").fill("Standard reminders")
    page.get_by_label("Code").fill("standard")
    page.get_by_label("Amount, row 1").fill("100")
    page.get_by_label("Currency, row 2").fill("USD")
    page.get_by_label("Amount, row 2").fill("50")
    page.evaluate("window.__marker = 'same page'")
    page.get_by_label("Reminder subject").fill("{customer_name}, {amount} is overdue")
    expect(preview.locator(".reminder-subject")).to_have_text("Jane Doe (Example Ltd), €1,234.50 is overdue")
    page.get_by_label("Reminder message").fill("Hello {customer_name}, your IBAN {iban}. Pay here: {pay_link}")
    expect(preview).to_contain_text("Unknown placeholder: {iban}")
    look_at(page, "dunning-editor-preview")

    page.get_by_role("button", name="Create campaign").click()
    expect(page.locator('[data-field="reminder_message"] .field-error')).to_contain_text("Unknown placeholder: {iban}")
    expect(page.get_by_label("Name")).to_have_value("Standard reminders")  # what was typed stays
    assert page.evaluate("window.__marker") == "same page"  # swapped by htmx, not reloaded
    look_at(page, "dunning-editor-refused")

    page.get_by_label("Reminder message").fill("Hello {customer_name}, please pay {amount}: {pay_link}")
    expect(preview).not_to_contain_text("Unknown placeholder")
    expect(preview).to_contain_text("please pay €1,234.50: https://billing.example.com/pay/")
    page.get_by_label("Default campaign of the organization").check()
    page.get_by_role("button", name="Create campaign").click()

    expect(page.locator(".flash")).to_have_text("Campaign “Standard reminders” created.")
    row = page.locator('tr[data-campaign="standard"]')
    expect(row).to_contain_text("default")
    expect(row).to_contain_text("€100.00 · $50.00")
    expect(row).to_contain_text("3 × every 3 days")
    [created] = campaigns.list_campaigns(organization_id=org.id)
    assert created.customers_count == 1 and created.campaign.applied_to_organization
    campaigns.create_campaign(organization_id=org.id, data={
        "code": "strict", "name": "Strict", "max_attempts": 5, "days_between_attempts": 1,
        "thresholds": [{"currency": "EUR", "amount_cents": 0}]})
    page.reload()
    look_at(page, "dunning-list")

    page.goto(f"{live_server}/admin/customers/{alice.id}")
    section = page.locator("#dunning")
    expect(section.locator('[data-mode="default"]')).to_contain_text("Standard reminders")
    section.get_by_text("Change how this customer is reminded").click()
    section.get_by_label("Campaign").select_option("strict")
    section.get_by_role("button", name="Save").click()
    expect(section.locator('[data-mode="own"]')).to_contain_text("Strict")
    section.locator(".dunning-state").scroll_into_view_if_needed()
    if SHOTS:
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.locator("#dunning").screenshot(path=str(Path(SHOTS) / f"dunning-customer-{width}.png"))
    assert problems == []
