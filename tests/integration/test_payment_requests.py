"""Overdue invoices and payment requests on the payment core, with the in-memory provider.

An invoice becomes overdue once (the day after its due date), a payment request groups a customer's overdue
invoices of one currency, and one payment, charged or paid on the request's page, settles them all.
"""

from __future__ import annotations

import json

import pytest
from lago_python_client.models import AddOn, Customer, OneOffInvoice, WebhookEndpoint
from lago_python_client.models.invoice import InvoiceFee, InvoiceFeesList
from sqlalchemy import select

from billing.customers.models import Customer as CustomerRow
from billing.db import read_only
from billing.errors import NotAllowed, ValidationFailed
from billing.invoicing.models import Invoice
from billing.invoicing.overdue import mark_overdue_invoices
from billing.payments import customers, providers, queries, requests
from billing.payments import fake as fake_provider
from billing.payments.models import Payment, PaymentRequest
from billing.webhooks.models import WebhookDelivery

pytestmark = pytest.mark.usefixtures("allow_private_webhooks")


def _webhooks(webhook_type: str) -> list[dict]:
    with read_only() as session:
        return [json.loads(d.body) for d in session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.webhook_type == webhook_type).order_by(WebhookDelivery.created_at))]


@pytest.fixture
def acme(org, lago, run_jobs, clock):
    clock.set("2026-11-01T09:00:00Z")
    providers.connect_provider(organization_id=org.id, kind="fake", code="fake_main", settings={})
    lago.webhook_endpoints.create(WebhookEndpoint(webhook_url="http://127.0.0.1:9/hooks"))
    lago.add_ons.create(AddOn(name="Setup", code="setup", amount_cents=10_000, amount_currency="EUR"))
    lago.customers.create(Customer(external_id="acme", name="Acme", email="billing@acme.test", currency="EUR",
                                   net_payment_term=7,
                                   billing_configuration={"payment_provider": "fake",
                                                          "payment_provider_code": "fake_main",
                                                          "sync_with_provider": True}))
    run_jobs()
    with read_only() as session:
        return session.scalar(select(CustomerRow).where(CustomerRow.external_id == "acme"))


def _invoice(lago, amount_cents: int, currency: str = "EUR") -> str:
    fees = InvoiceFeesList(__root__=[InvoiceFee(add_on_code="setup", units=1, unit_amount_cents=amount_cents)])
    return lago.invoices.create(OneOffInvoice(external_customer_id="acme", currency=currency, fees=fees)).lago_id


def _row(invoice_id: str) -> Invoice:
    with read_only() as session:
        return session.get(Invoice, invoice_id)


def _card(org, customer, number: str):
    with read_only() as session:
        adapter = providers.adapter_for(session, org.id, "fake_main")
    return customers.save_new_method(organization_id=org.id, customer_id=customer.id,
                                     provider_method_id=adapter.tokenize_card(number))


def test_an_invoice_is_overdue_once_the_day_after_its_due_date_and_paying_clears_it(org, lago, acme, clock, run_jobs):
    invoice_id = _invoice(lago, 10_000)  # due 8 Nov (net 7)
    run_jobs()
    assert mark_overdue_invoices(at=clock.now()) == 0
    clock.set("2026-11-08T23:00:00Z")
    assert mark_overdue_invoices(at=clock.now()) == 0  # due today: not yet
    clock.set("2026-11-09T00:30:00Z")
    assert mark_overdue_invoices(at=clock.now()) == 1
    assert mark_overdue_invoices(at=clock.now()) == 0  # once
    assert _row(invoice_id).payment_overdue
    assert [w["invoice"]["payment_overdue"] for w in _webhooks("invoice.payment_overdue")] == [True]
    assert lago.invoices.find(invoice_id).payment_overdue is True
    _card(org, acme, fake_provider.CARD_OK)
    requests.request_overdue_payment(organization_id=org.id, customer_id=acme.id)
    run_jobs()
    row = _row(invoice_id)
    assert (row.payment_status, row.payment_overdue) == ("succeeded", False)


def test_a_request_groups_overdue_invoices_of_one_currency_and_one_charge_pays_them_all(org, lago, acme, clock,
                                                                                       run_jobs):
    first, second = _invoice(lago, 10_000), _invoice(lago, 2_550)
    run_jobs()  # their own collection found no card: they stay due
    clock.set("2026-11-20T00:00:00Z")
    mark_overdue_invoices(at=clock.now())
    _card(org, acme, fake_provider.CARD_OK)
    request = requests.create_payment_request(organization_id=org.id, data={
        "external_customer_id": "acme", "lago_invoice_ids": [first, second]})
    assert (request.amount_cents, request.currency, request.email) == (12_550, "EUR", "billing@acme.test")
    run_jobs()
    with read_only() as session:
        stored = session.get(PaymentRequest, request.id)
        [payment] = session.scalars(select(Payment).where(Payment.payment_request_id == request.id)).all()
        assert stored.payment_status == "succeeded"
        assert (payment.amount_cents, payment.status, payment.invoice_id) == (12_550, "succeeded", None)
    for invoice_id in (first, second):
        row = _row(invoice_id)
        assert (row.payment_status, row.total_due_amount_cents, row.payment_overdue) == ("succeeded", 0, False)
    assert [w["payment_request"]["payment_status"] for w in _webhooks("payment_request.payment_status_updated")] == \
        ["succeeded"]
    # Its one receipt is found through either invoice it paid, as its payment is.
    for invoice_id in (first, second):
        [receipt] = queries.list_receipts(organization_id=org.id, invoice_id=invoice_id).items
        assert receipt.payment.payment.id == payment.id
        [listed] = queries.list_payments(organization_id=org.id, invoice_id=invoice_id).items
        assert listed.payment.id == payment.id
    assert _webhooks("payment_request.created")[0]["payment_request"]["amount_cents"] == 12_550


def test_a_declined_request_is_paid_on_its_page_with_another_card(org, lago, acme, clock, run_jobs):
    first, second = _invoice(lago, 10_000), _invoice(lago, 4_000)
    run_jobs()
    clock.set("2026-11-20T00:00:00Z")
    mark_overdue_invoices(at=clock.now())
    _card(org, acme, fake_provider.CARD_DECLINED_AT_CHARGE)
    [request] = requests.request_overdue_payment(organization_id=org.id, customer_id=acme.id)
    run_jobs()
    assert requests.get_payment_request(organization_id=org.id, payment_request_id=request.id).payment_status == \
        "failed"
    assert _webhooks("payment_request.payment_failure")
    assert {_row(i).payment_status for i in (first, second)} == {"pending"}
    good = _card(org, acme, fake_provider.CARD_OK)
    attempt = requests.pay_payment_request(organization_id=org.id, payment_request_id=request.id,
                                           customer_id=acme.id, method_id=good.id)
    assert attempt.status == "succeeded"
    assert {_row(i).payment_status for i in (first, second)} == {"succeeded"}
    # Paid: the request's page charges nothing more.
    again = requests.pay_payment_request(organization_id=org.id, payment_request_id=request.id,
                                         customer_id=acme.id, method_id=good.id)
    assert again.reason == "nothing_due"


def test_a_request_takes_only_overdue_invoices_of_one_currency(org, lago, acme, clock):
    lago.add_ons.create(AddOn(name="Usd", code="usd", amount_cents=100, amount_currency="USD"))
    recent = _invoice(lago, 10_000)
    clock.set("2026-11-20T00:00:00Z")
    mark_overdue_invoices(at=clock.now())
    fresh = _invoice(lago, 500)
    with pytest.raises(NotAllowed) as not_overdue:
        requests.create_payment_request(organization_id=org.id, data={
            "external_customer_id": "acme", "lago_invoice_ids": [recent, fresh]})
    assert not_overdue.value.code == "invoices_not_overdue"
    with pytest.raises(ValidationFailed) as refused:
        requests.create_payment_request(organization_id=org.id, data={"external_customer_id": "acme"})
    assert "lago_invoice_ids" in refused.value.details
    with read_only() as session:
        assert session.scalar(select(PaymentRequest.id)) is None


def test_an_invoice_being_paid_on_its_own_is_not_charged_again_through_a_request(org, lago, acme, clock, run_jobs):
    invoice_id = _invoice(lago, 10_000)
    run_jobs()
    clock.set("2026-11-20T00:00:00Z")
    mark_overdue_invoices(at=clock.now())
    _card(org, acme, fake_provider.CARD_REQUIRES_ACTION)
    from billing.payments import collection

    assert collection.collect_invoice(organization_id=org.id, invoice_id=invoice_id).status == "requires_action"
    [request] = requests.request_overdue_payment(organization_id=org.id, customer_id=acme.id)
    run_jobs()
    attempt = requests.collect_payment_request(organization_id=org.id, payment_request_id=request.id)
    assert attempt.reason == "payment_in_progress"
    with read_only() as session:
        assert session.scalar(select(Payment.id).where(Payment.payment_request_id == request.id)) is None
