"""The portal in French and German in a real browser (issue 19), at a phone's and a desktop's width: its overview and
documents pages neither overflow nor scroll sideways with the languages' longer words ("Abrechnungszeitraum",
"Nutzungsgebühren"), and read in the customer's language. With TALLY_SCREENSHOTS=<folder>, full-page PNGs are saved."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from billing.customers.services import upsert_customer
from billing.invoicing.credit_notes import create_credit_note
from billing.invoicing.queries import get_invoice
from billing.wallets.services import create_wallet
from tests.e2e.screens import look_at
from tests.web.conftest import billed_customer, create_catalog  # noqa: F401 (the fixture)

pytestmark = pytest.mark.browser

WORDS = {"fr": ("Votre compte", "Vue d'ensemble", "Utilisation en cours", "Factures et avoirs", "1 nov."),
         "de": ("Ihr Konto", "Übersicht", "Aktuelle Nutzung", "Rechnungen und Gutschriften", "1 Nov.")}


@pytest.fixture
def portal_url(live_server, org, clock, billed_customer):  # noqa: F811
    clock.set("2026-11-11T00:00:00Z")
    create_catalog(org.id)
    lumen = billed_customer(org.id, "lumen", name="Lumen Robotics Gesellschaft mit beschränkter Haftung", events=4)
    upsert_customer(organization_id=org.id, data={"external_id": "lumen", "email": "compta@lumen.test",
                                                  "country": "FR", "city": "Lyon", "zipcode": "69002"})
    create_wallet(organization_id=org.id, data={"external_customer_id": "lumen", "name": "Guthaben",
                                                "rate_amount": "1", "currency": "EUR", "granted_credits": "25"})
    fee = get_invoice(organization_id=org.id, invoice_id=lumen.invoice_id).fees[0]
    create_credit_note(organization_id=org.id, data={
        "invoice_id": lumen.invoice_id, "reason": "other", "credit_amount_cents": 100, "refund_amount_cents": 0,
        "items": [{"fee_id": fee.id, "amount_cents": 100}]})
    return lumen, live_server + lumen.portal_path()


@pytest.mark.parametrize("language", ["fr", "de"])
def test_the_overview_and_documents_read_in_the_language_without_overflowing(page: Page, org, portal_url, language):
    lumen, url = portal_url
    upsert_customer(organization_id=org.id, data={"external_id": "lumen",
                                                  "billing_configuration": {"document_locale": language}})
    account, overview, usage, documents, first_day = WORDS[language]
    page.goto(url)
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.get_by_role("navigation", name=account).get_by_role("link", name=overview)).to_be_visible()
    expect(page.get_by_role("heading", name=usage)).to_be_visible()
    expect(page.locator(".chart-axis span").first).to_have_text(first_day)  # the chart's days in the language
    look_at(page, f"portal-overview-{language}")
    page.goto(url + "/documents")
    expect(page.get_by_role("heading", name=documents)).to_be_visible()
    look_at(page, f"portal-documents-{language}")
