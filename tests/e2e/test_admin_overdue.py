"""In a real browser: an account manager sees a customer's overdue balance and the "Overdue" badges, filters the
invoice list to the overdue ones (the filter kept in the URL), and requests payment now.

SCREENSHOTS=<folder> keeps the customer page at 1280 and 390 px wide there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lago_python_client.models import AddOn, Customer, OneOffInvoice
from lago_python_client.models.invoice import InvoiceFee, InvoiceFeesList
from playwright.sync_api import Page, expect

from billing.invoicing.overdue import mark_overdue_invoices
from billing.organizations.services import create_admin
from tests.e2e.screens import open_admin
from tests.smtp_sink import smtp  # noqa: F401 (the real SMTP server, as a fixture)

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"  # noqa: S105 (a test account's password)


def _shoot(page: Page, name: str) -> None:
    folder = os.environ.get("SCREENSHOTS")
    if not folder:
        return
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.locator("#overdue-title").scroll_into_view_if_needed()
        page.screenshot(path=str(Path(folder) / f"{name}-{width}.png"), full_page=True)
        for section in ("overdue", "invoices"):
            page.locator(f'section[aria-labelledby="{section}-title"]').screenshot(
                path=str(Path(folder) / f"{name}-{width}-{section}.png"))
    page.set_viewport_size({"width": 1280, "height": 900})


def test_see_the_overdue_balance_filter_the_invoices_and_request_payment(page: Page, live_server, org, lago, clock,
                                                                       run_jobs, smtp):  # noqa: F811
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    create_admin(email="manager@acme.test", password=PASSWORD, organization_id=org.id)
    clock.set("2026-11-01T09:00:00Z")
    lago.add_ons.create(AddOn(name="Setup", code="setup", amount_cents=12_000, amount_currency="EUR"))
    lago.customers.create(Customer(external_id="alice", name="Alice Corp", currency="EUR", email="ap@alice.test",
                                   net_payment_term=7))
    overdue = []
    for cents in (12_000, 4_550):
        fees = InvoiceFeesList(__root__=[InvoiceFee(add_on_code="setup", units=1, unit_amount_cents=cents)])
        overdue.append(lago.invoices.create(OneOffInvoice(external_customer_id="alice", currency="EUR", fees=fees)))
    clock.set("2026-11-20T09:00:00Z")
    assert mark_overdue_invoices(at=clock.now()) == 2
    fees = InvoiceFeesList(__root__=[InvoiceFee(add_on_code="setup", units=1, unit_amount_cents=990)])
    fresh = lago.invoices.create(OneOffInvoice(external_customer_id="alice", currency="EUR", fees=fees))
    run_jobs()

    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email").fill("manager@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    open_admin(page, "Customers")
    page.get_by_role("link", name="Alice Corp").click()

    expect(page.locator('[data-overdue-currency="EUR"]')).to_contain_text("€165.50")
    expect(page.locator('[data-overdue-currency="EUR"]')).to_contain_text("2 invoices · due since 8 Nov 2026")
    for invoice in overdue:
        expect(page.locator(f'[data-invoice="{invoice.lago_id}"] .badge-overdue')).to_have_text("Overdue")
    expect(page.locator(f'[data-invoice="{fresh.lago_id}"] .badge-overdue')).to_have_count(0)
    _shoot(page, "customer-overdue")

    page.locator(".invoice-filter").get_by_role("link", name="Overdue only").click()
    expect(page.locator(f'[data-invoice="{fresh.lago_id}"]')).to_have_count(0)
    expect(page.locator("[data-invoice]")).to_have_count(2)
    assert page.url.endswith("?overdue=1")
    page.reload()  # the state is in the URL
    expect(page.locator("[data-invoice]")).to_have_count(2)

    page.get_by_role("button", name="Request payment now").click()
    expect(page.locator("#overdue [data-confirm]")).to_contain_text("Ask the customer to pay €165.50 overdue now?")
    page.get_by_role("button", name="Request €165.50").click()
    expect(page.locator("#overdue [role=status]")).to_contain_text(
        "Requested €165.50: ap@alice.test is emailed a link that pays the overdue invoices.")
    expect(page.locator("[data-invoice]")).to_have_count(2)  # the list reloaded, still filtered
    _shoot(page, "customer-requested")
    run_jobs()
    assert [" ".join(m["Subject"].split()) for m in smtp.parsed() if not m["Subject"].startswith("Invoice ")] == [
        "Reminder: €165.50 overdue to Acme Cloud"]
    assert problems == []
