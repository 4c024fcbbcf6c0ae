"""Charge codes: given by the catalog as Lago does (the metric's code, then `_2`...), and given the same way to the
charges that existed before migration 0035 (its backfill), child plans' copies taking their parent's."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import sqlalchemy as sa

from billing import db
from billing.catalog.metrics import create_billable_metric
from billing.catalog.services import create_plan, get_plan, update_plan
from billing.customers.services import upsert_customer
from billing.lifecycle import create_subscription

MIGRATION = Path(__file__).parents[2] / "migrations" / "versions" / "0035_charge_codes.py"


def _migration():
    spec = importlib.util.spec_from_file_location("charge_codes_migration", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _codes() -> dict[str, str | None]:
    with db.engine().connect() as connection:
        return dict(connection.execute(sa.text("SELECT id, code FROM charges")).all())


def test_the_backfill_names_existing_charges_as_the_catalog_does(org, clock):
    clock.set("2026-11-01T00:00:00Z")
    calls = create_billable_metric(organization_id=org.id, data={"name": "Calls", "code": "calls",
                                                                 "aggregation_type": "count_agg"})
    gb = create_billable_metric(organization_id=org.id, data={"name": "GB", "code": "gb", "aggregation_type": "sum_agg",
                                                              "field_name": "gb"})
    standard = {"charge_model": "standard", "properties": {"amount": "1"}}
    plan = create_plan(organization_id=org.id, data={
        "name": "Pro", "code": "pro", "interval": "monthly", "amount_cents": 1000, "amount_currency": "EUR",
        "charges": [{"billable_metric_id": calls.id, **standard}]})
    for minute, metric in ((1, calls), (2, gb), (3, calls)):
        clock.set(f"2026-11-01T00:0{minute}:00Z")
        kept = [{"id": c.id} for c in get_plan(organization_id=org.id, code="pro").charges]
        update_plan(organization_id=org.id, code="pro",
                    data={"charges": [*kept, {"billable_metric_id": metric.id, **standard}]})
    plan = get_plan(organization_id=org.id, code="pro")
    assert [c.code for c in plan.charges] == ["calls", "calls_2", "gb", "calls_3"]
    # Deleting one frees its code: the next charge of that metric takes it.
    update_plan(organization_id=org.id, code="pro", data={"charges": [{"id": c.id} for c in plan.charges[:3]]})
    update_plan(organization_id=org.id, code="pro",
                data={"charges": [{"id": c.id} for c in plan.charges[:3]] + [{"billable_metric_id": calls.id,
                                                                               **standard}]})
    upsert_customer(organization_id=org.id, data={"external_id": "c1", "timezone": "UTC"})
    create_subscription(organization_id=org.id, data={
        "external_customer_id": "c1", "plan_code": "pro", "external_id": "s1",
        "plan_overrides": {"charges": [{"id": plan.charges[0].id, "properties": {"amount": "2"}}]}})
    given = _codes()
    assert sorted(c for c in given.values()) == sorted(
        ["calls", "calls_2", "gb", "calls_3", "calls_3", "calls", "calls_2", "gb", "calls_3"])

    with db.engine().begin() as connection:
        connection.execute(sa.text("UPDATE charges SET code = NULL"))
        _migration().backfill_codes(connection)
    backfilled = _codes()
    deleted = next(c.id for c in plan.charges[3:])
    assert backfilled[deleted] == "calls"  # a deleted charge's code names nothing: the metric's, unchecked
    assert {k: v for k, v in backfilled.items() if k != deleted} == {k: v for k, v in given.items() if k != deleted}
