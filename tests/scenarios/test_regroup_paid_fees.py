"""`regroup_paid_fees: invoice`: pay-in-advance fees without invoice, paid one by one, grouped on one paid
invoice when the period is billed (Lago's advance_charges invoice), through lago-python-client.

Calls at EUR 0.50 each, paid in advance, not invoiceable, 20 % VAT: each call is a fee of 0.50 + 0.10 VAT
without invoice. Rules: docs/billing.md, Pay-in-advance charges ("Paid fees regrouped").
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import BillableMetric, Charge, Customer, Event, Fee, Plan, Subscription, Tax
from sqlalchemy import func, select

from billing.clock import run_billing_clock
from billing.db import read_only
from billing.emails.models import EmailDelivery
from tests.smtp_sink import smtp  # noqa: F401  (a real SMTP sink: emails are queued)

pytestmark = pytest.mark.both_stores  # the SQL store, then ClickHouse (tests/conftest.py)


def _setup(lago, clock, run_jobs, calls: int = 3) -> list:
    clock.set("2026-11-01T00:00:00Z")
    lago.taxes.create(Tax(name="VAT", code="vat20", rate=20.0, applied_to_organization=True))
    metric = lago.billable_metrics.create(BillableMetric(name="Calls", code="calls", aggregation_type="count_agg"))
    plan = lago.plans.create(Plan(name="Usage", code="usage", interval="monthly", amount_cents=1000,
                                  amount_currency="EUR", charges=[Charge(
                                      billable_metric_id=metric.lago_id, charge_model="standard",
                                      pay_in_advance=True, invoiceable=False, regroup_paid_fees="invoice",
                                      properties={"amount": "0.5"})]))
    assert plan.charges.__root__[0].regroup_paid_fees == "invoice"
    lago.customers.create(Customer(external_id="cust", currency="EUR", timezone="UTC", email="cust@example.com"))
    lago.subscriptions.create(Subscription(external_customer_id="cust", plan_code="usage", external_id="sub"))
    clock.set("2026-11-05T10:00:00Z")
    for n in range(calls):
        lago.events.create(Event(transaction_id=f"c{n}", external_subscription_id="sub", code="calls",
                                 timestamp=datetime(2026, 11, 5, 9, n, tzinfo=UTC).timestamp()))
    run_jobs()
    fees = lago.fees.find_all({"external_customer_id": "cust"})["fees"]
    return sorted(fees, key=lambda f: f.event_transaction_id)


def _invoices(lago, invoice_type: str):
    found = lago.invoices.find_all({"external_customer_id": "cust"})["invoices"]
    return sorted((i for i in found if i.invoice_type == invoice_type), key=lambda i: i.number)


def _pay(lago, fee, status: str = "succeeded"):
    return lago.fees.update(Fee(payment_status=status), fee.lago_id)


@pytest.mark.usefixtures("smtp")
def test_paid_fees_are_grouped_on_one_paid_invoice_when_the_period_is_billed(lago, clock, run_jobs):
    fees = _setup(lago, clock, run_jobs)
    # Without invoice, each taxed as an invoice would be: 0.50 + 0.10.
    assert [(f.lago_invoice_id, f.amount_cents, f.taxes_amount_cents, f.payment_status) for f in fees] == [
        (None, 50, 10, "pending")] * 3
    clock.set("2026-11-06T08:00:00Z")
    paid = _pay(lago, fees[0])
    assert (paid.payment_status, paid.succeeded_at) == ("succeeded", "2026-11-06T08:00:00Z")
    _pay(lago, fees[1])
    _pay(lago, fees[2], "failed")

    clock.set("2026-12-01T00:30:00Z")
    run_billing_clock(fan_out=False)
    (grouped,) = _invoices(lago, "advance_charges")
    assert (grouped.status, grouped.payment_status, grouped.fees_amount_cents, grouped.taxes_amount_cents,
            grouped.total_amount_cents, grouped.total_due_amount_cents) == ("finalized", "succeeded", 100, 20, 120, 0)
    assert sorted(f.event_transaction_id for f in grouped.fees.__root__) == ["c0", "c1"]
    (periodic,) = _invoices(lago, "subscription")
    assert periodic.fees_amount_cents == 1000  # the subscription fee only: the calls were paid in advance
    with read_only() as session:  # a paid invoice is not emailed (Lago: no notification)
        emailed = session.execute(select(EmailDelivery.invoice_id)).scalars().all()
    assert grouped.lago_id not in emailed and periodic.lago_id in emailed

    run_jobs()
    pdf = httpx.get(lago.invoices.download(grouped.lago_id).file_url)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    # The failed one is paid later: it goes on the next period's grouped invoice.
    clock.set("2026-12-03T08:00:00Z")
    _pay(lago, fees[2])
    run_billing_clock(fan_out=False)
    assert len(_invoices(lago, "advance_charges")) == 1  # not before its next billing
    clock.set("2027-01-01T00:30:00Z")
    run_billing_clock(fan_out=False)
    run_billing_clock(fan_out=False)  # a rerun groups nothing twice
    later = _invoices(lago, "advance_charges")
    assert [(i.fees_amount_cents, i.total_amount_cents) for i in later] == [(100, 120), (50, 60)]

    with pytest.raises(LagoApiError) as invoiced:
        _pay(lago, fees[0], "failed")
    assert (invoiced.value.status_code, invoiced.value.response["code"]) == (405, "invoiced_fee")


def test_a_bad_payment_status_is_refused(lago, clock, run_jobs):
    fees = _setup(lago, clock, run_jobs, calls=1)
    with pytest.raises(LagoApiError) as refused:
        _pay(lago, fees[0], "paid")
    assert refused.value.status_code == 422
    assert refused.value.response["error_details"] == {"payment_status": ["value_is_invalid"]}


@pytest.mark.usefixtures("smtp")
def test_termination_groups_the_paid_fees_even_without_a_final_invoice(lago, clock, run_jobs):
    fees = _setup(lago, clock, run_jobs, calls=2)
    for fee in fees:
        _pay(lago, fee)
    clock.set("2026-11-10T00:00:00Z")
    lago.subscriptions.destroy("sub", {"on_termination_invoice": "skip"})
    (grouped,) = _invoices(lago, "advance_charges")
    assert (grouped.fees_amount_cents, grouped.total_amount_cents, grouped.payment_status) == (100, 120, "succeeded")
    assert _invoices(lago, "subscription") == []
    with read_only() as session:
        assert session.scalar(select(func.count()).select_from(EmailDelivery)) == 0


@pytest.mark.parametrize(("charge", "details"), [
    ({"pay_in_advance": True, "invoiceable": True, "regroup_paid_fees": "invoice"},
     {"regroup_paid_fees": ["only_compatible_with_pay_in_advance_and_non_invoiceable"]}),
    ({"pay_in_advance": False, "regroup_paid_fees": "invoice"},
     {"regroup_paid_fees": ["only_compatible_with_pay_in_advance_and_non_invoiceable"]}),
    ({"pay_in_advance": True, "invoiceable": False, "regroup_paid_fees": "statement"},
     {"regroup_paid_fees": ["value_is_invalid"]}),
])
def test_regroup_paid_fees_only_on_pay_in_advance_charges_without_invoice(lago, charge, details):
    metric = lago.billable_metrics.create(BillableMetric(name="Calls", code="calls", aggregation_type="count_agg"))
    with pytest.raises(LagoApiError) as refused:
        lago.plans.create(Plan(name="Usage", code="usage", interval="monthly", amount_cents=0, amount_currency="EUR",
                               charges=[Charge(billable_metric_id=metric.lago_id, charge_model="standard",
                                               properties={"amount": "1"}, **charge)]))
    assert refused.value.status_code == 422
    assert refused.value.response["error_details"] == {"charges.0": details}
