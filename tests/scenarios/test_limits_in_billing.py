"""Values that once broke billing: a backdated subscription, amounts past what an invoice can hold, long trials."""

from __future__ import annotations

import httpx
import pytest
from lago_python_client.models import BillableMetric, Charge, Customer, Event, Plan, Subscription

from billing.clock import run_billing_clock
from billing.validation import MAX_DAYS

pytestmark = pytest.mark.both_stores  # the SQL store, then ClickHouse (tests/conftest.py)


def _catalog(lago, *, amount: str = "0.10", pay_in_advance: bool = False, trial_period: float | None = None) -> None:
    metric = lago.billable_metrics.create(BillableMetric(name="Storage", code="gb", aggregation_type="sum_agg",
                                                         field_name="gb"))
    lago.plans.create(Plan(name="Pro", code="pro", interval="monthly", amount_cents=3000, amount_currency="EUR",
                           pay_in_advance=pay_in_advance, trial_period=trial_period,
                           charges=[Charge(billable_metric_id=metric.lago_id, charge_model="standard",
                                           properties={"amount": amount})]))
    lago.customers.create(Customer(external_id="cust", currency="EUR", timezone="UTC"))


def _invoices(lago) -> list[tuple]:
    found = lago.invoices.find_all({"external_customer_id": "cust"})["invoices"]
    return sorted((i.issuing_date, i.fees_amount_cents, sorted((f.item.code, f.amount_cents) for f in i.fees.__root__))
                  for i in found)


@pytest.mark.parametrize("pay_in_advance", [False, True])
def test_a_backdated_subscription_bills_from_the_period_of_its_creation(lago, clock, run_jobs, pay_in_advance):
    """Lago's rule (docs/billing.md, Limits): periods that ended before the subscription was created are not
    invoiced; before, a subscription_at in 1970 issued one invoice per month since then (683)."""
    clock.set("2026-11-10T09:00:00Z")
    _catalog(lago, pay_in_advance=pay_in_advance)
    lago.subscriptions.create(Subscription(external_customer_id="cust", plan_code="pro", external_id="sub",
                                           subscription_at="1970-01-02T00:00:00Z"))
    run_jobs()
    assert run_billing_clock(fan_out=False).invoices == []
    assert _invoices(lago) == []
    lago.events.create(Event(transaction_id="e1", external_subscription_id="sub", code="gb", properties={"gb": 2}))
    clock.set("2026-12-01T00:30:00Z")
    run_billing_clock(fan_out=False)
    run_jobs()
    # One invoice: November's usage, and the fee of November (in arrears) or of December (in advance).
    assert _invoices(lago) == [("2026-12-01", 3020, [("gb", 20), ("pro", 3000)])]


def test_a_backdated_subscription_terminated_now_bills_its_current_period_only(lago, clock):
    clock.set("2026-11-16T00:00:00Z")
    _catalog(lago)
    lago.subscriptions.create(Subscription(external_customer_id="cust", plan_code="pro", external_id="sub",
                                           subscription_at="2020-03-01T00:00:00Z"))
    lago.subscriptions.destroy("sub")
    # 1–15 November of 30 days: 3000 × 15 / 30.
    assert _invoices(lago) == [("2026-11-16", 1500, [("gb", 0), ("pro", 1500)])] or \
        _invoices(lago) == [("2026-11-16", 1500, [("pro", 1500)])]


def test_the_longest_trial_terminates(lago, clock):
    """Before: a trial of 1e9 days was accepted and termination answered 500 (OverflowError)."""
    clock.set("2026-11-01T00:00:00Z")
    _catalog(lago, trial_period=MAX_DAYS)
    lago.subscriptions.create(Subscription(external_customer_id="cust", plan_code="pro", external_id="sub"))
    clock.set("2026-11-20T00:00:00Z")
    assert lago.subscriptions.destroy("sub").status == "terminated"
    assert _invoices(lago) == [("2026-11-20", 0, [("gb", 0), ("pro", 0)])] or \
        [i[1] for i in _invoices(lago)] in ([0], [])


def test_a_fee_beyond_the_amount_limit_fails_that_billing_with_a_reason(lago, clock, live_server, org):
    """Each value in range, their product is not: termination answers 422 (not 500) and writes nothing,
    the clock names the subscription; the subscription stays as it was."""
    from billing.db import read_only
    from billing.invoicing.amounts import AmountOutOfRange
    from billing.invoicing.models import Invoice
    from billing.invoicing.runs import bill_subscription

    clock.set("2026-11-01T00:00:00Z")
    _catalog(lago, amount="999999999999999")
    lago.subscriptions.create(Subscription(external_customer_id="cust", plan_code="pro", external_id="sub"))
    lago.events.create(Event(transaction_id="e1", external_subscription_id="sub", code="gb",
                             properties={"gb": 999999999999999}))
    clock.set("2026-11-20T00:00:00Z")
    headers = {"Authorization": f"Bearer {org.api_key}"}
    usage = httpx.get(f"{live_server}/api/v1/customers/cust/current_usage",
                      params={"external_subscription_id": "sub"}, headers=headers)
    assert usage.status_code == 200
    response = httpx.delete(f"{live_server}/api/v1/subscriptions/sub", headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["error_details"] == {"base": ["amount_out_of_range"]}
    assert lago.subscriptions.find("sub").status == "active"
    clock.set("2026-12-01T00:30:00Z")
    subscription_id = lago.subscriptions.find("sub").lago_id
    with pytest.raises(AmountOutOfRange, match=subscription_id):
        bill_subscription(subscription_id=subscription_id, at=clock.now())
    with read_only() as session:
        assert session.query(Invoice).count() == 0
