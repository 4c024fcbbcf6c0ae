"""The admin's overdue view of a customer: the overdue balance per currency, the "Overdue" badge on overdue invoice
rows, the "Overdue only" filter (its state in the URL), and "Request payment now" saying what it did (charging,
emailed, nothing overdue). CSRF on the form; another organization's customer is a 404."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from billing.catalog.add_ons import create_add_on
from billing.customers.models import Customer as CustomerRow
from billing.customers.services import upsert_customer
from billing.db import read_only, unit_of_work
from billing.invoicing.models import Invoice
from billing.invoicing.one_off import create_one_off_invoice
from billing.invoicing.overdue import mark_overdue_invoices
from billing.payments import customers as payment_customers
from billing.payments import fake as fake_provider
from billing.payments import providers
from billing.payments.models import PaymentRequest
from tests.smtp_sink import smtp  # noqa: F401 (the real SMTP server, as a fixture)
from tests.web.conftest import create_catalog, csrf_token_in

HTMX = {"HX-Request": "true"}


def _currency(customer_id: str, currency: str | None) -> None:
    with unit_of_work() as uow:
        uow.session.get(CustomerRow, customer_id).currency = currency


def _one_off(org_id: str, external_id: str, cents: int, currency: str) -> Invoice:
    return create_one_off_invoice(organization_id=org_id, data={
        "external_customer_id": external_id, "currency": currency,
        "fees": [{"add_on_code": f"setup_{currency.lower()}", "unit_amount_cents": cents, "units": 1}]})


@pytest.fixture
def alice(org, billed_customer, clock, run_jobs):
    """Alice: October's invoice (€8.71, due 1 Nov) and a USD one-off (due 5 Nov) overdue on 10 Nov; a EUR one-off of
    10 Nov, not yet due."""
    create_catalog(org.id)
    for currency in ("EUR", "USD"):
        create_add_on(organization_id=org.id, data={"name": f"Setup {currency}", "code": f"setup_{currency.lower()}",
                                                    "amount_cents": 100, "amount_currency": currency})
    customer = billed_customer(org.id, "alice", name="Alice Corp", events=1)
    upsert_customer(organization_id=org.id, data={"external_id": "alice", "email": "ap@alice.test"})
    clock.set("2026-11-05T00:00:00Z")
    # NOTE: Lago gives a customer one currency; one billed in two (its currency changed after an invoice, as
    # an imported account may be) is made here by hand.
    _currency(customer.id, None)
    usd = _one_off(org.id, "alice", 4_200, "USD")
    _currency(customer.id, "EUR")
    clock.set("2026-11-10T12:00:00Z")
    fresh = _one_off(org.id, "alice", 990, "EUR")
    run_jobs()
    assert mark_overdue_invoices(at=clock.now()) == 2
    return customer, usd, fresh


def _page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def _row(html: str, invoice_id: str) -> str:
    start = html.index(f'data-invoice="{invoice_id}"')
    return html[start:html.index("</tr>", start)]


@pytest.mark.usefixtures("smtp")
def test_the_customer_page_shows_the_overdue_balance_per_currency_and_badges_overdue_rows(signed_in, org, alice):
    customer, usd, fresh = alice
    html = _page(signed_in, f"/admin/customers/{customer.id}")
    section = html[html.index('id="overdue-title"'):html.index('id="invoices-title"')]
    assert 'data-overdue-currency="EUR"' in section and "€8.71" in section
    assert "1 invoice · due since 1 Nov 2026" in section
    assert 'data-overdue-currency="USD"' in section and "$42.00" in section
    assert "Request payment now" in section
    assert "Emails ap@alice.test one link that pays the overdue invoices of each currency." in section
    assert "Overdue" in _row(html, customer.invoice_id) and "Overdue" in _row(html, usd.id)
    assert "Overdue" not in _row(html, fresh.id)


def test_the_overdue_only_filter_keeps_its_state_in_the_url(signed_in, org, alice):
    customer, usd, fresh = alice
    filtered = _page(signed_in, f"/admin/customers/{customer.id}?overdue=1")
    assert f'data-invoice="{customer.invoice_id}"' in filtered and f'data-invoice="{usd.id}"' in filtered
    assert f'data-invoice="{fresh.id}"' not in filtered
    assert 'aria-current="true">Overdue only</a>' in filtered
    assert 'id="invoices-filter" name="overdue" value="1"' in filtered  # a reload of the list keeps the filter
    fragment = signed_in.get(f"/admin/customers/{customer.id}/invoices?overdue=1", headers=HTMX).get_data(as_text=True)
    assert "<html" not in fragment and f'data-invoice="{fresh.id}"' not in fragment
    assert f'hx-push-url="/admin/customers/{customer.id}?overdue=1"' in fragment
    everything = signed_in.get(f"/admin/customers/{customer.id}/invoices", headers=HTMX).get_data(as_text=True)
    assert f'data-invoice="{fresh.id}"' in everything and 'aria-current="true">All</a>' in everything
    with read_only() as session:
        session.get(Invoice, usd.id)  # still there, untouched
    nothing = _page(signed_in, f"/admin/customers/{customer.id}?overdue=2")  # anything but 1: every invoice
    assert f'data-invoice="{fresh.id}"' in nothing


def test_request_payment_now_emails_the_link_and_says_so(signed_in, org, alice, run_jobs):
    customer, _, _ = alice
    token = csrf_token_in(_page(signed_in, f"/admin/customers/{customer.id}"))
    url = f"/admin/customers/{customer.id}/request-payment"
    assert signed_in.post(url, headers=HTMX, data={}).status_code == 400  # no CSRF token
    asked = signed_in.post(url, headers=HTMX, data={"csrf_token": token}).get_data(as_text=True)
    assert "Ask the customer to pay €8.71, $42.00 overdue now?" in asked and ">Request €8.71, $42.00</button>" in asked
    with read_only() as session:
        assert session.scalar(select(PaymentRequest.id)) is None  # nothing until answered
    response = signed_in.post(url, headers=HTMX, data={"csrf_token": token, "confirmed": "1"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["HX-Trigger"] == "payment-requested"
    assert "<html" not in html
    assert "Requested €8.71, $42.00" in html
    with read_only() as session:
        made = sorted((r.currency, r.amount_cents, r.email) for r in session.scalars(select(PaymentRequest)))
    assert made == [("EUR", 871, "ap@alice.test"), ("USD", 4_200, "ap@alice.test")]
    # No mail server in this app (SMTP_HOST unset): it says nothing was sent, and why.
    assert "nothing was sent: the customer has no payment method and no mail server is configured" in html
    assert 'role="alert"' in html
    assert "no mail server is configured (SMTP_HOST): the customer is not told of the request." in html


def test_request_payment_now_with_a_mailer_says_it_emailed(signed_in, org, alice, smtp, run_jobs):  # noqa: F811
    customer, _, _ = alice
    token = csrf_token_in(_page(signed_in, f"/admin/customers/{customer.id}"))
    html = signed_in.post(f"/admin/customers/{customer.id}/request-payment", headers=HTMX,
                          data={"csrf_token": token, "confirmed": "1"}).get_data(as_text=True)
    assert "Requested €8.71, $42.00: ap@alice.test is emailed a link that pays the overdue invoices." in html
    run_jobs()
    assert sorted(" ".join(m["Subject"].split()) for m in smtp.parsed()) == [
        "Reminder: $42.00 overdue to Acme Cloud", "Reminder: €8.71 overdue to Acme Cloud"]


@pytest.mark.usefixtures("smtp")
def test_request_payment_now_charges_the_default_method_and_then_nothing_is_overdue(signed_in, org, alice,
                                                                                  run_jobs):
    customer, usd, _ = alice
    providers.connect_provider(organization_id=org.id, kind="fake", code="fake_main", settings={})
    upsert_customer(organization_id=org.id, data={"external_id": "alice", "billing_configuration": {
        "payment_provider": "fake", "payment_provider_code": "fake_main", "sync_with_provider": True}})
    run_jobs()
    with read_only() as session:
        adapter = providers.adapter_for(session, org.id, "fake_main")
    payment_customers.save_new_method(organization_id=org.id, customer_id=customer.id,
                                      provider_method_id=adapter.tokenize_card(fake_provider.CARD_OK))
    page = _page(signed_in, f"/admin/customers/{customer.id}")
    assert "Charges the default payment method; if the charge fails, ap@alice.test is emailed a link to pay." in page
    token = csrf_token_in(page)
    url = f"/admin/customers/{customer.id}/request-payment"
    asked = signed_in.post(url, headers=HTMX, data={"csrf_token": token}).get_data(as_text=True)
    assert "Charge €8.71, $42.00 overdue to the customer's default payment method now?" in asked.replace("&#39;", "'")
    html = signed_in.post(url, headers=HTMX, data={"csrf_token": token, "confirmed": "1"}).get_data(as_text=True)
    assert "Requested €8.71, $42.00: charging the default payment method now." in html
    run_jobs()
    with read_only() as session:
        assert {(i.payment_status, i.payment_overdue) for i in session.scalars(
            select(Invoice).where(Invoice.id.in_([customer.invoice_id, usd.id])))} == {("succeeded", False)}
    after = _page(signed_in, f"/admin/customers/{customer.id}")
    assert "Nothing overdue." in after[after.index('id="overdue-title"'):]
    assert "No overdue invoices." in _page(signed_in, f"/admin/customers/{customer.id}?overdue=1")
    # Nothing left: it says so, and requests nothing.
    html = signed_in.post(url, headers=HTMX, data={"csrf_token": token}).get_data(as_text=True)
    assert "Nothing is overdue: no payment was requested." in html
    with read_only() as session:
        assert len(session.scalars(select(PaymentRequest)).all()) == 2


def test_a_plain_post_goes_back_to_the_page_with_the_notice(signed_in, org, alice):
    customer, _, _ = alice
    token = csrf_token_in(_page(signed_in, f"/admin/customers/{customer.id}"))
    response = signed_in.post(f"/admin/customers/{customer.id}/request-payment",
                              data={"csrf_token": token, "confirmed": "1"})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/admin/customers/{customer.id}")
    assert "Requested €8.71, $42.00" in _page(signed_in, f"/admin/customers/{customer.id}")


def test_another_organizations_customer_is_not_found(signed_in, org, other_org, billed_customer):
    create_catalog(other_org)
    theirs = billed_customer(other_org, "bob", name="Bob", events=1)
    token = csrf_token_in(_page(signed_in, "/admin/customers"))
    assert signed_in.get(f"/admin/customers/{theirs.id}/overdue", headers=HTMX).status_code == 404
    assert signed_in.post(f"/admin/customers/{theirs.id}/request-payment",
                          data={"csrf_token": token, "confirmed": "1"}).status_code == 404
    with read_only() as session:
        assert session.scalar(select(PaymentRequest.id)) is None
