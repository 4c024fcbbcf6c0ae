"""The customer's side of overdue invoices over HTTP, with the in-memory provider: the portal's banner (the overdue
total per currency, one "Pay all" per currency), the "Overdue" badge, and the pay page of a payment request
(its invoices and total, one payment for them all; paid, emptied, expired, tampered and foreign links never charge).
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from lago_python_client.models import AddOn, Customer, OneOffInvoice
from lago_python_client.models.invoice import InvoiceFee, InvoiceFeesList
from sqlalchemy import func, select

from billing import links
from billing.customers.models import Customer as CustomerRow
from billing.db import read_only, unit_of_work
from billing.invoicing.actions import void_invoice
from billing.invoicing.models import Invoice
from billing.invoicing.overdue import mark_overdue_invoices
from billing.payments import customers, providers, requests
from billing.payments import fake as fake_provider
from billing.payments.models import Payment, PaymentRequest

JSON = {"Accept": "application/json"}


def _customer(org, lago, run_jobs, external_id: str, *, provider: bool = True) -> CustomerRow:
    billing = {"payment_provider": "fake", "payment_provider_code": "fake_main",
               "sync_with_provider": True} if provider else None
    lago.customers.create(Customer(external_id=external_id, name=external_id.title(), email=f"{external_id}@x.test",
                                   currency="EUR", net_payment_term=7, billing_configuration=billing))
    run_jobs()
    with read_only() as session:
        return session.scalar(select(CustomerRow).where(CustomerRow.organization_id == org.id,
                                                        CustomerRow.external_id == external_id))


@pytest.fixture
def fake(org, lago):
    providers.connect_provider(organization_id=org.id, kind="fake", code="fake_main", settings={})
    lago.add_ons.create(AddOn(name="Setup", code="setup", amount_cents=100, amount_currency="EUR"))


@pytest.fixture
def acme(org, lago, run_jobs, clock, fake) -> CustomerRow:
    clock.set("2026-11-01T09:00:00Z")
    return _customer(org, lago, run_jobs, "acme")


def _invoice(lago, cents: int, external_id: str = "acme") -> OneOffInvoice:
    fees = InvoiceFeesList(__root__=[InvoiceFee(add_on_code="setup", units=1, unit_amount_cents=cents)])
    return lago.invoices.create(OneOffInvoice(external_customer_id=external_id, currency="EUR", fees=fees))


def _in_dollars(invoice_id: str) -> None:
    """An invoice in another currency (as one billed before the customer's currency was set would be): the
    API keeps a customer to one currency, so the row is changed here."""
    with unit_of_work() as uow:
        uow.session.get(Invoice, invoice_id).currency = "USD"


def _overdue(clock, run_jobs) -> None:
    """Past the due date (1 Nov + net 7): the sweep marks the invoices overdue."""
    run_jobs()  # their own collection found no card: they stay due
    clock.set("2026-11-20T09:00:00Z")
    mark_overdue_invoices(at=clock.now())


def _card(org, customer, number: str):
    with read_only() as session:
        adapter = providers.adapter_for(session, org.id, "fake_main")
    return customers.save_new_method(organization_id=org.id, customer_id=customer.id,
                                     provider_method_id=adapter.tokenize_card(number))


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


def _request_path(request_id: str, organization_id: str) -> str:
    return "/pay/request/" + links.payment_request_url(payment_request_id=request_id, organization_id=organization_id) \
        .rsplit("/pay/request/", 1)[1]


def _local(url: str) -> str:
    """A link of the site as the test client asks for it (one host, one session cookie)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def _pay_all(client, customer: CustomerRow, currency: str = "EUR"):
    home = client.get(_portal(customer)).get_data(as_text=True)
    return client.post(f"{_portal(customer)}/overdue/pay", data={"csrf_token": _csrf(home),
                                                                 "currency": currency})


def _csrf(html: str) -> str:
    """The page's CSRF token (the body's hx-headers carry it when no form does): the session's, or on a portal
    page the token bound to its link."""
    return re.search(r'"X-CSRFToken": "([^"]+)"', html.replace("&#34;", '"')).group(1)


def _count(model) -> int:
    with read_only() as session:
        return session.scalar(select(func.count()).select_from(model))


def _banner(html: str) -> str:
    match = re.search(r"<section class=\"overdue-banner.*?</section>", html, re.S)
    return match.group(0) if match else ""


def test_the_banner_shows_the_overdue_total_per_currency_with_one_pay_all_per_currency(client, org, lago, acme,
                                                                                      clock, run_jobs):
    first, second, dollars = _invoice(lago, 10_000), _invoice(lago, 2_550), _invoice(lago, 4_000)
    _in_dollars(dollars.lago_id)
    home = client.get(_portal(acme)).get_data(as_text=True)
    assert _banner(home) == ""  # due, not overdue yet
    _overdue(clock, run_jobs)
    fresh = _invoice(lago, 700)  # issued today: due, not overdue
    run_jobs()
    home = client.get(_portal(acme)).get_data(as_text=True)
    banner = _banner(home)
    assert "Some invoices are past their due date" in banner
    assert "€125.50" in banner and "overdue on 2 invoices" in banner
    assert "$40.00" in banner and "overdue on 1 invoice" in banner
    assert banner.count('type="submit"') == 2 and "Pay all €125.50" in banner and "Pay all $40.00" in banner
    assert "€7.00" not in banner
    for invoice in (first, second, dollars):
        row = re.search(rf'<tr data-invoice="{invoice.lago_id}">.*?</tr>', home, re.S).group(0)
        assert '<span class="badge badge-overdue">overdue</span>' in row and "badge-due" not in row
    row = re.search(rf'<tr data-invoice="{fresh.lago_id}">.*?</tr>', home, re.S).group(0)
    assert '<span class="badge badge-due">due</span>' in row


def test_pay_all_makes_one_request_and_leads_to_its_page_without_charging_or_a_second_request(client, org, lago,
                                                                                              acme, clock, run_jobs):
    first, second = _invoice(lago, 10_000), _invoice(lago, 2_550)
    _overdue(clock, run_jobs)
    _card(org, acme, fake_provider.CARD_OK)  # a default card: still nothing charged until the customer says so
    banner = _banner(client.get(_portal(acme)).get_data(as_text=True))
    assert banner.count('type="submit"') == 1 and ">Pay all</button>" in banner
    answer = _pay_all(client, acme)
    assert answer.status_code == 303
    location = _local(answer.headers["Location"])
    assert "/pay/request/" in location and location.endswith(f"?portal={_portal(acme).rsplit('/', 1)[1]}")
    run_jobs()
    with read_only() as session:
        [made] = session.scalars(select(PaymentRequest)).all()
        assert (made.amount_cents, made.currency, {i.id for i in made.invoices}) == (
            12_550, "EUR", {first.lago_id, second.lago_id})
    assert _count(Payment) == 0
    # A second click (or a reload of the portal) reuses the unpaid request.
    again = _pay_all(client, acme)
    assert again.status_code == 303 and _count(PaymentRequest) == 1
    page = client.get(location)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Overdue invoices" in html
    assert first.number in html and second.number in html and "€100.00" in html and "€25.50" in html
    assert '<td class="num pay-total">€125.50</td>' in html and "Pay €125.50" in html
    assert "15 Nov 2026" not in html and html.count("8 Nov 2026") == 2  # each invoice's due date
    assert "Billing portal" in html  # the way back


def test_a_saved_card_pays_every_invoice_of_the_request_in_one_click(client, org, lago, acme, clock, run_jobs):
    first, second = _invoice(lago, 10_000), _invoice(lago, 2_550)
    _overdue(clock, run_jobs)
    card = _card(org, acme, fake_provider.CARD_OK)
    page_url = _local(_pay_all(client, acme).headers["Location"])
    html = client.get(page_url).get_data(as_text=True)
    assert f'value="{card.id}" checked' in html
    paid = client.post(page_url, data={"csrf_token": _csrf(html)})
    assert paid.status_code == 303
    html = client.get(_local(paid.headers["Location"])).get_data(as_text=True)
    assert "These invoices are paid. Thank you!" in html and "Pay €" not in html
    with read_only() as session:
        [payment] = session.scalars(select(Payment)).all()
        assert (payment.amount_cents, payment.status, payment.invoice_id) == (12_550, "succeeded", None)
        for invoice in (first, second):
            row = session.get(Invoice, invoice.lago_id)
            assert (row.payment_status, row.payment_overdue, row.total_due_amount_cents) == ("succeeded", False, 0)
    home = client.get(_portal(acme)).get_data(as_text=True)
    assert _banner(home) == "" and "badge-overdue" not in home
    # Paid: the same link never charges again.
    again = client.post(page_url, data={"csrf_token": _csrf(html)}, headers=JSON)
    assert again.status_code == 200 and "redirect" in again.json
    assert _count(Payment) == 1


def test_a_declined_card_is_refused_by_the_field_and_another_card_pays(client, org, lago, acme, clock, run_jobs):
    _invoice(lago, 10_000), _invoice(lago, 4_000)
    _overdue(clock, run_jobs)
    bad = _card(org, acme, fake_provider.CARD_DECLINED_AT_CHARGE)
    page_url = _local(_pay_all(client, acme).headers["Location"])
    html = client.get(page_url).get_data(as_text=True)
    refused = client.post(page_url, data={"csrf_token": _csrf(html), "method_id": bad.id})
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert re.search(r'<p class="field-error" role="alert" data-form-error>[^<]*declined[^<]*</p>', text)
    html = client.get(page_url).get_data(as_text=True)
    assert "The last payment did not go through" in html
    good = _card(org, acme, fake_provider.CARD_OK)
    paid = client.post(page_url, data={"csrf_token": _csrf(html), "method_id": good.id}, headers=JSON)
    assert paid.status_code == 200 and "/pay/request/" in paid.json["redirect"]
    assert "These invoices are paid" in client.get(page_url).get_data(as_text=True)
    with read_only() as session:
        assert sorted(p.status for p in session.scalars(select(Payment))) == ["failed", "succeeded"]


def test_a_new_card_from_the_page_pays_the_request(client, org, lago, acme, clock, run_jobs):
    _invoice(lago, 3_000)
    _overdue(clock, run_jobs)
    page_url = _local(_pay_all(client, acme).headers["Location"])
    html = client.get(page_url).get_data(as_text=True)
    assert "Pay with a card" in html and 'name="method_id"' not in html
    with read_only() as session:
        adapter = providers.adapter_for(session, org.id, "fake_main")
    path = page_url.split("?")[0]
    answer = client.post(f"{path}/card", headers=JSON, data={
        "csrf_token": _csrf(html), "payment_method": adapter.tokenize_card(fake_provider.CARD_OK)})
    assert answer.status_code == 200 and "/pay/request/" in answer.json["redirect"]
    assert "This invoice is paid. Thank you!" in client.get(page_url).get_data(as_text=True)
    shaped = client.post(f"{path}/card", headers=JSON, data={"csrf_token": _csrf(html),
                                                             "payment_method": "pm_x'; DROP"})
    assert shaped.status_code == 200  # paid already: the page says so, nothing read or charged
    assert _count(Payment) == 1


def test_without_a_provider_the_banner_says_the_company_will_be_in_touch_and_has_no_button(client, org, lago,
                                                                                          run_jobs, clock, fake):
    clock.set("2026-11-01T09:00:00Z")
    bob = _customer(org, lago, run_jobs, "bob", provider=False)
    _invoice(lago, 5_000, "bob")
    _overdue(clock, run_jobs)
    home = client.get(_portal(bob)).get_data(as_text=True)
    banner = _banner(home)
    assert "€50.00" in banner and "overdue on 1 invoice" in banner
    assert "Acme Cloud will get in touch about how to pay" in banner
    assert "<form" not in banner and "button" not in banner
    refused = client.post(f"{_portal(bob)}/overdue/pay", data={"csrf_token": _csrf(home),
                                                                "currency": "EUR"})
    assert refused.status_code == 303 and refused.headers["Location"].endswith(_portal(bob))
    assert _count(PaymentRequest) == 0


def test_pay_all_refuses_a_currency_with_nothing_overdue_and_needs_its_csrf_token(client, org, lago, acme, clock,
                                                                                  run_jobs):
    _invoice(lago, 5_000)
    _overdue(clock, run_jobs)
    assert _pay_all(client, acme, "USD").status_code == 303
    assert _pay_all(client, acme, "<script>").status_code == 303
    assert client.post(f"{_portal(acme)}/overdue/pay", data={"currency": "EUR"}).status_code == 400
    assert _count(PaymentRequest) == 0
    expired = _portal(acme)
    home_token = _csrf(client.get(expired).get_data(as_text=True))
    clock.set(clock.now() + timedelta(hours=13))
    assert client.post(f"{expired}/overdue/pay", data={"csrf_token": home_token,
                                                       "currency": "EUR"}).status_code == 403
    # A form of another link (of the same customer) is refused: its token is bound to that link.
    assert client.post(f"{_portal(acme)}/overdue/pay", data={"csrf_token": home_token,
                                                            "currency": "EUR"}).status_code == 400
    assert _count(PaymentRequest) == 0


def test_expired_tampered_or_foreign_request_links_show_a_clear_page_and_never_charge(client, org, other_org, lago,
                                                                                     acme, clock, run_jobs):
    _invoice(lago, 5_000)
    _overdue(clock, run_jobs)
    _card(org, acme, fake_provider.CARD_OK)
    [made] = requests.request_overdue_payment(organization_id=org.id, customer_id=acme.id, customer_present=True)
    path = _request_path(made.id, org.id)
    token = _csrf(client.get(path).get_data(as_text=True))
    tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    other_tenant = _request_path(made.id, other_org)  # a valid signature for another organization
    as_invoice = "/pay/" + path.rsplit("/pay/request/", 1)[1]  # a request's token is no invoice's
    pay_token = links.pay_url(invoice_id=made.id, organization_id=org.id).rsplit("/pay/", 1)[1]
    for url in (tampered, other_tenant, as_invoice, f"/pay/request/{pay_token}"):
        page = client.get(url)
        assert page.status_code == 403 and "Nothing was charged." in page.get_data(as_text=True)
        assert client.post(url, data={"csrf_token": token}).status_code == 403
    clock.set(clock.now() + timedelta(days=8))
    page = client.get(path)
    assert page.status_code == 403 and "This link is not valid" in page.get_data(as_text=True)
    assert client.post(path, data={"csrf_token": token}).status_code == 403
    assert client.post(f"{path}/card", data={"csrf_token": token, "payment_method": "pm_1"},
                       headers=JSON).status_code == 403
    assert client.post(f"{path}/setup", data={"csrf_token": token}, headers=JSON).status_code == 403
    assert client.get(f"{path}/state").status_code == 286
    assert _count(Payment) == 0


def test_invoices_paid_or_voided_one_by_one_leave_the_rest_or_nothing_to_pay(client, org, lago, acme, clock,
                                                                             run_jobs):
    first, second = _invoice(lago, 10_000), _invoice(lago, 4_000)
    _overdue(clock, run_jobs)
    [made] = requests.request_overdue_payment(organization_id=org.id, customer_id=acme.id, customer_present=True)
    path = _request_path(made.id, org.id)
    void_invoice(organization_id=org.id, invoice_id=first.lago_id)
    html = client.get(path).get_data(as_text=True)
    assert '<td class="num pay-total">€40.00</td>' in html and '<span class="badge badge-voided">voided</span>' in html
    void_invoice(organization_id=org.id, invoice_id=second.lago_id)
    html = client.get(path).get_data(as_text=True)
    assert "There is nothing left to pay here, and nothing was charged." in html and "Pay €" not in html
    assert client.post(path, data={"csrf_token": _csrf(html)}).status_code == 303
    assert _count(Payment) == 0


def test_an_invoice_of_the_request_being_paid_on_its_own_makes_the_page_wait(client, org, lago, acme, clock,
                                                                            run_jobs):
    first, _second = _invoice(lago, 10_000), _invoice(lago, 4_000)
    _overdue(clock, run_jobs)
    [made] = requests.request_overdue_payment(organization_id=org.id, customer_id=acme.id, customer_present=True)
    _card(org, acme, fake_provider.CARD_REQUIRES_ACTION)
    from billing.payments import collection

    attempt = collection.pay_invoice(organization_id=org.id, invoice_id=first.lago_id, customer_id=acme.id,
                                     method_id=None)
    assert attempt.status == "requires_action"
    path = _request_path(made.id, org.id)
    html = client.get(path).get_data(as_text=True)
    assert "This page updates by itself." in html and "Pay €" not in html
    assert client.get(f"{path}/state").status_code == 204
    assert client.post(path, data={"csrf_token": _csrf(html)}).status_code == 303
    assert _count(Payment) == 1
