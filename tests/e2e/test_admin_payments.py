"""In a real browser: an account manager connects Stripe in the admin (its secret never shown back), then records
a partial payment received by transfer on an invoice, through the confirmation step."""

from __future__ import annotations

import pytest
from lago_python_client.models import AddOn, Customer, OneOffInvoice
from lago_python_client.models.invoice import InvoiceFee, InvoiceFeesList
from playwright.sync_api import Page, expect

from billing.invoicing.queries import get_invoice
from billing.organizations.services import create_admin
from tests.e2e.screens import open_admin

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"  # noqa: S105 (a test account's password)
SECRET = "sk_test_e2e_b4d9f1c8a7e6"  # noqa: S105 (a test key)


def test_connect_stripe_then_record_a_partial_payment(page: Page, live_server, org, lago, run_jobs):
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    create_admin(email="manager@acme.test", password=PASSWORD, organization_id=org.id)
    lago.add_ons.create(AddOn(name="Setup", code="setup", amount_cents=12_000, amount_currency="EUR"))
    lago.customers.create(Customer(external_id="alice", name="Alice Corp", currency="EUR"))
    fees = InvoiceFeesList(__root__=[InvoiceFee(add_on_code="setup", units=1)])
    invoice = lago.invoices.create(OneOffInvoice(external_customer_id="alice", currency="EUR", fees=fees))
    run_jobs()

    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email").fill("manager@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    open_admin(page, "Settings", "Payment providers")
    page.get_by_role("link", name="Connect Stripe").first.click()
    page.get_by_label("Code").fill("stripe_eu")
    page.get_by_role("button", name="Connect").click()
    # Refused in place: the secret key is required.
    expect(page.locator('[data-field="secret_key"] .field-error')).to_contain_text("Required")
    page.get_by_label("Secret key").fill(SECRET)
    page.get_by_text("Advanced").click()
    page.get_by_label("API base").fill("http://127.0.0.1:8420")
    page.get_by_role("button", name="Connect").click()
    provider = page.locator('[data-provider="stripe_eu"]')
    expect(provider).to_contain_text("…" + SECRET[-4:])
    expect(provider.locator(".webhook-url")).to_have_value(f"{live_server}/webhooks/stripe/{org.id}?code=stripe_eu")
    assert SECRET not in page.content()

    open_admin(page, "Customers")
    page.get_by_role("link", name="Alice Corp").click()
    page.locator(f'[data-invoice="{invoice.lago_id}"]').get_by_role("link", name="Record a payment").click()
    form = page.locator(".record-payment-form")
    expect(form.get_by_label("Amount")).to_have_value("120.00")  # what is due
    form.get_by_label("Amount").fill("50")
    form.get_by_label("Reference").fill("Wire 2026-118")
    form.get_by_role("button", name="Continue").click()
    confirm = page.locator(".record-payment-confirm")
    expect(confirm).to_contain_text("€70.00 will still be due")
    confirm.get_by_role("button", name="Record €50.00").click()
    expect(page.get_by_role("status")).to_contain_text("Payment of €50.00 recorded.")
    expect(page.locator(".payments-table")).to_contain_text("Wire 2026-118")
    expect(page.locator(".amount-due")).to_have_text("€70.00")
    row = get_invoice(organization_id=org.id, invoice_id=invoice.lago_id)
    assert (row.payment_status, row.total_paid_amount_cents, row.total_due_amount_cents) == ("pending", 5_000, 7_000)
    assert problems == []
