"""The portal on a phone (390 px) and on a desktop (1,280 px): every section without sideways scrolling, tap targets
of at least 44 px, a visible focus ring when walking the page with the keyboard. Screenshots of every page are saved
under TALLY_SHOTS (when set) to be looked at. axe-core and the same checks on every customer page, widgets included:
test_portal_accessibility.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from billing.customers.services import upsert_customer
from billing.invoicing.credit_notes import create_credit_note
from billing.invoicing.queries import get_invoice
from billing.wallets.services import create_wallet, create_wallet_transaction
from tests.e2e.screens import assert_phone_ready
from tests.web.conftest import billed_customer, create_catalog  # noqa: F401 (the fixture)

pytestmark = pytest.mark.browser

SECTIONS = ("", "/history", "/documents", "/wallet", "/payment-methods", "/details")


@pytest.fixture
def portal_url(live_server, org, clock, billed_customer):  # noqa: F811
    clock.set("2026-11-11T00:00:00Z")
    create_catalog(org.id)
    alice = billed_customer(org.id, "alice", name="Alice Corporation International", events=4)
    upsert_customer(organization_id=org.id, data={"external_id": "alice", "email": "billing@alice.test",
                                                  "country": "FR", "address_line1": "1 rue de la Paix",
                                                  "city": "Paris", "zipcode": "75002"})
    wallet = create_wallet(organization_id=org.id, data={
        "external_customer_id": "alice", "name": "Prepaid credits", "rate_amount": "1", "currency": "EUR",
        "granted_credits": "25", "recurring_transaction_rules": [
            {"trigger": "threshold", "threshold_credits": "5", "method": "target", "target_ongoing_balance": "50",
             "granted_credits": "0", "paid_credits": "0"}]})
    for granted in ("10", "2.5"):
        create_wallet_transaction(organization_id=org.id, data={"wallet_id": wallet.id, "granted_credits": granted})
    fee = get_invoice(organization_id=org.id, invoice_id=alice.invoice_id).fees[0]
    create_credit_note(organization_id=org.id, data={
        "invoice_id": alice.invoice_id, "reason": "other", "description": "Goodwill for the outage of 3 Oct",
        "credit_amount_cents": 100, "refund_amount_cents": 0, "items": [{"fee_id": fee.id, "amount_cents": 100}]})
    return live_server + alice.portal_path()


def _no_sideways_scroll(page: Page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{page.url}: {overflow}px of sideways scrolling"


def _shoot(page: Page, name: str) -> None:
    folder = os.environ.get("TALLY_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("width", [390, 1280])
def test_every_portal_section_fits_the_screen_with_large_tap_targets(page: Page, portal_url, width):
    page.set_viewport_size({"width": width, "height": 844 if width == 390 else 900})
    for section in SECTIONS:
        page.goto(portal_url + section)
        expect(page.locator(".portal-nav [aria-current=page]")).to_be_visible()
        _shoot(page, f"portal{section.replace('/', '-') or '-overview'}-{width}")
        assert_phone_ready(page)


def test_a_phone_walk_through_the_account(page: Page, portal_url, live_server, clock):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(portal_url)
    page.get_by_role("link", name="Usage history").click()
    expect(page.locator(".projected")).to_have_text("€0.60")  # 4 calls in 10 of 30 days: 12 calls at €0.05
    page.get_by_role("link", name="Documents").click()
    rows = page.locator(".documents-table tbody tr")
    expect(rows).to_have_count(2)  # the invoice and its credit note
    amount = rows.first.locator('[data-label="Amount"]')
    box = amount.bounding_box()
    assert box and box["x"] + box["width"] <= 390, "the amount is cut at the screen's edge"
    page.get_by_role("link", name="Wallet").click()
    expect(page.locator(".wallet-rules li")).to_contain_text("falls to 5 credits")
    last_amount = page.locator('.wallet-transactions [data-label="Amount"]').last
    box = last_amount.bounding_box()
    assert box and box["x"] + box["width"] <= 390
    page.get_by_role("link", name="Billing details").click()
    page.get_by_label("Tax identification number").fill("FR123")
    page.get_by_role("button", name="Save billing details").click()
    expect(page.locator("#f-tax_identification_number-error")).to_contain_text("Not the shape")
    assert_phone_ready(page)  # the refused field, told by the field
    _shoot(page, "portal-details-refused-390")
    page.get_by_label("Tax identification number").fill("FR40303265045")
    page.get_by_role("button", name="Save billing details").click()
    expect(page.get_by_role("status")).to_contain_text("saved")

    clock.set("2026-11-12T00:00:00Z")  # the link is 24 h old: expired
    page.goto(portal_url)
    expect(page.get_by_role("heading", name="This link is not valid")).to_be_visible()
    _no_sideways_scroll(page)
    _shoot(page, "portal-expired-390")
    page.get_by_label("Billing email").fill("billing@alice.test")
    page.get_by_role("button", name="Send me a new link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    _shoot(page, "portal-link-sent-390")
