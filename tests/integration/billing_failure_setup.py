"""A real bad state among good subscriptions: a plan whose charge properties were corrupted in the database."""

from __future__ import annotations

from sqlalchemy import update

from billing.catalog.models import Charge, Plan
from billing.catalog.services import create_billable_metric, create_plan
from billing.customers.services import upsert_customer
from billing.db import unit_of_work
from billing.subscriptions.services import create_subscription

GOOD_PROPERTIES = {"amount": "0.01"}


def two_plans(organization_id: str) -> None:
    """`startup` and `broken`, the same 30.00 monthly plan with a 0.01 per call charge (until one is corrupted)."""
    metric = create_billable_metric(organization_id=organization_id,
                                    data={"name": "API calls", "code": "api_calls", "aggregation_type": "count_agg"})
    for code in ("startup", "broken"):
        create_plan(organization_id=organization_id, data={
            "name": code.capitalize(), "code": code, "interval": "monthly", "amount_cents": 3000,
            "amount_currency": "EUR", "charges": [{"billable_metric_id": metric.id, "charge_model": "standard",
                                                  "properties": GOOD_PROPERTIES}]})


def subscribe_to(organization_id: str, external_id: str, plan_code: str, *, at: str, **extra) -> str:
    customer = f"cust-{external_id}"
    upsert_customer(organization_id=organization_id, data={"external_id": customer, "name": f"Customer {external_id}"})
    return create_subscription(organization_id=organization_id, data={
        "external_customer_id": customer, "plan_code": plan_code, "external_id": external_id,
        "subscription_at": at, **extra}).id


def set_charge_properties(organization_id: str, plan_code: str, properties: dict) -> None:
    """Write the plan's charge properties straight into the database, past every validation (bad data)."""
    with unit_of_work() as uow:
        plan_id = uow.session.query(Plan.id).filter_by(organization_id=organization_id, code=plan_code).scalar()
        uow.session.execute(update(Charge).where(Charge.plan_id == plan_id).values(properties=properties))


def corrupt(organization_id: str, plan_code: str = "broken") -> None:
    set_charge_properties(organization_id, plan_code, {"amount": "twelve"})


def repair(organization_id: str, plan_code: str = "broken") -> None:
    set_charge_properties(organization_id, plan_code, GOOD_PROPERTIES)
