"""Advance subscription fees and trials, end to end through lago-python-client, amounts to the cent."""

from __future__ import annotations

from lago_python_client.models import BillableMetric, Charge, Customer, Event, Plan, Subscription

from billing.clock import run_billing_clock


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
