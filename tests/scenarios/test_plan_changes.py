"""Upgrades, downgrades and plan overrides through lago-python-client, every amount to the cent.

November has 30 days; plans are billed in arrears, calendar months, customer in UTC.
"""

from __future__ import annotations

import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import BillableMetric, Charge, Customer, Event, Plan, Subscription

from billing.clock import run_billing_clock

pytestmark = pytest.mark.both_stores  # the SQL store, then ClickHouse (tests/conftest.py)


@pytest.fixture
def catalog(lago, clock):
    clock.set("2026-11-01T00:00:00Z")
    calls = lago.billable_metrics.create(BillableMetric(name="Calls", code="calls", aggregation_type="count_agg"))
    for code, amount, unit in (("basic", 3000, "0.10"), ("pro", 6000, "0.05"), ("yearly_basic", 30000, "0.10")):
        lago.plans.create(Plan(name=code.title(), code=code, amount_cents=amount, amount_currency="EUR",
                               interval="yearly" if code.startswith("yearly") else "monthly",
                               charges=[Charge(billable_metric_id=calls.lago_id, charge_model="standard",
                                               properties={"amount": unit})]))
    lago.customers.create(Customer(external_id="cust", currency="EUR", timezone="UTC"))
    return lago


def _invoices(lago):
    found = lago.invoices.find_all({"external_customer_id": "cust"})["invoices"]
    return sorted((i.issuing_date, sorted((f.item.code, f.amount_cents) for f in i.fees.__root__)) for i in found)


def _call(lago, n: int) -> None:
    lago.events.create(Event(transaction_id=f"call-{n}", external_subscription_id="sub", code="calls"))


def test_upgrade_is_immediate_with_a_prorated_final_invoice(catalog, clock):
    lago = catalog
    lago.subscriptions.create(Subscription(external_customer_id="cust", plan_code="basic", external_id="sub"))
    clock.set("2026-11-10T11:00:00Z")
    _call(lago, 1)
    clock.set("2026-11-10T12:00:00Z")
    upgraded = lago.subscriptions.create(Subscription(external_customer_id="cust", plan_code="pro",
                                                      external_id="sub"))
    assert (upgraded.plan_code, upgraded.status, upgraded.previous_plan_code) == ("pro", "active", "basic")
    assert upgraded.started_at == "2026-11-10T12:00:00Z"
    _call(lago, 2)
    clock.set("2026-12-01T00:30:00Z")
    run_billing_clock(fan_out=False)
    # Basic, 1–10 November: 3000 × 10/30 = 1000, one call at 0.10. Pro, 10–30 November: 21 days
    # (the change day counts for both, as Lago counts days): 6000 × 21/30 = 4200, one call at 0.05.
    assert _invoices(lago) == [("2026-11-10", [("basic", 1000), ("calls", 10)]),
                               ("2026-12-01", [("calls", 5), ("pro", 4200)])]


def test_downgrade_waits_for_the_end_of_the_period(catalog, clock):
    lago = catalog
    lago.subscriptions.create(Subscription(external_customer_id="cust", plan_code="pro", external_id="sub"))
    clock.set("2026-11-10T00:00:00Z")
    current = lago.subscriptions.create(Subscription(external_customer_id="cust", plan_code="basic",
                                                     external_id="sub"))
    assert (current.plan_code, current.next_plan_code, current.downgrade_plan_date) == ("pro", "basic",
                                                                                        "2026-12-01")
    _call(lago, 1)  # still on pro
    clock.set("2026-12-01T00:30:00Z")
    run_billing_clock(fan_out=False)
    now = lago.subscriptions.find("sub")
    assert (now.plan_code, now.status, now.started_at) == ("basic", "active", "2026-12-01T00:00:00Z")
    _call(lago, 2)
    clock.set("2027-01-01T00:30:00Z")
    run_billing_clock(fan_out=False)
    assert _invoices(lago) == [("2026-12-01", [("calls", 5), ("pro", 6000)]),
                               ("2027-01-01", [("basic", 3000), ("calls", 10)])]


def test_changing_a_pending_subscription_just_swaps_its_plan(catalog, clock):
    lago = catalog
    lago.subscriptions.create(Subscription(external_customer_id="cust", plan_code="pro", external_id="sub",
                                           subscription_at="2026-12-01T00:00:00Z"))
    changed = lago.subscriptions.create(Subscription(external_customer_id="cust", plan_code="basic",
                                                     external_id="sub"))
    assert (changed.status, changed.plan_code) == ("pending", "basic")


def test_overrides_make_a_child_plan_for_one_customer(catalog, clock):
    lago = catalog
    base = lago.plans.find("basic")
    charge_id = base.charges.__root__[0].lago_id
    created = lago.subscriptions.create(Subscription(
        external_customer_id="cust", plan_code="basic", external_id="sub",
        plan_overrides={"amount_cents": 1500, "name": "Basic for BigCustomer",
                        "charges": [{"id": charge_id, "properties": {"amount": "0.02"}}]}))
    assert created.plan_code == "basic" and int(created.plan_amount_cents) == 1500
    _call(lago, 1)
    clock.set("2026-12-01T00:30:00Z")
    run_billing_clock(fan_out=False)
    assert _invoices(lago) == [("2026-12-01", [("basic", 1500), ("calls", 2)])]
    # The parent plan is unchanged for everyone else, and the override is not a plan of its own.
    assert lago.plans.find("basic").amount_cents == 3000
    assert [p.code for p in lago.plans.find_all()["plans"]].count("basic") == 1


def test_bad_overrides_are_refused_whole(catalog):
    lago = catalog
    with pytest.raises(LagoApiError) as error:
        lago.subscriptions.create(Subscription(
            external_customer_id="cust", plan_code="basic", external_id="sub",
            plan_overrides={"amount_cents": -5, "charges": [{"id": "nope", "properties": {"amount": "1"}}]}))
    assert error.value.status_code == 422
    assert error.value.response["error_details"] == {"plan_overrides": {
        "amount_cents": ["value_is_out_of_range"], "charges.0": {"id": ["charge_not_found"]}}}
    with pytest.raises(LagoApiError):
        lago.subscriptions.find("sub")


def test_overrides_sent_again_keep_earlier_ones_and_hold_the_parent_plan(catalog, clock):
    lago = catalog
    charge_id = lago.plans.find("basic").charges.__root__[0].lago_id
    lago.subscriptions.create(Subscription(
        external_customer_id="cust", plan_code="basic", external_id="sub",
        plan_overrides={"charges": [{"id": charge_id, "properties": {"amount": "0.02"}}]}))
    updated = lago.subscriptions.update(Subscription(plan_overrides={"amount_cents": 1000}), "sub")
    assert int(updated.plan_amount_cents) == 1000
    _call(lago, 1)
    clock.set("2026-12-01T00:30:00Z")
    run_billing_clock(fan_out=False)
    assert _invoices(lago) == [("2026-12-01", [("basic", 1000), ("calls", 2)])]  # both overrides hold
    # The parent plan cannot be deleted while a customer's copy of it is live.
    with pytest.raises(LagoApiError) as error:
        lago.plans.destroy("basic")
    assert error.value.response["error_details"] == {"plan": ["plan_has_live_subscriptions"]}


def test_dates_out_of_range_are_refused_not_crashed(catalog):
    for bad in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1800-01-01T00:00:00Z"):
        with pytest.raises(LagoApiError) as error:
            catalog.subscriptions.create(Subscription(external_customer_id="cust", plan_code="basic",
                                                      external_id="sub", subscription_at=bad))
        assert error.value.status_code == 422


def test_recurring_seats_carry_over_an_upgrade(lago, clock):
    """Seats added before an upgrade are still held after it: the new plan bills them every period."""
    clock.set("2026-11-01T00:00:00Z")
    seats = lago.billable_metrics.create(BillableMetric(name="Seats", code="seats", aggregation_type="sum_agg",
                                                        field_name="seats", recurring=True))
    for code, amount, unit in (("team", 1000, "1"), ("business", 4000, "2")):
        lago.plans.create(Plan(name=code.title(), code=code, amount_cents=amount, amount_currency="EUR",
                               interval="monthly", charges=[Charge(billable_metric_id=seats.lago_id,
                                                                   charge_model="standard",
                                                                   properties={"amount": unit})]))
    lago.customers.create(Customer(external_id="cust", currency="EUR", timezone="UTC"))
    lago.subscriptions.create(Subscription(external_customer_id="cust", plan_code="team", external_id="sub"))
    clock.set("2026-11-03T09:00:00Z")
    lago.events.create(Event(transaction_id="seats-1", external_subscription_id="sub", code="seats",
                             properties={"seats": 5}))
    clock.set("2026-11-10T12:00:00Z")
    lago.subscriptions.create(Subscription(external_customer_id="cust", plan_code="business", external_id="sub"))
    usage = lago.customers.current_usage("cust", "sub")
    assert [(c.billable_metric.code, c.units, c.amount_cents) for c in usage.charges_usage] == [("seats", "5", 1000)]
    clock.set("2026-11-20T08:00:00Z")
    lago.events.create(Event(transaction_id="seats-2", external_subscription_id="sub", code="seats",
                             properties={"seats": 2}))
    for now in ("2026-12-01T00:30:00Z", "2027-01-01T00:30:00Z"):
        clock.set(now)
        run_billing_clock(fan_out=False)
    # Team, 1–10 November: 1000 × 10/30 = 333, 5 seats at €1. Business, 10–30 November: 4000 × 21/30 =
    # 2800, the 5 seats carried over and 2 more at €2 = €14; December: 4000 and still 7 seats, €14.
    assert _invoices(lago) == [("2026-11-10", [("seats", 500), ("team", 333)]),
                               ("2026-12-01", [("business", 2800), ("seats", 1400)]),
                               ("2027-01-01", [("business", 4000), ("seats", 1400)])]
