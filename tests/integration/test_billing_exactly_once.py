"""An invoice exists once per subscription and period: reruns, concurrent clocks and killed jobs."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from billing.clock import run_billing_clock
from billing.db import read_only
from billing.invoicing import fees, queries, runs
from billing.invoicing.models import Fee, Invoice, InvoiceSubscription
from billing.metering.services import ingest_events
from tests.integration.helpers import monthly_plan, subscribe


def _count(model) -> int:
    with read_only() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_concurrent_billing_of_one_subscription_issues_one_invoice(org, clock):
    clock.set("2026-09-01T00:00:00Z")
    monthly_plan(org.id)
    subscription_id = subscribe(org.id, "sub-1", at="2026-09-01T00:00:00Z")
    at = datetime(2026, 10, 1, 1, tzinfo=UTC)
    results: list[list[str]] = []
    barrier = threading.Barrier(4)

    def bill() -> None:
        barrier.wait()
        results.append(runs.bill_subscription(subscription_id=subscription_id, at=at))

    threads = [threading.Thread(target=bill) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(len(r) for r in results) == [0, 0, 0, 1]
    assert _count(Invoice) == 1 and _count(InvoiceSubscription) == 1


def test_clock_catches_up_missed_runs_and_reruns_add_nothing(org, clock):
    clock.set("2026-06-15T00:00:00Z")
    monthly_plan(org.id)
    subscribe(org.id, "sub-1", at="2026-06-15T00:00:00Z")
    subscribe(org.id, "sub-2", at="2026-07-01T00:00:00Z")
    clock.set("2026-10-02T00:00:00Z")  # the clock did not run for months
    first = run_billing_clock(fan_out=False)
    assert len(first.invoices) == 4 + 3  # June (partial) to September, and July to September
    assert run_billing_clock(fan_out=False).invoices == []
    with read_only() as session:
        june = session.scalar(select(Invoice).join(InvoiceSubscription).where(
            InvoiceSubscription.from_datetime == datetime(2026, 6, 15, tzinfo=UTC)))
        assert june.fees_amount_cents == 1600  # 16 of 30 days of 3000


def test_a_job_killed_mid_invoice_leaves_nothing_and_the_rerun_completes(org, clock, monkeypatch):
    clock.set("2026-09-01T00:00:00Z")
    monthly_plan(org.id)
    subscription_id = subscribe(org.id, "sub-1", at="2026-09-01T00:00:00Z")
    ingest_events(organization_id=org.id, raw_events=[
        {"transaction_id": f"t{i}", "external_subscription_id": "sub-1", "code": "api_calls",
         "timestamp": "2026-09-10T00:00:00Z"} for i in range(7)])
    at = datetime(2026, 10, 1, 1, tzinfo=UTC)

    from billing.metering import period_usage

    real_charge_usage = period_usage.charge_usage

    def dies_after_the_subscription_fee(*args, **kwargs):
        raise SystemExit("worker killed")  # like a SIGTERM'd work horse, mid-transaction

    monkeypatch.setattr(fees, "charge_usage", dies_after_the_subscription_fee)
    with pytest.raises(SystemExit):
        runs.bill_subscription(subscription_id=subscription_id, at=at)
    assert _count(Invoice) == 0 and _count(Fee) == 0 and _count(InvoiceSubscription) == 0

    monkeypatch.setattr(fees, "charge_usage", real_charge_usage)
    [invoice_id] = runs.bill_subscription(subscription_id=subscription_id, at=at)
    invoice = queries.get_invoice(organization_id=org.id, invoice_id=invoice_id)
    assert invoice.fees_amount_cents == 3000 + 7
    assert invoice.status == "finalized" and invoice.number.endswith("-001")


def test_grace_period_keeps_a_draft_until_the_clock_finalizes_it(org, clock):
    from billing.customers.services import upsert_customer

    clock.set("2026-09-01T00:00:00Z")
    monthly_plan(org.id)
    subscribe(org.id, "sub-1", at="2026-09-01T00:00:00Z", customer="c1")
    upsert_customer(organization_id=org.id, data={"external_id": "c1", "invoice_grace_period": 3})
    clock.set("2026-10-01T02:00:00Z")
    [invoice_id] = run_billing_clock(fan_out=False).invoices
    draft = queries.get_invoice(organization_id=org.id, invoice_id=invoice_id)
    assert draft.status == "draft" and draft.number.endswith("-DRAFT") and draft.sequential_id is None

    clock.set("2026-10-03T23:00:00Z")
    run_billing_clock(fan_out=False)
    assert queries.get_invoice(organization_id=org.id, invoice_id=invoice_id).status == "draft"
    clock.set("2026-10-04T02:00:00Z")
    run_billing_clock(fan_out=False)
    final = queries.get_invoice(organization_id=org.id, invoice_id=invoice_id)
    assert final.status == "finalized" and final.number.endswith("-001-001")


def test_termination_also_bills_periods_the_clock_missed(org, clock):
    from billing.lifecycle import terminate_subscription

    clock.set("2026-09-01T00:00:00Z")
    monthly_plan(org.id)
    subscribe(org.id, "sub-1", at="2026-09-01T00:00:00Z")
    clock.set("2026-10-05T12:00:00Z")  # September ended, but no clock ran
    terminate_subscription(organization_id=org.id, external_id="sub-1")
    with read_only() as session:
        totals = sorted(session.scalars(select(Invoice.fees_amount_cents)))
    assert totals == [484, 3000]  # October 1..5 = 5 of 31 days: 3000 × 5 / 31 = 483.87 → 484
