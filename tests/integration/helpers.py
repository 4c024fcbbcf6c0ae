"""Catalog set-ups shared by integration tests (through the services, the way the API calls them)."""

from __future__ import annotations

from billing.catalog.metrics import create_billable_metric
from billing.catalog.services import create_plan
from billing.customers.services import upsert_customer
from billing.lifecycle import create_subscription


def monthly_plan(organization_id: str, *, code: str = "startup", amount_cents: int = 3000) -> None:
    metric = create_billable_metric(organization_id=organization_id,
                                    data={"name": "API calls", "code": "api_calls", "aggregation_type": "count_agg"})
    create_plan(organization_id=organization_id, data={
        "name": "Startup", "code": code, "interval": "monthly", "amount_cents": amount_cents,
        "amount_currency": "EUR",
        "charges": [{"billable_metric_id": metric.id, "charge_model": "standard", "properties": {"amount": "0.01"}}]})


def subscribe(organization_id: str, external_id: str, *, at: str, customer: str | None = None,
              timezone: str = "UTC") -> str:
    customer = customer or f"cust-{external_id}"
    upsert_customer(organization_id=organization_id, data={"external_id": customer, "timezone": timezone})
    return create_subscription(organization_id=organization_id, data={
        "external_customer_id": customer, "plan_code": "startup", "external_id": external_id,
        "subscription_at": at}).id


def run_scheduled_now(app) -> None:
    """With RQ, let time pass for jobs scheduled with a delay (the test's clock is frozen, RQ's is not)."""
    dispatcher = app.extensions["tally_dispatcher"]
    if not hasattr(dispatcher, "queue"):
        return
    from rq.job import Job
    from rq.registry import ScheduledJobRegistry

    registry = ScheduledJobRegistry(queue=dispatcher.queue)
    for job_id in registry.get_job_ids():
        registry.remove(job_id)
        dispatcher.queue.enqueue_job(Job.fetch(job_id, connection=dispatcher.connection))
