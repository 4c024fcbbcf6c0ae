"""In a real browser: an account manager opens Settings › Invoice PDFs, types a mistyped IBAN and sees why by the
field (htmx, nothing saved), corrects it and saves; the page fits 390 px without scrolling sideways."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from billing.organizations.bank_details import read_bank_details
from billing.organizations.services import create_admin
from tests.e2e.screens import look_at, open_admin

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"  # noqa: S105 (a test account's password)


def test_enter_bank_details_with_a_refusal_by_the_field(page: Page, live_server, org):
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    create_admin(email="manager@acme.test", password=PASSWORD, organization_id=org.id)
    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email").fill("manager@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    open_admin(page, "Settings", "Invoice PDFs")
    expect(page.get_by_role("heading", name="Invoice PDFs")).to_be_visible()

    page.get_by_label("Account holder").fill("Acme Cloud SAS")
    page.get_by_label("IBAN").fill("FR14 2004 1010 0505 0001 3M02 607")
    page.get_by_label("BIC (SWIFT code)").fill("PSST-FR")
    page.evaluate("window.__marker = 'same page'")
    page.get_by_role("button", name="Save bank details").click()
    expect(page.locator("#iban-error")).to_contain_text("check digits do not match")
    expect(page.locator("#bic-error")).to_contain_text("Not a BIC")
    expect(page.get_by_label("IBAN")).to_have_attribute("aria-invalid", "true")
    assert page.evaluate("window.__marker") == "same page"  # swapped by htmx, not reloaded
    assert not read_bank_details(organization_id=org.id).any
    look_at(page, "invoice-settings-refused")

    page.get_by_label("IBAN").fill("FR14 2004 1010 0505 0001 3M02 606")
    page.get_by_label("BIC (SWIFT code)").fill("PSSTFRPPPAR")
    page.get_by_label("Bank", exact=True).fill("La Banque Postale")
    page.get_by_label("Payment instructions").fill("Quote the invoice number as the reference.")
    page.get_by_role("button", name="Save bank details").click()
    expect(page.get_by_role("status")).to_contain_text("Bank details saved")
    assert read_bank_details(organization_id=org.id).iban == "FR1420041010050500013M02606"
    look_at(page, "invoice-settings-saved")
    assert problems == []
