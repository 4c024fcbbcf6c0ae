"""Edits of a parent plan reaching its overridden (child) plans with Lago's `cascade_updates`, through
lago-python-client, every invoice amount to the cent.

November has 30 days; plans are billed in arrears, calendar months, customers in UTC. Two customers
have overrides of the "basic" plan (3000 a month, calls at 0.10): A overrides the fee (1500), B the
price of calls (0.02); C is on the plan itself.
"""

from __future__ import annotations

import httpx
import pytest
from lago_python_client.models import BillableMetric, Charge, Customer, Event, Plan, Subscription

from billing.clock import run_billing_clock

pytestmark = pytest.mark.both_stores  # the SQL store, then ClickHouse (tests/conftest.py)


@pytest.fixture
def overridden(lago, clock):
    clock.set("2026-11-01T00:00:00Z")
    calls = lago.billable_metrics.create(BillableMetric(name="Calls", code="calls", aggregation_type="count_agg"))
    lago.billable_metrics.create(BillableMetric(name="Storage", code="storage", aggregation_type="sum_agg",
                                                field_name="gb"))
    lago.plans.create(Plan(name="Basic", code="basic", amount_cents=3000, amount_currency="EUR", interval="monthly",
                           charges=[Charge(billable_metric_id=calls.lago_id, charge_model="standard",
                                           properties={"amount": "0.10"})]))
    charge_id = lago.plans.find("basic").charges.__root__[0].lago_id
    for customer, overrides in (("a", {"amount_cents": 1500}),
                                ("b", {"charges": [{"id": charge_id, "properties": {"amount": "0.02"}}]}),
                                ("c", None)):
        lago.customers.create(Customer(external_id=customer, currency="EUR", timezone="UTC"))
        lago.subscriptions.create(Subscription(external_customer_id=customer, plan_code="basic",
                                               external_id=f"sub-{customer}", plan_overrides=overrides))
    clock.set("2026-11-10T00:00:00Z")
    return lago


def _metric_id(lago, code: str) -> str:
    return lago.billable_metrics.find(code).lago_id


def _use(lago, *, calls: int = 3, gb: str | None = None) -> None:
    for customer in "abc":
        for n in range(calls):
            lago.events.create(Event(transaction_id=f"{customer}-call-{n}", external_subscription_id=f"sub-{customer}",
                                     code="calls"))
        if gb is not None:
            lago.events.create(Event(transaction_id=f"{customer}-gb", external_subscription_id=f"sub-{customer}",
                                     code="storage", properties={"gb": gb}))


def _december_invoices(lago, clock) -> dict[str, list[tuple[str, int]]]:
    clock.set("2026-12-01T00:30:00Z")
    run_billing_clock(fan_out=False)
    bills = {}
    for customer in "abc":
        (invoice,) = lago.invoices.find_all({"external_customer_id": customer})["invoices"]
        bills[customer] = sorted((f.item.code, f.amount_cents) for f in invoice.fees.__root__)
    return bills


def test_cascaded_edit_reaches_inherited_values_and_keeps_overridden_ones(overridden, clock):
    lago = overridden
    charge_id = lago.plans.find("basic").charges.__root__[0].lago_id
    lago.plans.update(Plan(amount_cents=4000, cascade_updates=True,
                           charges=[Charge(id=charge_id, billable_metric_id=_metric_id(lago, "calls"),
                                           charge_model="standard", properties={"amount": "0.20"})]), "basic")
    # A kept its own fee and took the new price of calls; B kept its own price of calls and took the new fee.
    assert int(lago.subscriptions.find("sub-a").plan_amount_cents) == 1500
    assert int(lago.subscriptions.find("sub-b").plan_amount_cents) == 4000
    _use(lago)
    assert _december_invoices(lago, clock) == {
        "a": [("basic", 1500), ("calls", 60)],   # 3 calls × 0.20
        "b": [("basic", 4000), ("calls", 6)],    # 3 calls × 0.02
        "c": [("basic", 4000), ("calls", 60)],
    }


def test_charges_added_to_and_removed_from_the_parent_follow_in_children(overridden, clock):
    lago = overridden
    lago.plans.update(Plan(cascade_updates=True, charges=[Charge(
        billable_metric_id=_metric_id(lago, "storage"), charge_model="standard", properties={"amount": "0.5"},
        min_amount_cents=0)]), "basic")
    _use(lago, gb="10.25")
    # Calls are gone from every plan (B's own price of them too); storage is 10.25 GB × 0.5 = 5.125 → 513.
    assert _december_invoices(lago, clock) == {
        "a": [("basic", 1500), ("storage", 513)],
        "b": [("basic", 3000), ("storage", 513)],
        "c": [("basic", 3000), ("storage", 513)],
    }


def test_without_cascade_updates_children_keep_their_terms(overridden, clock):
    lago = overridden
    calls_id = lago.plans.find("basic").charges.__root__[0].lago_id
    lago.plans.update(Plan(amount_cents=4000, charges=[
        Charge(id=calls_id, billable_metric_id=_metric_id(lago, "calls"), charge_model="standard",
               properties={"amount": "0.20"}),
        Charge(billable_metric_id=_metric_id(lago, "storage"), charge_model="standard",
               properties={"amount": "0.5"})]), "basic")
    lago.plans.update(Plan(amount_cents=4500, cascade_updates=False), "basic")
    _use(lago, gb="2")
    assert _december_invoices(lago, clock) == {
        "a": [("basic", 1500), ("calls", 30)],   # the fee, price and charges of the day it was overridden
        "b": [("basic", 3000), ("calls", 6)],
        "c": [("basic", 4500), ("calls", 60), ("storage", 100)],
    }


def test_a_cascade_updates_that_is_not_a_boolean_is_refused_with_nothing_changed(overridden, live_server, org):
    response = httpx.put(f"{live_server}/api/v1/plans/basic",
                         json={"plan": {"amount_cents": 4000, "cascade_updates": "yes"}},
                         headers={"Authorization": f"Bearer {org.api_key}"})
    assert response.status_code == 422
    assert response.json() == {"status": 422, "error": "Unprocessable Entity", "code": "validation_errors",
                               "error_details": {"cascade_updates": ["invalid_type"]}}
    assert overridden.plans.find("basic").amount_cents == 3000
