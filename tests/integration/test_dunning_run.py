"""The dunning run, hour by hour through the clock port: attempts made once, days apart, per currency
threshold, stopped by payment, never for an excluded customer, and never twice when runs race."""

from __future__ import annotations

import json
import threading

import pytest
from lago_python_client.models import AddOn, Customer, OneOffInvoice, WebhookEndpoint
from lago_python_client.models.invoice import InvoiceFee, InvoiceFeesList
from sqlalchemy import func, select

from billing.clock import run_billing_clock
from billing.customers.models import Customer as CustomerRow
from billing.customers.services import upsert_customer
from billing.db import read_only, unit_of_work
from billing.dunning import campaigns, runs
from billing.dunning.models import DunningAttempt
from billing.invoicing.models import Invoice
from billing.payments import customers, providers, requests
from billing.payments import fake as fake_provider
from billing.payments.models import Payment, PaymentRequest
from billing.webhooks.models import WebhookDelivery

pytestmark = pytest.mark.usefixtures("allow_private_webhooks")


def _webhooks(webhook_type: str) -> list[dict]:
    with read_only() as session:
        return [json.loads(d.body) for d in session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.webhook_type == webhook_type).order_by(WebhookDelivery.created_at))]


def _campaign(org, *, max_attempts=3, days=2, thresholds=(("EUR", 10_000), ("USD", 1_000)), default=True) -> str:
    return campaigns.create_campaign(organization_id=org.id, data={
        "code": "standard", "name": "Standard", "max_attempts": max_attempts, "days_between_attempts": days,
        "applied_to_organization": default,
        "thresholds": [{"currency": c, "amount_cents": a} for c, a in thresholds],
        "reminder_subject": "{organization_name}: {amount} is overdue",
        "reminder_message": "Hello {customer_name}, please pay {invoice_numbers}: {pay_link}"}).id


def _customer(lago, external_id: str, currency: str, **fields):
    lago.customers.create(Customer(external_id=external_id, name=external_id.title(), currency=currency,
                                   email=f"billing@{external_id}.test", net_payment_term=0,
                                   billing_configuration={"payment_provider": "fake",
                                                          "payment_provider_code": "fake_main",
                                                          "sync_with_provider": True}, **fields))


def _row(external_id: str) -> CustomerRow:
    with read_only() as session:
        return session.scalar(select(CustomerRow).where(CustomerRow.external_id == external_id))


def _invoice(lago, customer: str, amount_cents: int, currency: str) -> str:
    fees = InvoiceFeesList(__root__=[InvoiceFee(add_on_code=f"setup_{currency.lower()}", units=1,
                                                unit_amount_cents=amount_cents)])
    return lago.invoices.create(OneOffInvoice(external_customer_id=customer, currency=currency, fees=fees)).lago_id


def _card(org, external_id: str, number: str):
    customer = _row(external_id)
    with read_only() as session:
        adapter = providers.adapter_for(session, org.id, "fake_main")
    return customers.save_new_method(organization_id=org.id, customer_id=customer.id,
                                     provider_method_id=adapter.tokenize_card(number))


def _requests(external_id: str) -> list[PaymentRequest]:
    customer = _row(external_id)
    with read_only() as session:
        return list(session.scalars(select(PaymentRequest).where(PaymentRequest.customer_id == customer.id)
                                    .order_by(PaymentRequest.created_at)))


@pytest.fixture
def setup(org, lago, clock, run_jobs):
    clock.set("2026-11-01T09:00:00Z")
    providers.connect_provider(organization_id=org.id, kind="fake", code="fake_main", settings={})
    lago.webhook_endpoints.create(WebhookEndpoint(webhook_url="http://127.0.0.1:9/hooks"))
    for currency in ("EUR", "USD"):
        lago.add_ons.create(AddOn(name=f"Setup {currency}", code=f"setup_{currency.lower()}", amount_cents=100,
                                  amount_currency=currency))
    return org


def test_a_campaign_of_three_attempts_two_days_apart_stops_when_paid_by_the_emailed_link(setup, lago, clock,
                                                                                     run_jobs):
    org = setup
    _campaign(org)
    _customer(lago, "acme", "EUR")
    _customer(lago, "globex", "USD")
    run_jobs()
    eur = [_invoice(lago, "acme", 8_000, "EUR"), _invoice(lago, "acme", 4_000, "EUR")]
    _invoice(lago, "globex", 3_000, "USD")
    run_jobs()  # nothing to charge them with yet
    _card(org, "acme", fake_provider.CARD_DECLINED_AT_CHARGE)
    clock.set("2026-11-02T10:00:00Z")
    first = run_billing_clock(at=clock.now(), fan_out=False)
    assert first.overdue_marked == 3
    assert (len(first.dunning.attempted), first.dunning.requests) == (2, 2)
    run_jobs()
    [request] = _requests("acme")
    assert (request.amount_cents, request.currency, request.payment_status) == (12_000, "EUR", "failed")
    assert _requests("globex")[0].payment_status == "pending"  # no card: emailed the link
    # The same hour again, and a day later: nothing (not due yet).
    assert run_billing_clock(at=clock.now(), fan_out=False).dunning.attempted == []
    clock.set("2026-11-03T10:00:00Z")
    assert run_billing_clock(at=clock.now(), fan_out=False).dunning.attempted == []
    clock.set("2026-11-04T10:00:00Z")
    second = run_billing_clock(at=clock.now(), fan_out=False)
    assert sorted(second.dunning.attempted) == sorted([_row("acme").id, _row("globex").id])
    run_jobs()
    assert _row("acme").last_dunning_campaign_attempt == 2
    # Acme pays the second request on its page with another card: both EUR invoices are paid.
    good = _card(org, "acme", fake_provider.CARD_OK)
    latest = _requests("acme")[-1]
    assert requests.pay_payment_request(organization_id=org.id, payment_request_id=latest.id,
                                        customer_id=_row("acme").id, method_id=good.id).status == "succeeded"
    with read_only() as session:
        assert {session.get(Invoice, i).payment_status for i in eur} == {"succeeded"}
    clock.set("2026-11-06T10:00:00Z")
    third = run_billing_clock(at=clock.now(), fan_out=False)
    assert third.dunning.attempted == [_row("globex").id]  # acme paid: its campaign stops
    assert third.dunning.finished == 1  # globex reached its third attempt
    assert _row("acme").last_dunning_campaign_attempt == 0  # a new cycle for its next overdue invoice
    finished = _webhooks("dunning_campaign.finished")
    assert [w["dunning_campaign_finished"]["external_customer_id"] for w in finished] == ["globex"]
    clock.set("2026-11-20T10:00:00Z")
    assert run_billing_clock(at=clock.now(), fan_out=False).dunning.attempted == []  # attempts ran out
    assert len(_requests("globex")) == 3


def test_excluded_customers_and_amounts_below_the_threshold_start_nothing(setup, lago, clock, run_jobs):
    org = setup
    _campaign(org, thresholds=(("EUR", 10_000),))
    _customer(lago, "acme", "EUR")
    _customer(lago, "small", "EUR")
    run_jobs()
    upsert_customer(organization_id=org.id, data={"external_id": "acme", "exclude_from_dunning_campaign": True})
    _invoice(lago, "acme", 50_000, "EUR")
    _invoice(lago, "small", 9_999, "EUR")
    run_jobs()
    clock.set("2026-11-05T10:00:00Z")
    run = run_billing_clock(at=clock.now(), fan_out=False)
    assert run.overdue_marked == 2 and run.dunning.attempted == []
    with read_only() as session:
        assert session.scalar(select(func.count()).select_from(PaymentRequest)) == 0


def test_an_attempt_happens_once_when_two_runs_race(setup, lago, clock, run_jobs):
    org = setup
    _campaign(org)
    _customer(lago, "acme", "EUR")
    run_jobs()
    _invoice(lago, "acme", 20_000, "EUR")
    run_jobs()
    clock.set("2026-11-05T10:00:00Z")
    run_billing_clock(at=clock.now(), fan_out=False)  # marks it overdue, makes attempt 1
    with unit_of_work() as uow:  # pretend attempt 1 was two days ago, so attempt 2 is due for both racers
        customer = uow.session.scalar(select(CustomerRow).where(CustomerRow.external_id == "acme"))
        customer.last_dunning_campaign_attempt_at = clock.now().replace(day=3)
    acme = _row("acme")
    outcomes = []

    def race():
        outcomes.append(runs.attempt(organization_id=org.id, customer_id=acme.id, at=clock.now())[0])

    threads = [threading.Thread(target=race) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["attempted", "not_due"]
    with read_only() as session:
        assert session.scalar(select(func.count()).select_from(DunningAttempt)) == 2
        assert session.scalar(select(func.count()).select_from(PaymentRequest)) == 2
    assert _row("acme").last_dunning_campaign_attempt == 2
    run_jobs()
    with read_only() as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 0  # no card: emailed, not charged
