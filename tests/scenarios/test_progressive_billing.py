"""Progressive billing: plan usage thresholds, their invoices, the period-end deduction, lifetime usage.

Driven through the official lago-python-client (plans, subscriptions, events, invoices, lifetime usage).
Worked examples (docs/billing.md, Progressive billing): a metric `calls` (count) at EUR 1.00 per call, a plan of
EUR 10.00 a month billed in arrears, subscription started 2026-11-01 (UTC):
- thresholds 5.00 and 12.00: 6 calls (6.00) issue invoice #1 of 6.00; 4 more (10.00) cross nothing;
  3 more (13.00) issue invoice #2 of 13.00 − 6.00 = 7.00; the period end bills 10.00 + 13.00 − 13.00 = 10.00;
- a recurring 4.00 after a fixed 5.00: levels 5.00, 9.00, 13.00...; 14 calls at once bill one invoice (14.00);
- a subscription's plan_overrides carry their own thresholds.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from lago_python_client.models import (
    AppliedCoupon,
    BatchEvent,
    BillableMetric,
    Charge,
    Coupon,
    Customer,
    Event,
    Plan,
    Subscription,
    Tax,
    WebhookEndpoint,
)
from lago_python_client.models.usage_threshold import UsageThreshold, UsageThresholds
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from billing.catalog.usage_thresholds import plan_thresholds
from billing.clock import run_billing_clock
from billing.db import read_only, unit_of_work
from billing.invoicing import progressive
from billing.invoicing.lifetime_usage import read_lifetime_usage
from billing.invoicing.models import AppliedUsageThreshold
from billing.metering.models import RollupWatermark
from billing.subscriptions.models import Subscription as SubscriptionRow
from billing.webhooks.models import WebhookDelivery

pytestmark = pytest.mark.both_stores  # the SQL store, then ClickHouse (tests/conftest.py)

START = "2026-11-01T00:00:00Z"


def _setup(lago, clock, thresholds: list[dict], *, overrides: dict | None = None, taxes: bool = False):
    clock.set(START)
    lago.customers.create(Customer(external_id="cust", name="Cust", currency="EUR", timezone="UTC"))
    metric = lago.billable_metrics.create(BillableMetric(name="Calls", code="calls", aggregation_type="count_agg"))
    plan = lago.plans.create(Plan(
        name="Usage", code="usage", interval="monthly", amount_cents=1000, amount_currency="EUR",
        pay_in_advance=False, charges=[Charge(billable_metric_id=metric.lago_id, charge_model="standard",
                                              properties={"amount": "1"})],
        usage_thresholds=UsageThresholds(__root__=[UsageThreshold(**t) for t in thresholds])))
    subscription = {"external_customer_id": "cust", "plan_code": "usage", "external_id": "sub"}
    if overrides is not None:
        subscription["plan_overrides"] = overrides
    lago.subscriptions.create(Subscription(**subscription))
    return plan


def _send(lago, count: int, first: int = 0, day: int = 5):
    """`count` calls in one batch (one ingestion: the check sees them together)."""
    lago.events.batch_create(BatchEvent(events=[
        Event(transaction_id=f"t{i}", external_subscription_id="sub", code="calls",
              timestamp=datetime(2026, 11, day, tzinfo=UTC).timestamp(), properties={})
        for i in range(first, first + count)]))


def _invoices(lago, invoice_type: str | None = None):
    invoices = lago.invoices.find_all({"external_customer_id": "cust"})["invoices"]
    invoices = sorted(invoices, key=lambda i: i.sequential_id or 0)
    return [i for i in invoices if invoice_type is None or i.invoice_type == invoice_type]


def test_thresholds_issue_invoices_once_and_the_period_end_deducts_them(lago, clock, run_jobs):
    plan = _setup(lago, clock, [{"amount_cents": 500, "threshold_display_name": "First"}, {"amount_cents": 1200}])
    assert [(t.amount_cents, t.recurring, t.threshold_display_name) for t in plan.usage_thresholds.__root__] == [
        (500, False, "First"), (1200, False, None)]
    clock.set("2026-11-05T10:00:00Z")
    _send(lago, 6)
    run_jobs()
    run_jobs()  # nothing new: no second invoice
    [first] = _invoices(lago, "progressive_billing")
    assert (first.status, first.fees_amount_cents, first.progressive_billing_credit_amount_cents,
            first.total_amount_cents) == ("finalized", 600, 0, 600)
    assert [(a.lifetime_usage_amount_cents, a.usage_threshold.amount_cents)
            for a in first.applied_usage_thresholds.__root__] == [(600, 500)]
    assert lago.subscriptions.lifetime_usage("sub").current_usage_amount_cents == 600

    _send(lago, 4, first=6)  # 10.00: no threshold between 6.00 and 10.00
    run_jobs()
    assert len(_invoices(lago, "progressive_billing")) == 1

    _send(lago, 3, first=10)  # 13.00: passes 12.00
    run_jobs()
    first, second = _invoices(lago, "progressive_billing")
    assert (second.fees_amount_cents, second.progressive_billing_credit_amount_cents,
            second.sub_total_excluding_taxes_amount_cents, second.total_amount_cents) == (1300, 600, 700, 700)
    credit = second.credits.__root__[0]
    assert (credit.amount_cents, credit.item.type, credit.item.code) == (600, "invoice", first.number)

    usage = lago.subscriptions.lifetime_usage("sub")
    assert (usage.invoiced_usage_amount_cents, usage.current_usage_amount_cents) == (0, 1300)
    assert [(t.amount_cents, t.completion_ratio) for t in usage.usage_thresholds] == [(500, 1.0), (1200, 1.0)]
    assert all(t.reached_at for t in usage.usage_thresholds)

    # The period's invoice: the fee and 13.00 of usage, less the 13.00 already billed progressively.
    clock.set("2026-12-01T01:00:00Z")
    run_billing_clock(fan_out=False)
    [period_end] = _invoices(lago, "subscription")
    assert (period_end.fees_amount_cents, period_end.progressive_billing_credit_amount_cents,
            period_end.sub_total_excluding_taxes_amount_cents, period_end.total_amount_cents) == (2300, 1300, 1000,
                                                                                                  1000)
    assert sum(i.total_amount_cents for i in _invoices(lago)) == 600 + 700 + 1000  # 10.00 fee + 13 calls, once
    usage = lago.subscriptions.lifetime_usage("sub")
    assert (usage.invoiced_usage_amount_cents, usage.current_usage_amount_cents) == (1300, 0)
    run_jobs()
    assert len(_invoices(lago, "progressive_billing")) == 2  # the next period crosses nothing (1300 is billed)


def test_recurring_threshold_fires_at_each_multiple_beyond_the_fixed_one(lago, clock, run_jobs):
    _setup(lago, clock, [{"amount_cents": 500}, {"amount_cents": 400, "recurring": True}])
    clock.set("2026-11-05T10:00:00Z")
    _send(lago, 14)  # 14.00 at once: passes 5.00, 9.00 and 13.00: one invoice
    run_jobs()
    [first] = _invoices(lago, "progressive_billing")
    assert first.fees_amount_cents == 1400
    assert sorted((a.usage_threshold.amount_cents, a.usage_threshold.recurring)
                  for a in first.applied_usage_thresholds.__root__) == [(400, True), (500, False)]
    _send(lago, 2, first=14)  # 16.00: the next multiple is 17.00
    run_jobs()
    assert len(_invoices(lago, "progressive_billing")) == 1
    _send(lago, 1, first=16)  # 17.00
    run_jobs()
    second = _invoices(lago, "progressive_billing")[1]
    assert (second.fees_amount_cents, second.progressive_billing_credit_amount_cents,
            second.total_amount_cents) == (1700, 1400, 300)
    usage = lago.subscriptions.lifetime_usage("sub")
    assert [(t.amount_cents, t.completion_ratio) for t in usage.usage_thresholds][-2:] == [(1700, 1.0), (2100, 0.0)]
    with read_only() as session:
        levels = sorted(session.scalars(select(AppliedUsageThreshold.crossed_amount_cents)))
    assert levels == [500, 1300, 1700]


def test_plan_overrides_carry_their_own_thresholds(lago, clock, run_jobs, live_server, org):
    plan = _setup(lago, clock, [{"amount_cents": 500}], overrides={"usage_thresholds": [{"amount_cents": 300}]})
    shown = httpx.get(f"{live_server}/api/v1/subscriptions/sub", headers={"Authorization": f"Bearer {org.api_key}"})
    assert shown.json()["subscription"]["applicable_usage_thresholds"] == [
        {"threshold_display_name": None, "amount_cents": 300, "recurring": False}]
    assert [t.amount_cents for t in lago.plans.find("usage").usage_thresholds.__root__] == [500]
    assert plan.usage_thresholds.__root__[0].amount_cents == 500
    clock.set("2026-11-05T10:00:00Z")
    _send(lago, 4)  # 4.00: past the override's 3.00, not the plan's 5.00
    run_jobs()
    [invoice] = _invoices(lago, "progressive_billing")
    assert invoice.fees_amount_cents == 400
    assert invoice.applied_usage_thresholds.__root__[0].usage_threshold.amount_cents == 300

    # The plan's list is replaced by the one sent (the threshold of the same amount keeps its id); the
    # subscription's overridden plan keeps its own.
    before = {t.amount_cents: t.lago_id for t in lago.plans.find("usage").usage_thresholds.__root__}
    updated = lago.plans.update(Plan(usage_thresholds=UsageThresholds(__root__=[
        UsageThreshold(amount_cents=500), UsageThreshold(amount_cents=1000, recurring=True)])), "usage")
    assert [(t.amount_cents, t.recurring) for t in updated.usage_thresholds.__root__] == [(500, False), (1000, True)]
    assert updated.usage_thresholds.__root__[0].lago_id == before[500]
    assert lago.plans.update(Plan(name="Usage"), "usage").usage_thresholds.__root__[1].amount_cents == 1000
    _send(lago, 2, first=4)  # 6.00: past the plan's 5.00, but the subscription's thresholds are its own
    run_jobs()
    assert len(_invoices(lago, "progressive_billing")) == 1


def test_rerun_and_concurrent_evaluation_bill_a_crossing_once(lago, clock, run_jobs):
    _setup(lago, clock, [{"amount_cents": 500}])
    clock.set("2026-11-05T10:00:00Z")
    _send(lago, 6)
    run_jobs()
    assert len(_invoices(lago, "progressive_billing")) == 1
    with read_only() as session:
        subscription_id = session.scalar(select(SubscriptionRow.id).where(SubscriptionRow.external_id == "sub"))
    # A rerun (the job killed before its watermark moved): the crossing is billed already.
    with unit_of_work() as uow:
        uow.session.execute(update(RollupWatermark).where(RollupWatermark.name == progressive.WATERMARK)
                            .values(last_event_id=0))
    assert progressive.check_usage_thresholds().invoices == []
    assert progressive.evaluate_usage_thresholds(subscription_id=subscription_id) is None
    # A concurrent worker that read before the first one committed: it collides on the crossing, keeps nothing.
    with pytest.raises(IntegrityError), unit_of_work() as uow:
        subscription = uow.session.get(SubscriptionRow, subscription_id)
        usage = read_lifetime_usage(uow.session, subscription)
        crossing = progressive.Crossing(plan_thresholds(subscription.plan)[0], 500)
        progressive._issue(uow, subscription, usage, progressive.PeriodBilling(), [crossing])
    run_jobs()
    invoices = _invoices(lago)
    assert [(i.invoice_type, i.total_amount_cents) for i in invoices] == [("progressive_billing", 600)]


def test_historical_usage_counts_and_the_webhook_says_which_threshold(lago, clock, run_jobs, allow_private_webhooks):
    lago.webhook_endpoints.create(WebhookEndpoint(webhook_url="http://127.0.0.1:9/hooks", signature_algo="hmac"))
    _setup(lago, clock, [{"amount_cents": 2000, "threshold_display_name": "Twenty"}])
    usage = lago.subscriptions.update_lifetime_usage("sub", 1800)
    assert (usage.external_historical_usage_amount_cents, usage.current_usage_amount_cents) == (1800, 0)
    assert [(t.amount_cents, t.completion_ratio) for t in usage.usage_thresholds] == [(2000, 0.9)]
    clock.set("2026-11-05T10:00:00Z")
    _send(lago, 3)  # 18.00 + 3.00 passes 20.00
    run_jobs()
    [invoice] = _invoices(lago, "progressive_billing")
    assert invoice.fees_amount_cents == 300
    assert invoice.applied_usage_thresholds.__root__[0].lifetime_usage_amount_cents == 2100
    with read_only() as session:
        deliveries = [(d.webhook_type, json.loads(d.body)) for d in session.scalars(select(WebhookDelivery))]
    bodies = [body for kind, body in deliveries if kind == "subscription.usage_threshold_reached"]
    assert len(bodies) == 1
    reached = bodies[0]["subscription"]
    assert (reached["external_id"], reached["usage_threshold"]["amount_cents"],
            reached["usage_threshold"]["threshold_display_name"], reached["plan"]["code"],
            reached["customer"]["external_id"]) == ("sub", 2000, "Twenty", "usage", "cust")
    created = [body for kind, body in deliveries if kind == "invoice.created"]
    assert [d["invoice"]["invoice_type"] for d in created] == ["progressive_billing"]
    assert created[0]["invoice"]["subscriptions"][0]["external_id"] == "sub"


def test_coupons_and_taxes_apply_after_what_was_already_billed(lago, clock, run_jobs):
    """Lago's order: the period's progressive billing comes off first, then coupons, then taxes (on the rest)."""
    clock.set(START)
    lago.taxes.create(Tax(name="VAT", code="vat20", rate=20.0, applied_to_organization=True))
    lago.coupons.create(Coupon(name="One euro", code="one", coupon_type="fixed_amount", amount_cents=100,
                               amount_currency="EUR", frequency="recurring", frequency_duration=5,
                               expiration="no_expiration"))
    _setup(lago, clock, [{"amount_cents": 500}, {"amount_cents": 1000}])
    lago.applied_coupons.create(AppliedCoupon(external_customer_id="cust", coupon_code="one"))
    clock.set("2026-11-05T10:00:00Z")
    _send(lago, 6)
    run_jobs()
    _send(lago, 6, first=6)
    run_jobs()
    first, second = _invoices(lago, "progressive_billing")
    # 6.00 − 1.00 coupon = 5.00, + 20 % = 6.00
    assert (first.fees_amount_cents, first.coupons_amount_cents, first.taxes_amount_cents,
            first.total_amount_cents) == (600, 100, 100, 600)
    # 12.00 − 6.00 already billed − 1.00 coupon = 5.00, + 20 % = 6.00
    assert (second.fees_amount_cents, second.progressive_billing_credit_amount_cents, second.coupons_amount_cents,
            second.sub_total_excluding_taxes_amount_cents, second.taxes_amount_cents,
            second.total_amount_cents) == (1200, 600, 100, 500, 100, 600)
    clock.set("2026-12-01T01:00:00Z")
    run_billing_clock(fan_out=False)
    [period_end] = _invoices(lago, "subscription")
    # 10.00 fee + 12.00 usage − 12.00 already billed − 1.00 coupon = 9.00, + 20 % = 10.80
    assert (period_end.fees_amount_cents, period_end.progressive_billing_credit_amount_cents,
            period_end.coupons_amount_cents, period_end.taxes_amount_cents,
            period_end.total_amount_cents) == (2200, 1200, 100, 180, 1080)


def test_bad_thresholds_and_lifetime_usage_are_refused(lago, clock, live_server, org):
    clock.set(START)
    headers = {"Authorization": f"Bearer {org.api_key}"}
    plan = {"name": "P", "code": "p", "interval": "monthly", "amount_cents": 0, "amount_currency": "EUR"}
    for thresholds, details in [
        ([{"amount_cents": 0}], {"usage_thresholds.0.amount_cents": ["value_is_out_of_range"]}),
        ([{"recurring": True}], {"usage_thresholds.0.amount_cents": ["value_is_mandatory"]}),
        ([{"amount_cents": 1, "recurring": True}, {"amount_cents": 2, "recurring": True}],
         {"usage_thresholds": ["only_one_recurring_threshold"]}),
        ([{"amount_cents": 5}, {"amount_cents": 5}], {"usage_thresholds": ["value_already_exist"]}),
        ([{"amount_cents": 5, "color": "red"}], {"usage_thresholds.0.color": ["not_supported_yet"]}),
        ("many", {"usage_thresholds": ["invalid_type"]}),
    ]:
        answer = httpx.post(f"{live_server}/api/v1/plans", headers=headers,
                            json={"plan": {**plan, "usage_thresholds": thresholds}})
        assert answer.status_code == 422, answer.text
        assert answer.json()["error_details"] == details
    assert httpx.get(f"{live_server}/api/v1/plans/p", headers=headers).status_code == 404  # nothing written
    answer = httpx.get(f"{live_server}/api/v1/subscriptions/nope/lifetime_usage", headers=headers)
    assert answer.status_code == 404
    httpx.post(f"{live_server}/api/v1/plans", headers=headers, json={"plan": plan}).raise_for_status()
    httpx.post(f"{live_server}/api/v1/customers", headers=headers,
               json={"customer": {"external_id": "c", "name": "C"}}).raise_for_status()
    httpx.post(f"{live_server}/api/v1/subscriptions", headers=headers, json={"subscription": {
        "external_customer_id": "c", "plan_code": "p", "external_id": "s"}}).raise_for_status()
    answer = httpx.put(f"{live_server}/api/v1/subscriptions/s/lifetime_usage", headers=headers,
                       json={"lifetime_usage": {"external_historical_usage_amount_cents": -1}})
    assert answer.status_code == 422
    assert answer.json()["error_details"] == {"external_historical_usage_amount_cents": ["value_is_out_of_range"]}
    answer = httpx.get(f"{live_server}/api/v1/subscriptions/s/lifetime_usage", headers=headers)
    assert answer.json()["lifetime_usage"]["external_historical_usage_amount_cents"] == 0
    assert "usage_thresholds" not in answer.json()["lifetime_usage"]  # none on the plan (as Lago)
