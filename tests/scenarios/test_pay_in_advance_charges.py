"""Pay-in-advance charges (a fee per event), driven through the official lago-python-client.

Worked examples (docs/billing.md, Pay-in-advance charges):
- standard at EUR 0.50 per call, 3 events → 3 finalized invoices of 50 cents each, numbered;
- graduated: 0..2 at EUR 1, 3.. at EUR 0.10 (per unit); events of 1, then 3 units → 100, then
  price(4) − price(1) = (2 × 100 + 2 × 10) − 100 = 120 (the second event crosses the tier boundary);
- not invoiceable: fees (listed by /fees) without invoices;
- the period-end invoice bills none of them again; an event sent twice bills once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from lago_python_client.models import BillableMetric, Charge, Customer, Event, Plan, Subscription, WebhookEndpoint
from sqlalchemy import select

from billing.clock import run_billing_clock
from billing.db import read_only
from billing.webhooks.models import WebhookDelivery

pytestmark = pytest.mark.both_stores  # the SQL store, then ClickHouse (tests/conftest.py)

START = "2026-11-01T00:00:00Z"


def _setup(lago, clock, charge: dict, metric: dict | None = None):
    clock.set(START)
    lago.customers.create(Customer(external_id="cust", name="Cust", currency="EUR", timezone="UTC"))
    metric = lago.billable_metrics.create(BillableMetric(**(metric or {
        "name": "Calls", "code": "calls", "aggregation_type": "count_agg"})))
    plan = lago.plans.create(Plan(name="Usage", code="usage", interval="monthly", amount_cents=1000,
                                  amount_currency="EUR", pay_in_advance=False,
                                  charges=[Charge(billable_metric_id=metric.lago_id, **charge)]))
    lago.subscriptions.create(Subscription(external_customer_id="cust", plan_code="usage", external_id="sub"))
    return plan


def _send(lago, transaction_id: str, code: str = "calls", **properties):
    lago.events.create(Event(transaction_id=transaction_id, external_subscription_id="sub", code=code,
                             timestamp=datetime(2026, 11, 5, tzinfo=UTC).timestamp(), properties=properties))


def _invoices(lago):
    return sorted(lago.invoices.find_all({"external_customer_id": "cust"})["invoices"], key=lambda i: i.number)


def test_standard_charge_issues_an_invoice_per_event(lago, clock, run_jobs):
    plan = _setup(lago, clock, {"charge_model": "standard", "pay_in_advance": True, "invoiceable": True,
                                "properties": {"amount": "0.5"}})
    assert plan.charges.__root__[0].pay_in_advance is True and plan.charges.__root__[0].invoiceable is True
    for i in range(3):
        _send(lago, f"t{i}")
    _send(lago, "t1")  # the same event again: accepted, billed once
    run_jobs()
    run_jobs()  # a second run finds nothing new
    invoices = _invoices(lago)
    assert [(i.status, i.fees_amount_cents, i.total_amount_cents) for i in invoices] == [("finalized", 50, 50)] * 3
    assert len({i.number for i in invoices}) == 3
    fees = [i.fees.__root__[0] for i in invoices]
    assert {f.pay_in_advance for f in fees} == {True}
    assert sorted(f.event_transaction_id for f in fees) == ["t0", "t1", "t2"]
    assert [f.units for f in fees] == ["1", "1", "1"] or [float(f.units) for f in fees] == [1.0, 1.0, 1.0]

    # The period-end invoice bills the subscription fee only: the charge's usage is paid already.
    clock.set("2026-12-01T01:00:00Z")
    run_billing_clock(fan_out=False)
    invoices = _invoices(lago)
    assert len(invoices) == 4
    period_end = [i for i in invoices if i.fees_amount_cents == 1000]
    assert len(period_end) == 1 and [f.item.type for f in period_end[0].fees.__root__] == ["subscription"]


def test_graduated_charge_crossing_a_tier(lago, clock, run_jobs):
    _setup(lago, clock, {"charge_model": "graduated", "pay_in_advance": True, "properties": {"graduated_ranges": [
        {"from_value": 0, "to_value": 2, "per_unit_amount": "1", "flat_amount": "0"},
        {"from_value": 3, "to_value": None, "per_unit_amount": "0.10", "flat_amount": "0"}]}},
        {"name": "Seats", "code": "seats", "aggregation_type": "sum_agg", "field_name": "n"})
    _send(lago, "a", code="seats", n=1)
    _send(lago, "b", code="seats", n=3)
    run_jobs()
    assert sorted(i.total_amount_cents for i in _invoices(lago)) == [100, 120]


def test_not_invoiceable_records_fees_without_invoice(lago, clock, run_jobs, live_server, org):
    _setup(lago, clock, {"charge_model": "standard", "pay_in_advance": True, "invoiceable": False,
                         "properties": {"amount": "0.5"}})
    lago.webhook_endpoints.create(WebhookEndpoint(webhook_url="https://hooks.example.com/lago",
                                                  signature_algo="hmac"))
    _send(lago, "x")
    _send(lago, "y")
    run_jobs()
    assert _invoices(lago) == []
    fees = httpx.get(f"{live_server}/api/v1/fees", params={"external_subscription_id": "sub"},
                     headers={"Authorization": f"Bearer {org.api_key}"}).json()["fees"]
    assert sorted((f["event_transaction_id"], f["amount_cents"], f["lago_invoice_id"], f["invoiceable"])
                  for f in fees) == [("x", 50, None, False), ("y", 50, None, False)]
    assert lago.fees.find(fees[0]["lago_id"]).amount_cents == 50
    with read_only() as session:
        bodies = [json.loads(d.body) for d in session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.webhook_type == "fee.created"))]
    assert sorted(b["fee"]["event_transaction_id"] for b in bodies) == ["x", "y"]
    assert {b["object_type"] for b in bodies} == {"fee"}


def test_pay_in_advance_refused_where_lago_refuses_it(lago, clock, live_server, org):
    clock.set(START)
    metric = lago.billable_metrics.create(BillableMetric(name="Peak", code="peak", aggregation_type="max_agg",
                                                         field_name="n"))
    answer = httpx.post(f"{live_server}/api/v1/plans", headers={"Authorization": f"Bearer {org.api_key}"}, json={
        "plan": {"name": "P", "code": "p", "interval": "monthly", "amount_cents": 0, "amount_currency": "EUR",
                 "charges": [{"billable_metric_id": metric.lago_id, "charge_model": "standard", "pay_in_advance": True,
                              "properties": {"amount": "1"}}]}})
    assert answer.status_code == 422
    assert answer.json()["error_details"]["charges.0"]["pay_in_advance"] == ["invalid_aggregation_type_or_charge_model"]


def test_a_rerun_from_an_old_watermark_neither_loses_nor_duplicates(lago, clock, run_jobs):
    from sqlalchemy import func, select, update

    from billing.db import read_only, unit_of_work
    from billing.invoicing import advance
    from billing.invoicing.models import Fee, Invoice
    from billing.metering.models import RollupWatermark

    _setup(lago, clock, {"charge_model": "standard", "pay_in_advance": True, "properties": {"amount": "0.5"}})
    _send(lago, "a")
    _send(lago, "b")
    run_jobs()
    # As if the job had been killed after its fees committed but before the watermark moved.
    with unit_of_work() as uow:
        uow.session.execute(update(RollupWatermark).where(RollupWatermark.name == advance.WATERMARK)
                            .values(last_event_id=0))
    assert advance.bill_advance_charges() > 0
    with read_only() as session:
        assert session.scalar(select(func.count()).select_from(Fee).where(Fee.pay_in_advance.is_(True))) == 2
        assert session.scalar(select(func.count()).select_from(Invoice)) == 2


def test_a_sum_bills_only_what_raises_the_period_total_above_its_highest(lago, clock, run_jobs):
    _setup(lago, clock, {"charge_model": "standard", "pay_in_advance": True, "properties": {"amount": "1"}},
           {"name": "Seats", "code": "seats", "aggregation_type": "sum_agg", "field_name": "n"})
    for transaction_id, seats in (("a", 5), ("b", -3), ("c", 4), ("d", 2)):
        _send(lago, transaction_id, code="seats", n=seats)
    run_jobs()
    # totals 5, 2, 6, 8: billed 5, 0 (down), 1 (6 − highest 5), 2 → invoices of 500, 100, 200
    assert sorted(i.total_amount_cents for i in _invoices(lago)) == [100, 200, 500]
