"""Lago's payment requests API through the official lago-python-client (raw HTTP only where it falls short):
create (charged to the default method through the fake provider, every invoice settled), get, list with Lago's
filters, Lago's refusals and shapes (the objects and the three payment_request.* webhooks), one organization never
reaching another's; and the `payment_overdue` filter of the invoices list.
"""

from __future__ import annotations

import json

import httpx
import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import AddOn, Customer, OneOffInvoice, PaymentRequest, WebhookEndpoint
from lago_python_client.models.invoice import InvoiceFee, InvoiceFeesList
from sqlalchemy import select

from billing.customers.models import Customer as CustomerRow
from billing.db import read_only, unit_of_work
from billing.invoicing.models import Invoice
from billing.invoicing.overdue import mark_overdue_invoices
from billing.organizations.services import create_organization
from billing.payments import customers, providers
from billing.payments import fake as fake_provider
from billing.payments.models import Payment
from billing.payments.models import PaymentRequest as PaymentRequestRow
from billing.webhooks.models import WebhookDelivery
from tests.conftest import Org

pytestmark = pytest.mark.usefixtures("allow_private_webhooks")

PROVIDER = {"payment_provider": "fake", "payment_provider_code": "fake_main", "sync_with_provider": True}


@pytest.fixture
def acme(org, lago, run_jobs, clock):
    """The fake provider, an add-on, and two customers linked to it: `acme` (with an email) and `bare` (none)."""
    clock.set("2026-11-01T09:00:00Z")
    providers.connect_provider(organization_id=org.id, kind="fake", code="fake_main", settings={})
    lago.webhook_endpoints.create(WebhookEndpoint(webhook_url="http://127.0.0.1:9/hooks"))
    lago.add_ons.create(AddOn(name="Setup", code="setup", amount_cents=10_000, amount_currency="EUR"))
    lago.customers.create(Customer(external_id="acme", name="Acme", email="billing@acme.test, cfo@acme.test",
                                   net_payment_term=7, billing_configuration=PROVIDER))
    lago.customers.create(Customer(external_id="bare", name="Bare", net_payment_term=7,
                                   billing_configuration=PROVIDER))
    run_jobs()
    return _customer(org, "acme")


@pytest.fixture
def other(live_server) -> tuple[Org, Client]:
    """A second organization with its own `acme`, and an overdue invoice of its own."""
    created = create_organization(name="Other Cloud", default_currency="EUR")
    client = Client(api_key=created.api_key, api_url=live_server)
    client.add_ons.create(AddOn(name="Setup", code="setup", amount_cents=500, amount_currency="EUR"))
    client.customers.create(Customer(external_id="acme", name="Other's Acme", email="a@other.test",
                                     net_payment_term=0))
    return Org(id=created.organization_id, api_key=created.api_key), client


def _customer(org, external_id: str) -> CustomerRow:
    with read_only() as session:
        return session.scalar(select(CustomerRow).where(CustomerRow.organization_id == org.id,
                                                        CustomerRow.external_id == external_id))


def _card(org, customer: CustomerRow, number: str):
    with read_only() as session:
        token = providers.adapter_for(session, org.id, "fake_main").tokenize_card(number)
    return customers.save_new_method(organization_id=org.id, customer_id=customer.id, provider_method_id=token)


def _invoice(client: Client, amount_cents: int, customer: str = "acme") -> str:
    fees = InvoiceFeesList(__root__=[InvoiceFee(add_on_code="setup", units=1, unit_amount_cents=amount_cents)])
    return client.invoices.create(OneOffInvoice(external_customer_id=customer, currency="EUR", fees=fees)).lago_id


def _in_dollars(invoice_id: str) -> str:
    """A customer keeps one currency (a second is refused, `currencies_does_not_match`): an invoice of another
    currency, as one imported from an earlier system would be, is written in place."""
    with unit_of_work() as uow:
        uow.session.get(Invoice, invoice_id).currency = "USD"
    return invoice_id


def _overdue(clock, run_jobs, at: str = "2026-11-20T00:00:00Z") -> None:
    run_jobs()  # the invoices' own collection: no card yet, they stay due
    clock.set(at)
    mark_overdue_invoices(at=clock.now())


def _call(live_server: str, org, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(method, f"{live_server}/api/v1{path}", headers={"Authorization": f"Bearer {org.api_key}"},
                         timeout=30, **kwargs)


def _refused(call, *args) -> tuple[int, dict]:
    with pytest.raises(LagoApiError) as refused:
        call(*args)
    return refused.value.status_code, refused.value.response


def _request(customer: str, invoice_ids: list[str], email: str | None = None) -> PaymentRequest:
    return PaymentRequest.construct(external_customer_id=customer, lago_invoice_ids=invoice_ids,
                                    **({"email": email} if email is not None else {}))


def _webhooks(webhook_type: str) -> list[dict]:
    with read_only() as session:
        return [json.loads(d.body) for d in session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.webhook_type == webhook_type).order_by(WebhookDelivery.created_at))]


# -- Create, charge, settle -------------------------------------------------------------------------------------------


def test_a_request_is_charged_to_the_default_method_and_settles_every_invoice(org, lago, acme, clock, run_jobs,
                                                                              live_server):
    first, second = _invoice(lago, 10_000), _invoice(lago, 2_550)
    _overdue(clock, run_jobs)
    _card(org, acme, fake_provider.CARD_OK)

    made = lago.payment_requests.create(PaymentRequest(external_customer_id="acme", email="ap@acme.test",
                                                       lago_invoice_ids=[first, second]))
    assert (made.amount_cents, made.amount_currency, made.email) == (12_550, "EUR", "ap@acme.test")
    assert made.payment_status == "pending" and made.created_at == "2026-11-20T00:00:00Z"
    assert made.customer.external_id == "acme"
    listed = {i.lago_id: i for i in made.invoices.__root__}
    assert listed.keys() == {first, second}
    assert all(i.payment_overdue and i.status == "finalized" and i.currency == "EUR" for i in listed.values())
    assert listed[second].total_amount_cents == 2_550

    run_jobs()  # the charge, after commit
    paid = lago.payment_requests.find(made.lago_id)
    assert paid.payment_status == "succeeded"
    assert {i.lago_id: (i.payment_status, i.payment_overdue) for i in paid.invoices.__root__} == {
        first: ("succeeded", False), second: ("succeeded", False)}
    for invoice_id in (first, second):
        invoice = lago.invoices.find(invoice_id)
        assert (invoice.payment_status, invoice.payment_overdue, invoice.total_due_amount_cents) == \
            ("succeeded", False, 0)
    with read_only() as session:
        [payment] = session.scalars(select(Payment).where(Payment.payment_request_id == made.lago_id)).all()
        assert (payment.amount_cents, payment.status) == (12_550, "succeeded")
    # The one payment, as Lago lists a payment request's: every invoice it paid, the request as its payable.
    [listed_payment] = lago.payments.find_all({"external_customer_id": "acme"})["payments"]
    assert listed_payment.lago_id == payment.id and sorted(listed_payment.invoice_ids) == sorted([first, second])
    assert all(listed_payment.invoice_numbers)
    by_invoice = lago.payments.find_all({"invoice_id": second})["payments"]
    assert [p.lago_id for p in by_invoice] == [payment.id]
    raw = _call(live_server, org, "GET", f"/payments/{payment.id}").json()["payment"]
    assert (raw["lago_payable_id"], raw["payable_type"], raw["payment_status"]) == \
        (made.lago_id, "PaymentRequest", "succeeded")

    # Lago's webhooks: the request (with its customer and invoices) created, then its status.
    [created] = _webhooks("payment_request.created")
    assert created["object_type"] == "payment_request"
    assert created["payment_request"]["lago_id"] == made.lago_id
    assert created["payment_request"]["customer"]["external_id"] == "acme"
    assert {i["lago_id"] for i in created["payment_request"]["invoices"]} == {first, second}
    assert [w["payment_request"]["payment_status"] for w in _webhooks("payment_request.payment_status_updated")] == \
        ["succeeded"]
    assert _webhooks("payment_request.payment_failure") == []


def test_without_an_email_the_customers_first_is_used_and_without_any_the_client_still_reads_it(
        org, lago, acme, clock, run_jobs):
    mine, bare = _invoice(lago, 1_000), _invoice(lago, 2_000, customer="bare")
    _overdue(clock, run_jobs)
    made = lago.payment_requests.create(_request("acme", [mine]))
    assert made.email == "billing@acme.test"
    # No email at all: Lago's null would break the official client ("" here); no card: the request waits.
    nobody = lago.payment_requests.create(_request("bare", [bare]))
    assert nobody.email == "" and nobody.amount_cents == 2_000
    run_jobs()
    assert lago.payment_requests.find(nobody.lago_id).payment_status == "pending"


def test_a_declined_charge_fails_the_request_with_lagos_failure_webhook(org, lago, acme, clock, run_jobs):
    first, second = _invoice(lago, 10_000), _invoice(lago, 4_000)
    _overdue(clock, run_jobs)
    _card(org, acme, fake_provider.CARD_DECLINED_AT_CHARGE)
    made = lago.payment_requests.create(_request("acme", [first, second]))
    run_jobs()
    assert lago.payment_requests.find(made.lago_id).payment_status == "failed"
    [failure] = _webhooks("payment_request.payment_failure")
    assert failure["object_type"] == "payment_provider_payment_request_payment_error"
    error = failure["payment_provider_payment_request_payment_error"]
    assert error["lago_payment_request_id"] == made.lago_id
    assert sorted(error["lago_invoice_ids"]) == sorted([first, second])
    assert (error["lago_customer_id"], error["external_customer_id"]) == (acme.id, "acme")
    assert (error["payment_provider"], error["payment_provider_code"]) == ("fake", "fake_main")
    assert error["provider_customer_id"] and error["provider_error"]["error_code"] == "card_declined"
    assert [w["payment_request"]["payment_status"] for w in _webhooks("payment_request.payment_status_updated")] == \
        ["failed"]
    assert {lago.invoices.find(i).payment_overdue for i in (first, second)} == {True}


# -- Refusals ---------------------------------------------------------------------------------------------------------


def test_lagos_refusals_and_nothing_made(org, lago, acme, clock, run_jobs, live_server, other):
    old = _invoice(lago, 10_000)
    usd = _in_dollars(_invoice(lago, 3_000))
    other_org, other_client = other
    theirs = _invoice(other_client, 500)
    _overdue(clock, run_jobs)
    fresh = _invoice(lago, 500)  # issued now: due in 7 days
    assert lago.invoices.find(usd).payment_overdue and other_client.invoices.find(theirs).payment_overdue

    create = lago.payment_requests.create
    status, error = _refused(create, _request("acme", [old, fresh]))
    assert (status, error["error"], error["code"]) == (405, "Method Not Allowed", "invoices_not_overdue")
    status, error = _refused(create, _request("acme", [old, usd]))
    assert (status, error["code"]) == (405, "invoices_have_different_currencies")
    status, error = _refused(create, _request("acme", [old, theirs]))  # another organization's invoice
    assert (status, error["code"]) == (404, "invoice_not_found")
    status, error = _refused(create, _request("bare", [old]))  # another customer's invoice
    assert (status, error["code"]) == (404, "invoice_not_found")
    status, error = _refused(create, _request("nobody", [old]))
    assert (status, error["code"]) == (404, "customer_not_found")
    status, error = _refused(other_client.payment_requests.create, _request("acme", [old]))
    assert (status, error["code"]) == (404, "invoice_not_found")

    # What the client would not send: Lago's format all the same, never a 500.
    for payload, field in (({"external_customer_id": "acme", "lago_invoice_ids": []}, "lago_invoice_ids"),
                           ({"external_customer_id": "acme", "lago_invoice_ids": "x"}, "lago_invoice_ids"),
                           ({"external_customer_id": "acme", "lago_invoice_ids": [7]}, "lago_invoice_ids"),
                           ({"lago_invoice_ids": [old]}, "external_customer_id"),
                           ({"external_customer_id": "acme", "lago_invoice_ids": [old], "email": "nope"}, "email"),
                           ({"external_customer_id": "acme", "lago_invoice_ids": ["x" * 37]}, "lago_invoice_ids")):
        answer = _call(live_server, org, "POST", "/payment_requests", json={"payment_request": payload})
        assert answer.status_code == 422, (payload, answer.text)
        assert answer.json()["code"] == "validation_errors" and field in answer.json()["error_details"]
    answer = _call(live_server, org, "POST", "/payment_requests", json={"invoices": []})
    assert answer.status_code == 400 and "payment_request" in answer.json()["error"]
    answer = httpx.post(f"{live_server}/api/v1/payment_requests", content=b"{", timeout=30, headers={
        "Authorization": f"Bearer {org.api_key}", "Content-Type": "application/json"})
    assert answer.status_code == 400
    with read_only() as session:
        assert session.scalar(select(PaymentRequestRow.id)) is None
    status, error = _refused(lago.payment_requests.find, "f4a842d6-4bde-11ec-81d3-0242ac130003")
    assert (status, error["code"]) == (404, "payment_request_not_found")


# -- Lists ------------------------------------------------------------------------------------------------------------


def test_requests_are_listed_newest_first_with_lagos_filters_and_pages(org, lago, acme, clock, run_jobs, live_server,
                                                                        other):
    a1, a2, b1 = _invoice(lago, 1_000), _invoice(lago, 2_000), _invoice(lago, 3_000, customer="bare")
    usd = _in_dollars(_invoice(lago, 4_000))
    other_org, other_client = other
    theirs = _invoice(other_client, 500)
    _overdue(clock, run_jobs)
    first = lago.payment_requests.create(_request("acme", [a1]))
    clock.set("2026-11-20T01:00:00Z")
    second = lago.payment_requests.create(_request("acme", [a2]))
    clock.set("2026-11-20T02:00:00Z")
    dollars = lago.payment_requests.create(_request("acme", [usd]))
    clock.set("2026-11-20T03:00:00Z")
    bares = lago.payment_requests.create(_request("bare", [b1]))
    mine = other_client.payment_requests.create(_request("acme", [theirs]))

    everything = lago.payment_requests.find_all()
    assert [r.lago_id for r in everything["payment_requests"]] == [bares.lago_id, dollars.lago_id, second.lago_id,
                                                                  first.lago_id]
    assert everything["meta"]["total_count"] == 4
    acmes = lago.payment_requests.find_all({"external_customer_id": "acme", "per_page": 2})
    assert [r.lago_id for r in acmes["payment_requests"]] == [dollars.lago_id, second.lago_id]
    assert acmes["meta"] == {"current_page": 1, "next_page": 2, "prev_page": None, "total_pages": 2,
                             "total_count": 3}
    page_two = lago.payment_requests.find_all({"external_customer_id": "acme", "per_page": 2, "page": 2})
    assert [r.lago_id for r in page_two["payment_requests"]] == [first.lago_id]
    assert page_two["payment_requests"][0].invoices.__root__[0].lago_id == a1
    assert [r.lago_id for r in lago.payment_requests.find_all({"currency": "USD"})["payment_requests"]] == \
        [dollars.lago_id]
    assert lago.payment_requests.find_all({"payment_status": "succeeded"})["payment_requests"] == []
    assert lago.payment_requests.find_all({"external_customer_id": "nobody"})["meta"]["total_count"] == 0

    # A customer's own list (Lago's /customers/:external_id/payment_requests; the client sends no key: raw HTTP).
    bare_list = _call(live_server, org, "GET", "/customers/bare/payment_requests").json()
    assert [r["lago_id"] for r in bare_list["payment_requests"]] == [bares.lago_id]
    assert _call(live_server, org, "GET", "/customers/bare/payment_requests?payment_status=succeeded").json()[
        "payment_requests"] == []
    assert _call(live_server, org, "GET", "/customers/nobody/payment_requests").json()["code"] == \
        "customer_not_found"

    # Tenant walls: the other organization sees its own request only, and cannot read ours.
    theirs_listed = other_client.payment_requests.find_all({"external_customer_id": "acme"})
    assert [r.lago_id for r in theirs_listed["payment_requests"]] == [mine.lago_id]
    status, error = _refused(other_client.payment_requests.find, first.lago_id)
    assert (status, error["code"]) == (404, "payment_request_not_found")
    assert _call(live_server, other_org, "GET", "/customers/bare/payment_requests").status_code == 404


# -- The invoices list's overdue filter ----------------------------------------------------------------------------


def test_the_invoices_list_filters_on_payment_overdue(org, lago, acme, clock, run_jobs, live_server, other):
    late = _invoice(lago, 1_000)
    other_org, other_client = other
    _invoice(other_client, 500)
    _overdue(clock, run_jobs)
    recent = _invoice(lago, 2_000)

    def ids(**params) -> list[str]:
        return [i.lago_id for i in lago.invoices.find_all(params)["invoices"]]

    assert ids(payment_overdue="true") == [late]
    assert ids(payment_overdue="false") == [recent]
    assert ids(payment_overdue="true", external_customer_id="bare") == []
    assert sorted(ids()) == sorted([late, recent])
    assert ids(payment_overdue="") == ids()
    assert lago.invoices.find(late).payment_overdue is True and lago.invoices.find(recent).payment_overdue is False
    answer = _call(live_server, org, "GET", "/invoices", params={"payment_overdue": "1", "per_page": 1})
    assert [i["lago_id"] for i in answer.json()["invoices"]] == [late]
    assert answer.json()["invoices"][0]["payment_overdue"] is True
    assert answer.json()["meta"]["total_count"] == 1
