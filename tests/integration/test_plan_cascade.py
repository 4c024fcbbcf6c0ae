"""`update_plan(cascade_updates=True)` value by value, through the services: which child plans follow,
charge filters, charge models, and what stays in the database for old invoices."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from billing.catalog.metrics import create_billable_metric
from billing.catalog.models import BillableMetricFilter, Charge, Plan
from billing.catalog.services import create_plan, get_plan, update_plan
from billing.clock import run_billing_clock
from billing.customers.services import upsert_customer
from billing.db import read_only
from billing.errors import ValidationFailed
from billing.invoicing.models import Fee
from billing.lifecycle import create_subscription, terminate_subscription
from billing.metering.services import ingest_events
from billing.subscriptions.models import Subscription


@pytest.fixture
def storage(org, clock):
    """A "storage" plan (1000 a month) pricing GB by region: default 0.10, eu 0.50."""
    clock.set("2026-11-01T00:00:00Z")
    metric = create_billable_metric(organization_id=org.id, data={
        "name": "Storage", "code": "gb", "aggregation_type": "sum_agg", "field_name": "gb",
        "filters": [{"key": "region", "values": ["eu", "us", "asia"]}]})
    create_plan(organization_id=org.id, data={
        "name": "Storage", "code": "storage", "interval": "monthly", "amount_cents": 1000, "amount_currency": "EUR",
        "charges": [{"billable_metric_id": metric.id, "charge_model": "standard", "properties": {"amount": "0.10"},
                     "filters": [{"values": {"region": ["eu"]}, "properties": {"amount": "0.50"}}]}]})
    return metric


def _subscribe(org, external_id: str, overrides: dict | None = None, **extra) -> None:
    upsert_customer(organization_id=org.id, data={"external_id": external_id, "timezone": "UTC"})
    create_subscription(organization_id=org.id, data={"external_customer_id": external_id, "plan_code": "storage",
                                                      "external_id": external_id, "plan_overrides": overrides,
                                                      **extra})


def _terms(org, external_id: str) -> tuple[int, list]:
    """A live subscription's plan: its fee, and per charge its model, properties and filters."""
    with read_only() as session:
        subscription = session.scalar(select(Subscription).where(
            Subscription.organization_id == org.id, Subscription.external_id == external_id))
        plan = subscription.plan
        return plan.amount_cents, [
            (c.billable_metric.code, c.charge_model, c.properties,
             sorted((f.values["region"][0], f.properties["amount"], f.invoice_display_name) for f in c.filters))
            for c in plan.charges]


def _charge(org, **changes) -> dict:
    """The storage plan's only charge as `update_plan` data, with `changes`."""
    charge = get_plan(organization_id=org.id, code="storage").charges[0]
    return {"id": charge.id, "billable_metric_id": charge.billable_metric_id, "charge_model": charge.charge_model,
            "properties": charge.properties, **changes}


def test_filters_follow_where_inherited_and_stay_where_overridden(org, storage):
    charge_id = get_plan(organization_id=org.id, code="storage").charges[0].id
    _subscribe(org, "inherits", {"amount_cents": 900})
    _subscribe(org, "own-eu", {"charges": [{"id": charge_id, "filters": [
        {"values": {"region": ["eu"]}, "properties": {"amount": "0.40"}},
        {"values": {"region": ["asia"]}, "properties": {"amount": "0.70"}}]}]})
    update_plan(organization_id=org.id, code="storage", cascade_updates=True, data={"charges": [_charge(
        org, filters=[{"values": {"region": ["eu"]}, "properties": {"amount": "0.60"}, "invoice_display_name": "EU"},
                      {"values": {"region": ["us"]}, "properties": {"amount": "0.30"}}])]})
    assert _terms(org, "inherits") == (900, [("gb", "standard", {"amount": "0.10"}, [
        ("eu", "0.60", "EU"), ("us", "0.30", None)])])
    # Its own eu price stays, the filter new to the parent joins, and its own asia filter stays.
    assert _terms(org, "own-eu") == (1000, [("gb", "standard", {"amount": "0.10"}, [
        ("asia", "0.70", None), ("eu", "0.40", None), ("us", "0.30", None)])])

    # A filter the parent drops leaves every child that has it, overridden price or not (as Lago); a filter
    # new to the parent for values the child already prices on its own leaves the child's price alone.
    update_plan(organization_id=org.id, code="storage", cascade_updates=True, data={"charges": [_charge(
        org, filters=[{"values": {"region": ["us"]}, "properties": {"amount": "0.35"}},
                      {"values": {"region": ["asia"]}, "properties": {"amount": "0.90"}}])]})
    assert _terms(org, "inherits")[1][0][3] == [("asia", "0.90", None), ("us", "0.35", None)]
    assert _terms(org, "own-eu")[1][0][3] == [("asia", "0.70", None), ("us", "0.35", None)]


def test_a_filter_the_child_removed_stays_removed(org, storage):
    charge_id = get_plan(organization_id=org.id, code="storage").charges[0].id
    _subscribe(org, "no-filters", {"charges": [{"id": charge_id, "filters": []}]})
    update_plan(organization_id=org.id, code="storage", cascade_updates=True,
                data={"charges": [_charge(org, properties={"amount": "0.20"}, filters=[
                    {"values": {"region": ["eu"]}, "properties": {"amount": "0.55"}}])]})
    assert _terms(org, "no-filters") == (1000, [("gb", "standard", {"amount": "0.20"}, [])])


def test_a_change_of_charge_model_does_not_cascade(org, storage):
    _subscribe(org, "child", {"amount_cents": 900})
    update_plan(organization_id=org.id, code="storage", cascade_updates=True, data={"charges": [_charge(
        org, charge_model="package", properties={"amount": "5", "package_size": 10, "free_units": 0}, filters=[])]})
    assert _terms(org, "child") == (900, [("gb", "standard", {"amount": "0.10"}, [("eu", "0.50", None)])])


def test_only_children_of_live_subscriptions_follow(org, storage, clock):
    _subscribe(org, "ended", {"amount_cents": 900})
    _subscribe(org, "pending", {"name": "Later"}, subscription_at="2027-01-01T00:00:00Z")
    clock.set("2026-11-05T00:00:00Z")
    terminate_subscription(organization_id=org.id, external_id="ended")
    update_plan(organization_id=org.id, code="storage", cascade_updates=True,
                data={"amount_cents": 1200, "charges": [_charge(org, properties={"amount": "0.20"})]})
    with read_only() as session:
        ended = session.scalar(select(Subscription).where(Subscription.external_id == "ended"))
        assert ended.status == "terminated" and ended.plan.amount_cents == 900
        assert ended.plan.charges[0].properties == {"amount": "0.10"}
    assert _terms(org, "pending") == (1200, [("gb", "standard", {"amount": "0.20"}, [("eu", "0.50", None)])])


def test_a_removed_charge_stays_in_the_database_for_the_invoices_that_billed_it(org, storage, clock):
    _subscribe(org, "child", {"amount_cents": 900})
    _subscribe(org, "parent")
    ingest_events(organization_id=org.id, raw_events=[
        {"transaction_id": f"t-{sub}", "external_subscription_id": sub, "code": "gb", "properties": {"gb": "4"}}
        for sub in ("child", "parent")])
    clock.set("2026-12-01T00:30:00Z")
    run_billing_clock(fan_out=False)
    update_plan(organization_id=org.id, code="storage", cascade_updates=True, data={"charges": []})
    assert _terms(org, "child") == (900, []) and _terms(org, "parent") == (1000, [])
    with read_only() as session:
        fees = session.scalars(select(Fee).where(Fee.charge_id.is_not(None))).all()
        assert sorted(f.amount_cents for f in fees) == [40, 40]  # 4 GB × 0.10, each plan's own charge
        charges = session.scalars(select(Charge).where(Charge.id.in_([f.charge_id for f in fees]))).all()
        assert len(charges) == 2 and all(c.deleted_at is not None for c in charges)


def test_a_cascade_updates_that_is_not_a_boolean_is_refused(org, storage):
    _subscribe(org, "child", {"amount_cents": 900})
    with pytest.raises(ValidationFailed) as refused:
        update_plan(organization_id=org.id, code="storage", cascade_updates="true", data={"amount_cents": 1})
    assert refused.value.details == {"cascade_updates": ["invalid_type"]}
    assert get_plan(organization_id=org.id, code="storage").amount_cents == 1000


def test_an_invalid_edit_cascades_nothing(org, storage):
    _subscribe(org, "child", {"name": "Own"})
    with pytest.raises(ValidationFailed):
        update_plan(organization_id=org.id, code="storage", cascade_updates=True,
                    data={"amount_cents": 1200, "charges": [_charge(org, properties={"amount": "-1"})]})
    assert _terms(org, "child")[0] == 1000
    with read_only() as session:
        assert session.scalar(select(BillableMetricFilter.key)) == "region"
        assert len(session.scalars(select(Plan).where(Plan.parent_id.is_not(None))).all()) == 1


def _charge_flags(org, external_id: str) -> list[tuple]:
    with read_only() as session:
        subscription = session.scalar(select(Subscription).where(
            Subscription.organization_id == org.id, Subscription.external_id == external_id))
        return sorted((c.billable_metric.code, c.pay_in_advance, c.invoiceable, c.invoice_display_name)
                      for c in subscription.plan.charges)


def test_pay_in_advance_and_invoicing_flags_do_not_cascade_but_come_with_an_added_charge(org, storage):
    """Lago cascades a charge's model-checked properties and filters only (Charges::UpdateService in cascade
    mode); `pay_in_advance`, `invoiceable`, the display name stay the child's. A charge added to the parent
    comes to the child whole, flags included (Charges::CreateChildrenService)."""
    _subscribe(org, "child", {"amount_cents": 900})
    seats = create_billable_metric(organization_id=org.id, data={
        "name": "Seats", "code": "seats", "aggregation_type": "unique_count_agg", "field_name": "user",
        "recurring": True})
    update_plan(organization_id=org.id, code="storage", cascade_updates=True, data={"charges": [
        _charge(org, pay_in_advance=True, invoiceable=False, invoice_display_name="Storage paid ahead",
                properties={"amount": "0.20"}),
        {"billable_metric_id": seats.id, "charge_model": "standard", "properties": {"amount": "5"},
         "pay_in_advance": True, "invoiceable": False}]})
    assert _charge_flags(org, "child") == [("gb", False, True, None), ("seats", True, False, None)]
    # The inherited price followed; the parent's own terms changed.
    assert _terms(org, "child")[1][0][2] == {"amount": "0.20"}
    parent = {c.billable_metric.code: c for c in get_plan(organization_id=org.id, code="storage").charges}
    assert (parent["gb"].pay_in_advance, parent["gb"].invoiceable) == (True, False)
