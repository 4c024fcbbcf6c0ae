"""The portal's payment-methods page offers what the customer's provider sets up (a card with Stripe, a SEPA or Bacs
Direct Debit with GoCardless, "card" then in none of its headings and buttons) and lists the methods kept from a
provider the customer has left: labelled with it, removable, never the default nor used to pay."""

from __future__ import annotations

import itertools
import re

import httpx
import pytest
from lago_python_client.models import Customer
from sqlalchemy import select

from billing import links
from billing.customers.models import Customer as CustomerRow
from billing.customers.services import upsert_customer
from billing.db import read_only
from billing.payments import providers
from billing.payments.models import SavedPaymentMethod
from tests.fakes import gocardless as fake_gocardless
from tests.web.conftest import csrf_token_in

SECRET_KEY = "sk_test_portal_choice"  # noqa: S105 (localstripe accepts any sk_test_ key)
JSON = {"Accept": "application/json"}
_tokens = itertools.count(1)
_CONTROLS = re.compile(r"<(h1|h2|h3|button|summary|a)\b[^>]*>(.*?)</\1>", re.S)


@pytest.fixture
def both(org, localstripe, gocardless_server):
    token = f"sandbox_portal_choice_{next(_tokens)}_{org.id[:6]}"
    providers.connect_provider(organization_id=org.id, kind="stripe", code="stripe_main",
                               settings={"secret_key": SECRET_KEY, "publishable_key": "pk_test_portal",
                                         "api_base": localstripe})
    providers.connect_provider(organization_id=org.id, kind="gocardless", code="gocardless_main",
                               settings={"access_token": token, "webhook_secret": "whsec_portal_choice",
                                         "api_base": gocardless_server})
    fake_gocardless.register_account(gocardless_server, token, "whsec_portal_choice", None)
    return localstripe


def _customer(org, lago, run_jobs, external_id: str, currency: str, code: str) -> CustomerRow:
    kind = "stripe" if code == "stripe_main" else "gocardless"
    lago.customers.create(Customer(external_id=external_id, name=external_id.title(), currency=currency,
                                   billing_configuration={"payment_provider": kind, "payment_provider_code": code,
                                                          "sync_with_provider": True}))
    run_jobs()
    with read_only() as session:
        return session.scalar(select(CustomerRow).where(CustomerRow.organization_id == org.id,
                                                        CustomerRow.external_id == external_id))


def _portal(customer: CustomerRow) -> str:
    return "/portal/" + links.portal_url(customer_id=customer.id, organization_id=customer.organization_id) \
        .rsplit("/portal/", 1)[1]


def _controls(page: str) -> list[str]:
    """The text of the page's headings, buttons and links."""
    return [" ".join(re.sub(r"<[^>]+>", " ", inner).split()) for _tag, inner in _CONTROLS.findall(page)]


def _save_card(client, portal: str, localstripe: str) -> None:
    page = client.get(f"{portal}/payment-methods").get_data(as_text=True)
    method = httpx.post(f"{localstripe}/v1/payment_methods", headers={"Authorization": f"Bearer {SECRET_KEY}"},
                        data={"type": "card", "card[number]": "4242424242424242", "card[exp_month]": "12",
                              "card[exp_year]": "2034", "card[cvc]": "123"}).json()["id"]
    saved = client.post(f"{portal}/payment-methods", headers=JSON,
                        data={"csrf_token": csrf_token_in(page), "payment_method": method})
    assert saved.status_code == 200, saved.get_data(as_text=True)


def test_gocardless_offers_a_direct_debit_in_the_scheme_of_the_currency_and_never_says_card(
        client, org, lago, run_jobs, both):
    euro = _customer(org, lago, run_jobs, "euro", "EUR", "gocardless_main")
    page = client.get(f"{_portal(euro)}/payment-methods").get_data(as_text=True)
    controls = _controls(page)
    assert "Your SEPA Direct Debit mandates" in controls and "Set up a SEPA Direct Debit" in controls
    assert "Set up a Direct Debit on our payment provider's page" in controls
    assert not [c for c in controls if "card" in c.lower()], controls
    assert "No SEPA Direct Debit mandate yet" in page

    pound = _customer(org, lago, run_jobs, "pound", "GBP", "gocardless_main")
    controls = _controls(client.get(f"{_portal(pound)}/payment-methods").get_data(as_text=True))
    assert "Your Bacs Direct Debit mandates" in controls and "Set up a Bacs Direct Debit" in controls
    assert not [c for c in controls if "card" in c.lower()], controls

    card = _customer(org, lago, run_jobs, "cardholder", "EUR", "stripe_main")
    controls = _controls(client.get(f"{_portal(card)}/payment-methods").get_data(as_text=True))
    assert "Saved cards" in controls and "Add a card" in controls and "Save card" in controls


def test_a_previous_providers_card_is_listed_removable_only(client, org, lago, run_jobs, both):
    acme = _customer(org, lago, run_jobs, "acme", "EUR", "stripe_main")
    stripe_customer = acme.payment_provider_customer_id
    portal = _portal(acme)
    _save_card(client, portal, both)
    upsert_customer(organization_id=org.id, data={"external_id": "acme", "billing_configuration": {
        "payment_provider": "gocardless", "payment_provider_code": "gocardless_main", "sync_with_provider": True}})
    run_jobs()
    with read_only() as session:
        [card] = session.scalars(select(SavedPaymentMethod).where(SavedPaymentMethod.customer_id == acme.id)).all()

    page = client.get(f"{portal}/payment-methods").get_data(as_text=True)
    controls = _controls(page)
    assert "Saved with Stripe, no longer used" in controls
    previous = page[page.index('class="panel previous-methods"'):]
    assert f'data-method="{card.id}"' in previous and "Visa" in previous and "•••• 4242" in previous
    assert "Make default" not in previous and "default</span>" not in previous
    assert "No SEPA Direct Debit mandate yet" in page  # the card is not one of GoCardless's methods
    home = client.get(portal).get_data(as_text=True)
    assert "Invoices are charged to" not in home  # no default at the current provider

    token = csrf_token_in(page)
    refused = client.post(f"{portal}/payment-methods/{card.id}/default", data={"csrf_token": token})
    assert refused.status_code == 422
    assert "saved with a payment service we no longer use" in refused.get_data(as_text=True)

    removed = client.post(f"{portal}/payment-methods/{card.id}/remove", data={"csrf_token": token})
    assert removed.status_code == 303 and removed.headers["Location"].endswith("notice=removed")
    with read_only() as session:
        assert session.scalars(select(SavedPaymentMethod).where(SavedPaymentMethod.customer_id == acme.id)).all() == []
    # Detached at Stripe, from the customer Tally kept there.
    at_stripe = httpx.get(f"{both}/v1/payment_methods", params={"customer": stripe_customer, "type": "card"},
                          headers={"Authorization": f"Bearer {SECRET_KEY}"}).json()
    assert at_stripe["data"] == []
