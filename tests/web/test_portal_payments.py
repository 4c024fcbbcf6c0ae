"""The portal's payment pages over HTTP against localstripe: what each page allows (CSP), who may do what with
which link, and that a refused, paid, voided or expired case never charges."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from lago_python_client.models import AddOn, Customer, OneOffInvoice
from lago_python_client.models.invoice import InvoiceFee, InvoiceFeesList
from sqlalchemy import func, select

from billing import links
from billing.customers.models import Customer as CustomerRow
from billing.db import read_only
from billing.invoicing.actions import void_invoice
from billing.invoicing.models import Invoice
from billing.payments import providers
from billing.payments.models import Payment, SavedPaymentMethod
from tests.web.conftest import csrf_token_in, session_csrf_token

SECRET_KEY = "sk_test_portal"  # noqa: S105 (localstripe accepts any sk_test_ key)
JSON = {"Accept": "application/json"}


@pytest.fixture
def stripe(org, localstripe):
    providers.connect_provider(organization_id=org.id, kind="stripe", code="stripe_test",
                               settings={"secret_key": SECRET_KEY, "publishable_key": "pk_test_portal",
                                         "api_base": localstripe})
    return localstripe


def _customer(org, lago, run_jobs, external_id: str, *, provider: bool = True) -> CustomerRow:
    billing = {"payment_provider": "stripe", "payment_provider_code": "stripe_test",
               "sync_with_provider": True} if provider else None
    lago.customers.create(Customer(external_id=external_id, name=external_id.title(), currency="EUR",
                                   billing_configuration=billing))
    run_jobs()
    with read_only() as session:
        return session.scalar(select(CustomerRow).where(CustomerRow.organization_id == org.id,
                                                        CustomerRow.external_id == external_id))


@pytest.fixture
def acme(org, lago, run_jobs, stripe) -> CustomerRow:
    return _customer(org, lago, run_jobs, "acme")


_PORTALS: dict[str, str] = {}


def _portal(customer: CustomerRow) -> str:
    """The customer's portal link, the same one through a test (a page's forms carry a token bound to the link it
    was opened with), a new one once it has expired."""
    path = _PORTALS.get(customer.id)
    if path is None or links.verify(path.rsplit("/", 1)[1], purpose="portal") is None:
        path = "/portal/" + links.portal_url(customer_id=customer.id, organization_id=customer.organization_id) \
            .rsplit("/portal/", 1)[1]
        _PORTALS[customer.id] = path
    return path


def _pay_path(invoice_id: str, organization_id: str) -> str:
    return "/pay/" + links.pay_url(invoice_id=invoice_id, organization_id=organization_id).rsplit("/pay/", 1)[1]


def _card(localstripe: str, number: str) -> str:
    """A card typed into Stripe.js: a payment method at localstripe, not yet anyone's."""
    answer = httpx.post(f"{localstripe}/v1/payment_methods", headers={"Authorization": f"Bearer {SECRET_KEY}"},
                        data={"type": "card", "card[number]": number, "card[exp_month]": "12",
                              "card[exp_year]": "2034", "card[cvc]": "123"})
    answer.raise_for_status()
    return answer.json()["id"]


def _save_card(client, customer: CustomerRow, localstripe: str, number: str):
    portal = _portal(customer)  # the form's token is bound to the link the page was opened with
    page = client.get(f"{portal}/payment-methods").get_data(as_text=True)
    return client.post(f"{portal}/payment-methods", headers=JSON,
                       data={"csrf_token": csrf_token_in(page), "payment_method": _card(localstripe, number)})


def _invoice(lago, external_id: str = "acme", cents: int = 12_000):
    if not lago.add_ons.find_all()["add_ons"]:
        lago.add_ons.create(AddOn(name="Setup", code="setup", amount_cents=cents, amount_currency="EUR"))
    fees = InvoiceFeesList(__root__=[InvoiceFee(add_on_code="setup", units=1, unit_amount_cents=cents)])
    return lago.invoices.create(OneOffInvoice(external_customer_id=external_id, currency="EUR", fees=fees))


def _payments() -> int:
    with read_only() as session:
        return session.scalar(select(func.count()).select_from(Payment))


def test_only_the_card_pages_allow_stripe_and_only_its_one_origin(client, org, acme, stripe):
    home = client.get(_portal(acme))
    assert "connect-src" not in home.headers["Content-Security-Policy"] and stripe not in home.headers[
        "Content-Security-Policy"]
    page = client.get(f"{_portal(acme)}/payment-methods")
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    assert f"script-src 'self' {stripe};" in csp
    assert f"frame-src 'self' {stripe};" in csp and f"connect-src 'self' {stripe};" in csp
    html = page.get_data(as_text=True)
    assert f'<script src="{stripe}/js.stripe.com/v3/" defer></script>' in html
    assert 'data-stripe-key="pk_test_portal"' in html and "_secret_" in html
    assert SECRET_KEY not in html


def test_without_an_api_base_the_page_loads_stripe_js_from_stripe(client, org, acme, stripe):
    providers.connect_provider(organization_id=org.id, kind="stripe", code="stripe_test",
                               settings={"secret_key": SECRET_KEY, "publishable_key": "pk_test_portal",
                                         "api_base": ""})
    from portal.payments import stripe_js

    url, origins = stripe_js(None)
    assert url == "https://js.stripe.com/v3/"
    assert origins.connect == ("https://api.stripe.com",)
    assert set(origins.frame) == {"https://js.stripe.com", "https://hooks.stripe.com"}


def test_a_customer_without_a_provider_is_told_payments_are_handled_by_the_company(client, org, lago, run_jobs,
                                                                                     stripe):
    bob = _customer(org, lago, run_jobs, "bob", provider=False)
    invoice = _invoice(lago, "bob")
    home = client.get(_portal(bob)).get_data(as_text=True)
    assert "Payments are handled by Acme Cloud directly" in home
    assert "invoice-pay" not in home
    methods = client.get(f"{_portal(bob)}/payment-methods")
    assert "Payments are handled by Acme Cloud directly" in methods.get_data(as_text=True)
    assert "data-card-form" not in methods.get_data(as_text=True)
    assert "connect-src" not in methods.headers["Content-Security-Policy"]
    pay = client.get(_pay_path(invoice.lago_id, org.id)).get_data(as_text=True)
    assert "Payments are handled by Acme Cloud directly" in pay and "data-card-form" not in pay


def test_cards_are_saved_made_default_and_removed_with_a_warning(client, org, acme, stripe):
    first = _save_card(client, acme, stripe, "4242424242424242")
    assert first.status_code == 200 and first.json["redirect"].endswith("/payment-methods?notice=added")
    second = _save_card(client, acme, stripe, "5555555555554444")
    assert second.status_code == 200
    page = client.get(f"{_portal(acme)}/payment-methods").get_data(as_text=True)
    with read_only() as session:
        cards = list(session.scalars(select(SavedPaymentMethod).order_by(SavedPaymentMethod.created_at)))
    assert [c.last4 for c in cards] == ["4242", "4444"] and cards[0].is_default
    assert "This is your default card" in page

    token = csrf_token_in(page)
    made = client.post(f"{_portal(acme)}/payment-methods/{cards[1].id}/default", data={"csrf_token": token})
    assert made.status_code == 303 and made.headers["Location"].endswith("notice=default")
    removed = client.post(f"{_portal(acme)}/payment-methods/{cards[1].id}/remove", data={"csrf_token": token})
    assert removed.status_code == 303
    page = client.get(removed.headers["Location"]).get_data(as_text=True)
    assert "The payment method is removed." in page
    assert "This is your only saved card. Without it, unpaid and future invoices are <strong>not charged " \
           "automatically</strong>" in page
    with read_only() as session:
        [left] = session.scalars(select(SavedPaymentMethod)).all()
    assert left.last4 == "4242" and left.is_default


def test_a_card_declined_at_set_up_is_refused_with_the_reason_for_the_field(client, org, acme, stripe):
    refused = _save_card(client, acme, stripe, "4000000000000002")
    assert refused.status_code == 422
    assert refused.json == {"error": "Your card was declined.", "field": "payment_method"}
    page = client.get(f"{_portal(acme)}/payment-methods").get_data(as_text=True)
    bad = client.post(f"{_portal(acme)}/payment-methods", headers=JSON,
                      data={"csrf_token": csrf_token_in(page), "payment_method": "pm_x'; DROP"})
    assert bad.status_code == 422 and "could not be read" in bad.json["error"]
    with read_only() as session:
        assert session.scalar(select(func.count()).select_from(SavedPaymentMethod)) == 0


def test_forms_need_their_csrf_token(client, org, acme, stripe):
    refused = client.post(f"{_portal(acme)}/payment-methods", data={"payment_method": "pm_1"})
    assert refused.status_code == 400


def test_another_customers_card_is_never_used_nor_changed(client, org, lago, run_jobs, acme, stripe):
    _save_card(client, acme, stripe, "4242424242424242")
    bob = _customer(org, lago, run_jobs, "bob")
    with read_only() as session:
        acme_card = session.scalar(select(SavedPaymentMethod).where(SavedPaymentMethod.customer_id == acme.id))
    page = client.get(f"{_portal(bob)}/payment-methods").get_data(as_text=True)
    token = csrf_token_in(page)
    for action in ("default", "remove"):
        answer = client.post(f"{_portal(bob)}/payment-methods/{acme_card.id}/{action}", data={"csrf_token": token})
        assert answer.status_code == 422 and "no longer saved" in answer.get_data(as_text=True)
    invoice = _invoice(lago, "bob")
    run_jobs()
    pay_path = _pay_path(invoice.lago_id, org.id)
    paid = client.post(pay_path, data={"csrf_token": csrf_token_in(client.get(pay_path).get_data(as_text=True)),
                                       "method_id": acme_card.id}, headers=JSON)
    assert paid.status_code == 422 and "no longer saved" in paid.json["error"]
    assert _payments() == 0
    with read_only() as session:
        assert session.get(SavedPaymentMethod, acme_card.id) is not None


def test_a_saved_card_pays_in_one_click_without_javascript(client, org, lago, run_jobs, acme, stripe):
    invoice = _invoice(lago)  # no card yet: nothing charged when it is issued
    run_jobs()
    _save_card(client, acme, stripe, "4242424242424242")
    path = _pay_path(invoice.lago_id, org.id)
    page = client.get(path)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and invoice.number in html and "€120.00" in html
    assert page.headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in page.headers[
        "Content-Security-Policy"]
    assert 'name="method_id"' in html and "Pay €120.00" in html
    paid = client.post(path, data={"csrf_token": csrf_token_in(html)})
    assert paid.status_code == 303
    html = client.get(paid.headers["Location"]).get_data(as_text=True)
    assert "This invoice is paid. Thank you!" in html and "data-card-form" not in html
    # Paid: the same link never charges again.
    again = client.post(path, data={"csrf_token": csrf_token_in(page.get_data(as_text=True))}, headers=JSON)
    assert again.status_code == 200 and "redirect" in again.json
    assert _payments() == 1


def test_a_declined_charge_is_shown_by_the_saved_cards_and_the_invoice_says_it_failed(client, org, lago, run_jobs,
                                                                                       acme, stripe):
    _save_card(client, acme, stripe, "4000000000000341")
    invoice = _invoice(lago)
    run_jobs()
    home = client.get(_portal(acme)).get_data(as_text=True)
    assert "payment failed" in home and "The payment failed." in home and "invoice-pay" in home
    path = _pay_path(invoice.lago_id, org.id)
    html = client.get(path).get_data(as_text=True)
    assert "The last payment did not go through: Your card was declined." in html
    refused = client.post(path, data={"csrf_token": csrf_token_in(html)})
    assert refused.status_code == 422
    assert '<p class="field-error" role="alert" data-form-error>Your card was declined.</p>' in refused.get_data(
        as_text=True)
    assert _payments() == 2


def test_3d_secure_sends_the_customer_to_the_bank_and_back(client, org, lago, run_jobs, acme, stripe):
    invoice = _invoice(lago)
    run_jobs()
    _save_card(client, acme, stripe, "4000002760003184")
    path = _pay_path(invoice.lago_id, org.id)
    html = client.get(path).get_data(as_text=True)
    answer = client.post(path, data={"csrf_token": csrf_token_in(html)}, headers=JSON)
    assert answer.status_code == 200 and answer.json["redirect"].startswith(f"{stripe}/_config/authenticate/pi_")
    waiting = client.get(path).get_data(as_text=True)
    assert "Your bank asks you to confirm this payment." in waiting
    assert f'href="{answer.json["redirect"]}"' in waiting.replace("&amp;", "&")
    assert client.get(f"{path}/state").status_code == 204  # still waiting: the page keeps asking
    # Confirmed at the bank: back on the page (the webhook settles the payment).
    done = httpx.post(answer.json["redirect"], data={"client_secret": answer.json["redirect"].split(
        "client_secret=")[1], "success": "true"}, follow_redirects=False)
    assert done.status_code == 303 and path in done.headers["Location"]


def test_expired_tampered_or_misused_links_show_a_clear_page_and_never_charge(client, org, lago, run_jobs, acme,
                                                                             stripe, clock):
    invoice = _invoice(lago)
    run_jobs()
    path = _pay_path(invoice.lago_id, org.id)
    tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    setup_path = "/pay/setup/" + path.rsplit("/pay/", 1)[1]  # a pay token is no set-up token
    clock.set(clock.now() + timedelta(days=8))
    for url in (path, tampered, setup_path):
        page = client.get(url)
        assert page.status_code == 403 and "This link is not valid" in page.get_data(as_text=True)
        assert "Nothing was charged." in page.get_data(as_text=True)
    token = session_csrf_token(client)
    before = _payments()
    assert client.post(path, data={"csrf_token": token}).status_code == 403
    assert client.post(f"{path}/card", data={"csrf_token": token, "payment_method": "pm_1"},
                       headers=JSON).status_code == 403
    assert _payments() == before


def test_a_voided_invoice_says_there_is_nothing_to_pay(client, org, lago, run_jobs, stripe):
    _customer(org, lago, run_jobs, "bob")
    invoice = _invoice(lago, "bob")
    run_jobs()
    void_invoice(organization_id=org.id, invoice_id=invoice.lago_id)
    path = _pay_path(invoice.lago_id, org.id)
    html = client.get(path).get_data(as_text=True)
    assert "there is nothing to pay, and nothing was charged" in html
    assert client.post(path, data={"csrf_token": session_csrf_token(client)}).status_code == 303
    assert _payments() == 0
    with read_only() as session:
        assert session.get(Invoice, invoice.lago_id).status == "voided"


def test_the_set_up_page_adds_a_card_alone(client, org, acme, stripe):
    path = "/pay/setup/" + links.setup_url(customer_id=acme.id, organization_id=org.id).rsplit("/pay/setup/", 1)[1]
    page = client.get(path)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Add a payment method" in html and "data-card-form" in html
    assert f"connect-src 'self' {stripe};" in page.headers["Content-Security-Policy"]
    saved = client.post(path, headers=JSON, data={"csrf_token": csrf_token_in(html),
                                                  "payment_method": _card(stripe, "4242424242424242")})
    assert saved.status_code == 200 and saved.json["redirect"].endswith("notice=added")
    assert "Your card is saved." in client.get(saved.json["redirect"]).get_data(as_text=True)
    fresh = client.post(f"{path}/setup", headers=JSON, data={"csrf_token": csrf_token_in(html)})
    assert fresh.status_code == 200 and "_secret_" in fresh.json["client_secret"]


def test_a_top_up_charges_the_saved_card_and_a_failed_payment_leaves_its_credits_pending(client, org, lago, run_jobs,
                                                                                         acme, stripe):
    from lago_python_client.models import Wallet

    from billing.wallets.models import WalletTransaction

    _save_card(client, acme, stripe, "4000000000000341")
    wallet = lago.wallets.create(Wallet(external_customer_id="acme", rate_amount="1", currency="EUR", name="Prepaid"))
    home = client.get(_portal(acme)).get_data(as_text=True)
    bought = client.post(f"{_portal(acme)}/wallets/{wallet.lago_id}/top-up", headers={"HX-Request": "true"},
                         data={"csrf_token": csrf_token_in(home), "credits": "25"})
    # Never sent to the pay page at once (the portal may be framed by another site, the pay page never is): the
    # saved card is charged, and the wallet says so.
    assert bought.status_code == 200 and "HX-Redirect" not in bought.headers
    assert "we are charging your card" in bought.get_data(as_text=True)
    run_jobs()  # the default card is charged after commit: declined
    home = client.get(_portal(acme)).get_data(as_text=True)
    assert '<span class="badge badge-failed">payment failed</span> <span class="block small invoice-failed">' \
           'Credits are added once paid.</span>' in home
    with read_only() as session:
        [credits] = session.scalars(select(WalletTransaction)).all()
    assert credits.status == "pending"
    # The failed top-up's line has its Pay button, which opens the pay page in the whole window.
    pay_url = re.search(r'<a class="button button-small" href="([^"]+)" target="_top">Pay</a>', home).group(1)
    assert f"?portal={_portal(acme).rsplit('/', 1)[1]}" in pay_url
    target = urlsplit(html.unescape(pay_url))
    pay = client.get(f"{target.path}?{target.query}")
    assert pay.status_code == 200 and "€25.00" in pay.get_data(as_text=True)
