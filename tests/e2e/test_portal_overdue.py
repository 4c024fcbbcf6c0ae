"""In a real browser against localstripe: a customer with two overdue invoices sees the banner with their total,
clicks "Pay all", pays the payment request with a new card (4242) and finds both invoices paid."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lago_python_client.models import AddOn, Customer, OneOffInvoice
from lago_python_client.models.invoice import InvoiceFee, InvoiceFeesList
from playwright.sync_api import Page, expect
from sqlalchemy import select

from billing import links
from billing.customers.models import Customer as CustomerRow
from billing.db import read_only
from billing.invoicing.models import Invoice
from billing.invoicing.overdue import mark_overdue_invoices
from billing.payments import providers
from billing.payments.models import Payment, PaymentRequest

pytestmark = pytest.mark.browser

CARD_OK = "4242424242424242"
# Screenshots for a person to look at (TALLY_SCREENSHOTS=<dir>); none are taken otherwise.
SHOTS = os.environ.get("TALLY_SCREENSHOTS")


@pytest.fixture
def overdue_portal(org, lago, localstripe, run_jobs, clock):
    """A Stripe-connected customer (localstripe) with two invoices past their due date, no card saved."""
    clock.set("2026-11-01T09:00:00Z")
    providers.connect_provider(organization_id=org.id, kind="stripe", code="stripe_test",
                               settings={"secret_key": "sk_test_x", "publishable_key": "pk_test_x",
                                         "api_base": localstripe})
    lago.customers.create(Customer(external_id="acme", name="Acme", email="billing@acme.test", currency="EUR",
                                   net_payment_term=7,
                                   billing_configuration={"payment_provider": "stripe",
                                                          "payment_provider_code": "stripe_test",
                                                          "sync_with_provider": True}))
    lago.add_ons.create(AddOn(name="Setup", code="setup", amount_cents=100, amount_currency="EUR"))
    invoices = []
    for cents in (12_000, 4_550):
        fees = InvoiceFeesList(__root__=[InvoiceFee(add_on_code="setup", units=1, unit_amount_cents=cents)])
        invoices.append(lago.invoices.create(OneOffInvoice(external_customer_id="acme", currency="EUR", fees=fees)))
    run_jobs()  # no card: nothing charged
    clock.set("2026-11-20T09:00:00Z")
    assert mark_overdue_invoices(at=clock.now()) == 2
    with read_only() as session:
        customer = session.scalar(select(CustomerRow).where(CustomerRow.external_id == "acme"))
    return links.portal_url(customer_id=customer.id, organization_id=org.id), invoices


@pytest.fixture
def problems(page: Page) -> list[str]:
    found: list[str] = []
    page.on("console", lambda message: message.type == "error" and found.append(message.text))
    page.on("pageerror", lambda error: found.append(str(error)))
    return found


def _shoot(page: Page, name: str) -> None:
    if not SHOTS:
        return
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(Path(SHOTS) / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_pay_all_pays_both_overdue_invoices_with_a_new_card(page: Page, overdue_portal, problems):
    portal, invoices = overdue_portal
    page.goto(portal)
    banner = page.locator("[data-overdue]")
    expect(banner).to_contain_text("Some invoices are past their due date")
    expect(banner.locator(".overdue-amount")).to_have_text("€165.50")
    expect(banner).to_contain_text("overdue on 2 invoices")
    for invoice in invoices:
        expect(page.locator(f'tr[data-invoice="{invoice.lago_id}"] .badge-overdue')).to_have_text("overdue")
    _shoot(page, "portal-overdue-banner")

    banner.get_by_role("button", name="Pay all").click()
    expect(page.get_by_role("heading", name="Overdue invoices")).to_be_visible()
    expect(page.locator(".pay-amount")).to_have_text("€165.50")
    rows = page.locator(".pay-invoices tbody tr")
    expect(rows).to_have_count(2)
    for invoice in invoices:
        expect(page.locator(f'.pay-invoices tr[data-invoice="{invoice.lago_id}"]')).to_contain_text(invoice.number)
    _shoot(page, "pay-request")

    field = page.locator("[data-card-form] [data-card-element]")
    field.get_by_placeholder("number").fill(CARD_OK)
    field.get_by_placeholder("exp_month").fill("12")
    field.get_by_placeholder("exp_year").fill("34")
    field.get_by_placeholder("cvc").fill("123")
    page.get_by_role("button", name="Pay €165.50").click()
    expect(page.get_by_text("These invoices are paid. Thank you!")).to_be_visible()
    _shoot(page, "pay-request-paid")

    page.get_by_role("link", name="Billing portal").click()
    expect(page.locator("[data-overdue]")).to_have_count(0)
    for invoice in invoices:
        row = page.locator(f'tr[data-invoice="{invoice.lago_id}"]')
        expect(row.locator(".badge:not(.badge-plain)")).to_have_text("paid")
        expect(row.get_by_role("link", name="Pay")).to_have_count(0)
    with read_only() as session:
        assert [r.payment_status for r in session.scalars(select(PaymentRequest))] == ["succeeded"]
        assert [(p.amount_cents, p.status) for p in session.scalars(select(Payment))] == [(16_550, "succeeded")]
        for invoice in invoices:
            row = session.get(Invoice, invoice.lago_id)
            assert (row.payment_status, row.payment_overdue, row.total_due_amount_cents) == ("succeeded", False, 0)
    assert problems == []


def test_without_a_provider_the_banner_says_kindly_that_the_company_will_be_in_touch(page: Page, org, lago,
                                                                                    run_jobs, clock, problems):
    clock.set("2026-11-01T09:00:00Z")
    lago.customers.create(Customer(external_id="bob", name="Bob", currency="EUR", net_payment_term=7))
    lago.add_ons.create(AddOn(name="Setup", code="setup", amount_cents=100, amount_currency="EUR"))
    fees = InvoiceFeesList(__root__=[InvoiceFee(add_on_code="setup", units=1, unit_amount_cents=5_000)])
    lago.invoices.create(OneOffInvoice(external_customer_id="bob", currency="EUR", fees=fees))
    run_jobs()
    clock.set("2026-11-20T09:00:00Z")
    mark_overdue_invoices(at=clock.now())
    with read_only() as session:
        customer = session.scalar(select(CustomerRow).where(CustomerRow.external_id == "bob"))
    page.goto(links.portal_url(customer_id=customer.id, organization_id=org.id))
    banner = page.locator("[data-overdue]")
    expect(banner.locator(".overdue-amount")).to_have_text("€50.00")
    expect(banner).to_contain_text("Acme Cloud will get in touch about how to pay")
    expect(banner.get_by_role("button")).to_have_count(0)
    _shoot(page, "portal-overdue-no-provider")
    assert problems == []
