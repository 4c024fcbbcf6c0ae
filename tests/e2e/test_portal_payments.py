"""In a real browser against localstripe: a customer saves cards with Stripe.js (localstripe's own copy), sees a
card declined at set-up by the field, finds an invoice whose charge was declined and pays it with another card,
and pays a wallet top-up by card until its credits settle."""

from __future__ import annotations

import pytest
from lago_python_client.models import AddOn, Customer, OneOffInvoice, Wallet
from lago_python_client.models.invoice import InvoiceFee, InvoiceFeesList
from playwright.sync_api import Page, expect
from sqlalchemy import select

from billing import links
from billing.customers.models import Customer as CustomerRow
from billing.db import read_only
from billing.invoicing.models import Invoice
from billing.payments import providers
from billing.wallets.models import WalletTransaction

pytestmark = pytest.mark.browser

CARD_OK = "4242424242424242"
CARD_DECLINED_AT_SETUP = "4000000000000002"
CARD_DECLINED_AT_CHARGE = "4000000000000341"


@pytest.fixture
def portal(org, lago, localstripe, run_jobs) -> str:
    """A customer of a Stripe-connected organization (localstripe), synced: their portal link."""
    providers.connect_provider(organization_id=org.id, kind="stripe", code="stripe_test",
                               settings={"secret_key": "sk_test_x", "publishable_key": "pk_test_x",
                                         "api_base": localstripe})
    lago.customers.create(Customer(external_id="acme", name="Acme", email="billing@acme.test", currency="EUR",
                                   billing_configuration={"payment_provider": "stripe",
                                                          "payment_provider_code": "stripe_test",
                                                          "sync_with_provider": True}))
    run_jobs()
    with read_only() as session:
        customer = session.scalar(select(CustomerRow).where(CustomerRow.external_id == "acme"))
    assert customer.payment_provider_customer_id.startswith("cus_")
    return links.portal_url(customer_id=customer.id, organization_id=org.id)


@pytest.fixture
def problems(page: Page) -> list[str]:
    """Script errors and CSP refusals in the page; a decline is Stripe's 402 answer, logged by the browser."""
    found: list[str] = []
    page.on("console", lambda message: message.type == "error" and "status of 402" not in message.text
            and found.append(message.text))
    page.on("pageerror", lambda error: found.append(str(error)))
    return found


def _type_card(page: Page, number: str, scope: str = "[data-card-form]") -> None:
    # localstripe's Stripe.js mounts plain inputs named by their placeholders (real Stripe.js: an iframe).
    field = page.locator(f"{scope} [data-card-element]")
    field.get_by_placeholder("number").fill(number)
    field.get_by_placeholder("exp_month").fill("12")
    field.get_by_placeholder("exp_year").fill("34")
    field.get_by_placeholder("cvc").fill("123")


def _add_card(page: Page, portal: str, number: str) -> None:
    page.goto(f"{portal}/payment-methods")
    _type_card(page, number)
    page.get_by_role("button", name="Save card").click()


def test_a_customer_adds_a_card_and_sees_a_declined_one_refused_by_the_field(page: Page, portal, problems):
    page.goto(portal)
    expect(page.get_by_text("No saved card: invoices are not charged automatically")).to_be_visible()
    page.get_by_role("link", name="Add a card").click()
    expect(page.get_by_role("heading", name="Payment methods")).to_be_visible()

    _type_card(page, CARD_DECLINED_AT_SETUP)
    page.get_by_role("button", name="Save card").click()
    error = page.locator("[data-card-error]")
    expect(error).to_have_text("Your card was declined.")
    expect(page.locator("[data-card-field]")).to_have_class("field has-error")
    expect(page.locator(".method")).to_have_count(0)

    _type_card(page, CARD_OK)  # a second try on the same page: a fresh set-up
    page.get_by_role("button", name="Save card").click()
    expect(page.get_by_text("Your card is saved.")).to_be_visible()
    card = page.locator(".method")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("Visa •••• 4242")
    expect(card).to_contain_text("Expires 12/2034")
    expect(card.locator(".method-default")).to_have_text("default")
    assert problems == []


def test_a_declined_charge_shows_failed_with_a_pay_button_and_another_card_pays_it(page: Page, portal, lago,
                                                                                 run_jobs, problems):
    _add_card(page, portal, CARD_DECLINED_AT_CHARGE)
    expect(page.locator(".method")).to_contain_text("•••• 0341")
    lago.add_ons.create(AddOn(name="Setup", code="setup", amount_cents=12_000, amount_currency="EUR"))
    fees = InvoiceFeesList(__root__=[InvoiceFee(add_on_code="setup", units=1, unit_amount_cents=12_000)])
    invoice = lago.invoices.create(OneOffInvoice(external_customer_id="acme", currency="EUR", fees=fees))
    run_jobs()  # the collection job charges the default card: declined
    with read_only() as session:
        assert session.get(Invoice, invoice.lago_id).payment_status == "failed"

    page.goto(portal)
    row = page.locator(f'tr[data-invoice="{invoice.lago_id}"]')
    expect(row.locator(".badge:not(.badge-plain)")).to_have_text("payment failed")
    expect(row.get_by_text("The payment failed.")).to_be_visible()
    row.get_by_role("link", name="Pay").click()

    expect(page.get_by_role("heading", name=f"Invoice {invoice.number}")).to_be_visible()
    expect(page.locator(".pay-amount")).to_have_text("€120.00")
    expect(page.locator(".pay-failure")).to_contain_text("declined")
    expect(page.locator(".method-option")).to_contain_text("•••• 0341")
    _type_card(page, CARD_OK)
    page.get_by_role("button", name="Pay €120.00 with this card").click()
    expect(page.get_by_text("This invoice is paid. Thank you!")).to_be_visible()

    page.get_by_role("link", name="Billing portal").click()
    row = page.locator(f'tr[data-invoice="{invoice.lago_id}"]')
    expect(row.locator(".badge:not(.badge-plain)")).to_have_text("paid")
    expect(row.get_by_role("link", name="Pay")).to_have_count(0)
    with read_only() as session:
        paid = session.get(Invoice, invoice.lago_id)
        assert (paid.payment_status, paid.total_due_amount_cents) == ("succeeded", 0)
    assert problems == []


def test_a_portal_top_up_paid_by_card_settles_its_credits(page: Page, portal, lago, problems):
    lago.wallets.create(Wallet(external_customer_id="acme", rate_amount="1", currency="EUR", name="Prepaid"))
    page.goto(portal)
    page.get_by_label("Buy credits").fill("25")
    page.get_by_role("button", name="Top up").click()
    # No saved card: the top-up's line waits for payment, with a Pay button that opens the pay page.
    wallet = page.locator("[data-wallet]")
    expect(page.get_by_text("Your top-up invoice is issued: pay it to receive the credits.")).to_be_visible()
    wallet.get_by_role("link", name="Pay").click()

    expect(page.get_by_role("heading", name="Pay with a card")).to_be_visible()
    expect(page.locator(".pay-amount")).to_have_text("€25.00")
    _type_card(page, CARD_OK)
    page.get_by_role("button", name="Pay €25.00").click()
    expect(page.get_by_text("This invoice is paid. Thank you!")).to_be_visible()

    page.get_by_role("link", name="Billing portal").click()
    wallet = page.locator("[data-wallet]")
    expect(wallet.locator(".wallet-balance")).to_have_text("€25.00")
    expect(wallet.locator(".wallet-status")).to_have_text("settled")
    with read_only() as session:
        assert [t.status for t in session.scalars(select(WalletTransaction))] == ["settled"]
    assert problems == []
