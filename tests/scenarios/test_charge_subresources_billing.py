"""Charges edited one at a time bill as the plan says, to the cent: a subscription's charge overridden through
PUT /subscriptions/{id}/charges/{code} (and one of its filters through .../filters), a charge added to the plan
through POST /plans/{code}/charges, with lago-python-client.

November has 30 days; the plan ("cloud", 2000 a month in arrears, calendar months, customers in UTC) prices
storage by region: 0.10 a GB, eu 0.50. Customer A gets its own storage prices; B stays on the plan.
"""

from __future__ import annotations

import pytest
from lago_python_client.models import BillableMetric, Charge, Customer, Event, Plan, Subscription
from lago_python_client.models.charge import ChargeFilter, ChargeOverrides

from billing.clock import run_billing_clock

pytestmark = pytest.mark.both_stores  # the SQL store, then ClickHouse (tests/conftest.py)


def test_overridden_and_added_charges_bill_through_the_new_paths(lago, clock):
    clock.set("2026-11-01T00:00:00Z")
    storage = lago.billable_metrics.create(BillableMetric(
        name="Storage", code="storage", aggregation_type="sum_agg", field_name="gb",
        filters=[{"key": "region", "values": ["eu", "us"]}]))
    calls = lago.billable_metrics.create(BillableMetric(name="Calls", code="calls", aggregation_type="count_agg"))
    lago.plans.create(Plan(name="Cloud", code="cloud", amount_cents=2000, amount_currency="EUR", interval="monthly",
                           charges=[Charge(billable_metric_id=storage.lago_id, charge_model="standard",
                                           properties={"amount": "0.10"},
                                           filters=[ChargeFilter(values={"region": ["eu"]},
                                                                 properties={"amount": "0.50"})])]))
    for customer in "ab":
        lago.customers.create(Customer(external_id=customer, currency="EUR", timezone="UTC"))
        lago.subscriptions.create(Subscription(external_customer_id=customer, plan_code="cloud",
                                               external_id=f"sub-{customer}"))
    clock.set("2026-11-05T00:00:00Z")
    # A: storage at 0.05 a GB, a minimum of 3.00, eu at 0.40, and us priced apart at 0.20.
    lago.subscription_charges.update("sub-a", "storage", ChargeOverrides(properties={"amount": "0.05"},
                                                                         min_amount_cents=300))
    eu = next(f for f in lago.subscriptions.find_all_charge_filters("sub-a", "storage")["filters"]
              if f.values == {"region": ["eu"]})
    lago.subscriptions.update_charge_filter("sub-a", "storage", eu.lago_id, ChargeFilter(properties={"amount": "0.40"}))
    lago.subscriptions.create_charge_filter("sub-a", "storage", ChargeFilter(values={"region": ["us"]},
                                                                             properties={"amount": "0.20"}))
    # Calls join the plan for everyone (cascaded into A's own plan).
    lago.plan_charges.create("cloud", Charge(billable_metric_id=calls.lago_id, charge_model="graduated",
                                             cascade_updates=True, properties={"graduated_ranges": [
                                                 {"from_value": 0, "to_value": 2, "per_unit_amount": "0",
                                                  "flat_amount": "0"},
                                                 {"from_value": 3, "to_value": None, "per_unit_amount": "0.25",
                                                  "flat_amount": "1"}]}))

    clock.set("2026-11-10T00:00:00Z")
    for customer in "ab":
        for n, (region, gb) in enumerate((("eu", "10"), ("us", "7.5"), ("asia", "4"))):
            lago.events.create(Event(transaction_id=f"{customer}-gb-{n}", external_subscription_id=f"sub-{customer}",
                                     code="storage", properties={"gb": gb, "region": region}))
        for n in range(5):
            lago.events.create(Event(transaction_id=f"{customer}-call-{n}", external_subscription_id=f"sub-{customer}",
                                     code="calls"))

    clock.set("2026-12-01T00:30:00Z")
    run_billing_clock(fan_out=False)
    bills = {}
    for customer in "ab":
        (invoice,) = lago.invoices.find_all({"external_customer_id": customer})["invoices"]
        fees = invoice.fees.__root__
        bills[customer] = (sorted((f.item.code, f.amount_cents) for f in fees), invoice.fees_amount_cents)
    assert bills == {
        # eu 10 × 0.40 = 400; us 7.5 × 0.20 = 150; asia (no filter) 4 × 0.05 = 20: 570, over the 300 minimum;
        # calls: 2 free, then 1.00 + 3 × 0.25 = 175.
        "a": ([("calls", 175), ("cloud", 2000), ("storage", 20), ("storage", 150), ("storage", 400)], 2745),
        # eu 10 × 0.50 = 500; us and asia at 0.10: 7.5 + 4 = 11.5 GB → 115.
        "b": ([("calls", 175), ("cloud", 2000), ("storage", 115), ("storage", 500)], 2790),
    }
