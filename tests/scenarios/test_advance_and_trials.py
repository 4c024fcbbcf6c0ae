"""Advance subscription fees and trials, end to end through lago-python-client, amounts to the cent."""

from __future__ import annotations

import pytest
from lago_python_client.models import BillableMetric, Charge, Customer, Event, Plan, Subscription

from billing.clock import run_billing_clock

pytestmark = pytest.mark.both_stores  # the SQL store, then ClickHouse (tests/conftest.py)


def _catalog(lago, *, pay_in_advance: bool, trial_period: float | None = None) -> None:
    calls = lago.billable_metrics.create(BillableMetric(name="Calls", code="calls", aggregation_type="count_agg"))
    lago.plans.create(Plan(name="Pro", code="pro", interval="monthly", amount_cents=3000, amount_currency="EUR",
                           pay_in_advance=pay_in_advance, trial_period=trial_period,
                           charges=[Charge(billable_metric_id=calls.lago_id, charge_model="standard",
                                           properties={"amount": "0.10"})]))
    lago.customers.create(Customer(external_id="cust", currency="EUR", timezone="UTC"))


def _invoices(lago):
    found = lago.invoices.find_all({"external_customer_id": "cust"})["invoices"]
    return sorted((i.issuing_date, i.fees_amount_cents, sorted((f.item.code, f.amount_cents) for f in i.fees.__root__))
                   for i in found)


def test_advance_plan_bills_its_fee_when_it_starts(lago, clock, run_jobs):
    clock.set("2026-11-10T09:00:00Z")
    _catalog(lago, pay_in_advance=True)
    lago.subscriptions.create(Subscription(external_customer_id="cust", plan_code="pro", external_id="sub"))
    run_jobs()
    # 21 of 30 November days, at once: 3000 × 21 / 30 = 2100.
    assert _invoices(lago) == [("2026-11-10", 2100, [("pro", 2100)])]
    lago.events.create(Event(transaction_id="e1", external_subscription_id="sub", code="calls"))
    clock.set("2026-12-01T00:30:00Z")
    run_billing_clock(fan_out=False)
    run_billing_clock(fan_out=False)
    # December's fee in advance, with November's usage in arrears, on one invoice.
    assert _invoices(lago)[1] == ("2026-12-01", 3010, [("calls", 10), ("pro", 3000)])
    assert len(_invoices(lago)) == 2


def test_trial_days_are_free_in_arrears(lago, clock):
    clock.set("2026-11-01T00:00:00Z")
    _catalog(lago, pay_in_advance=False, trial_period=14)
    lago.subscriptions.create(Subscription(external_customer_id="cust", plan_code="pro", external_id="sub"))
    lago.events.create(Event(transaction_id="e1", external_subscription_id="sub", code="calls"))  # trial usage bills
    clock.set("2026-12-01T00:30:00Z")
    run_billing_clock(fan_out=False)
    # Trial 1–14 November; the fee covers 15–30: 3000 × 16 / 30 = 1600.
    assert _invoices(lago) == [("2026-12-01", 1610, [("calls", 10), ("pro", 1600)])]


def test_advance_plan_with_trial_bills_when_the_trial_ends(lago, clock):
    clock.set("2026-11-01T00:00:00Z")
    _catalog(lago, pay_in_advance=True, trial_period=14)
    lago.subscriptions.create(Subscription(external_customer_id="cust", plan_code="pro", external_id="sub"))
    clock.set("2026-11-10T00:00:00Z")
    assert run_billing_clock(fan_out=False).invoices == []  # still in trial
    clock.set("2026-11-15T00:30:00Z")
    run_billing_clock(fan_out=False)
    assert _invoices(lago) == [("2026-11-15", 1600, [("pro", 1600)])]
    assert lago.subscriptions.find("sub").trial_ended_at == "2026-11-15T00:00:00Z"


def test_anniversary_billing_follows_the_subscription_date(lago, clock):
    clock.set("2026-01-31T10:00:00Z")
    _catalog(lago, pay_in_advance=False)
    lago.subscriptions.create(Subscription(external_customer_id="cust", plan_code="pro", external_id="sub",
                                           billing_time="anniversary"))
    sub = lago.subscriptions.find("sub")
    # NOTE: the 31st does not exist in February: the period ends on its last day (BILLING.md).
    assert (sub.current_billing_period_started_at, sub.current_billing_period_ending_at) == (
        "2026-01-31T00:00:00Z", "2026-02-27T23:59:59Z")
    clock.set("2026-03-31T01:00:00Z")
    run_billing_clock(fan_out=False)
    periods = sorted((i.billing_periods.__root__[0].subscription_from_datetime, i.fees_amount_cents)
                     for i in lago.invoices.find_all({"external_customer_id": "cust"})["invoices"])
    # Started on its period's first day: no proration; a 28-day and a 31-day period, both whole.
    assert periods == [("2026-01-31T10:00:00Z", 3000), ("2026-02-28T00:00:00Z", 3000)]


def test_yearly_plan_with_monthly_charges(lago, clock):
    clock.set("2026-01-01T00:00:00Z")
    calls = lago.billable_metrics.create(BillableMetric(name="Calls", code="calls", aggregation_type="count_agg"))
    lago.plans.create(Plan(name="Year", code="year", interval="yearly", amount_cents=120000, amount_currency="EUR",
                           bill_charges_monthly=True,
                           charges=[Charge(billable_metric_id=calls.lago_id, charge_model="standard",
                                           properties={"amount": "1"})]))
    lago.customers.create(Customer(external_id="cust", currency="EUR", timezone="UTC"))
    lago.subscriptions.create(Subscription(external_customer_id="cust", plan_code="year", external_id="sub"))
    lago.events.create(Event(transaction_id="jan", external_subscription_id="sub", code="calls",
                             timestamp="2026-01-15T00:00:00Z"))
    lago.events.create(Event(transaction_id="feb", external_subscription_id="sub", code="calls",
                             timestamp="2026-02-15T00:00:00Z"))
    clock.set("2026-02-10T00:00:00Z")
    usage = lago.customers.current_usage("cust", "sub")
    assert (usage.from_datetime, usage.amount_cents) == ("2026-02-01T00:00:00Z", 100)  # February's event only
    clock.set("2026-03-01T01:00:00Z")
    run_billing_clock(fan_out=False)
    billed = sorted((i.billing_periods.__root__[0].charges_from_datetime, i.fees_amount_cents)
                    for i in lago.invoices.find_all({"external_customer_id": "cust"})["invoices"])
    assert billed == [("2026-01-01T00:00:00Z", 100), ("2026-02-01T00:00:00Z", 100)]  # the yearly fee comes in 2027
