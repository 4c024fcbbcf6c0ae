"""Empty invoices and `finalize_zero_amount_invoice`, through lago-python-client (docs/billing.md, Invoicing).

An invoice whose fees are worth nothing before coupons is `closed` instead of finalized when its
customer says `skip` (or `inherit` from an organization that says not to finalize them): no
number, no `invoice.created`, not listed unless asked for, not in the portal; its period is billed
once all the same. One brought to zero by a coupon is not empty, and is finalized.
"""

from __future__ import annotations

import pytest
from lago_python_client.models import (
    AppliedCoupon,
    BillableMetric,
    Charge,
    Coupon,
    Customer,
    Event,
    Plan,
    Subscription,
    WebhookEndpoint,
)
from lago_python_client.models.customer import CustomerBillingConfiguration
from sqlalchemy import select, update

from billing.clock import run_billing_clock
from billing.db import read_only, unit_of_work
from billing.organizations.models import Organization
from billing.webhooks.models import WebhookDelivery

# The webhook endpoint of `_setup` is on 127.0.0.1 (port 9: every attempt fails), allowed only with this flag.
# both_stores: the SQL store, then ClickHouse (tests/conftest.py)
pytestmark = [pytest.mark.both_stores, pytest.mark.usefixtures("allow_private_webhooks")]


def _setup(lago, clock, customer: str, *, setting: str | None, amount_cents: int = 0, calls: int = 0,
           grace_days: int | None = None) -> None:
    clock.set("2026-11-01T00:00:00Z")
    if not lago.webhook_endpoints.find_all()["webhook_endpoints"]:
        lago.webhook_endpoints.create(WebhookEndpoint(webhook_url="http://127.0.0.1:9/hooks"))
        metric = lago.billable_metrics.create(BillableMetric(name="Calls", code="calls", aggregation_type="count_agg"))
        lago.plans.create(Plan(name="Free", code="free", interval="monthly", amount_cents=amount_cents,
                               amount_currency="EUR", charges=[Charge(billable_metric_id=metric.lago_id,
                                                                      charge_model="standard",
                                                                      properties={"amount": "0.10"})]))
    billing = CustomerBillingConfiguration(invoice_grace_period=grace_days) if grace_days is not None else None
    lago.customers.create(Customer(external_id=customer, currency="EUR", timezone="UTC",
                                   finalize_zero_amount_invoice=setting, billing_configuration=billing))
    lago.subscriptions.create(Subscription(external_customer_id=customer, plan_code="free",
                                           external_id=f"{customer}-s"))
    for n in range(calls):
        lago.events.create(Event(transaction_id=f"{customer}-{n}", external_subscription_id=f"{customer}-s",
                                 code="calls", timestamp=1794312000))  # 2026-11-10


def _bill(clock, at: str = "2026-12-01T01:00:00Z") -> None:
    clock.set(at)
    run_billing_clock(fan_out=False)


def _invoices(lago, customer: str, status: str | None = None):
    options = {"external_customer_id": customer, **({"status": status} if status else {})}
    return lago.invoices.find_all(options)["invoices"]


def _created_webhooks() -> list[str]:
    with read_only() as session:
        return [d.object_id for d in session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.webhook_type == "invoice.created"))]


@pytest.mark.parametrize("batch", [True, False], ids=["billing batch", "one subscription"])
def test_an_empty_invoice_of_a_customer_who_skips_them_is_closed(lago, clock, run_jobs, batch):
    _setup(lago, clock, "skipper", setting="skip")
    _setup(lago, clock, "payer", setting="skip", calls=3)  # 30 cents: not empty
    clock.set("2026-12-01T01:00:00Z")
    run_billing_clock(fan_out=batch)  # a batch job for both customers, or one subscription at a time
    run_jobs()

    assert _invoices(lago, "skipper") == []  # not listed unless asked for
    [closed] = _invoices(lago, "skipper", status="closed")
    assert (closed.status, closed.fees_amount_cents, closed.total_amount_cents) == ("closed", 0, 0)
    assert closed.number.endswith("-DRAFT")  # never numbered: the sequence has no gap for it
    [paid] = _invoices(lago, "payer")
    assert (paid.status, paid.total_amount_cents, paid.number.endswith("-001")) == ("finalized", 30, True)
    assert _created_webhooks() == [paid.lago_id]

    _bill(clock, "2026-12-01T02:00:00Z")  # the period is billed once, closed or not
    assert len(_invoices(lago, "skipper", status="closed")) == 1


@pytest.mark.parametrize(("setting", "organization_finalizes", "status"), [
    ("finalize", False, "finalized"),
    ("inherit", True, "finalized"),
    ("inherit", False, "closed"),
    (None, False, "closed"),  # a new customer inherits
])
def test_the_customer_setting_or_the_organizations(lago, clock, org, setting, organization_finalizes, status):
    with unit_of_work() as uow:
        uow.session.execute(update(Organization).where(Organization.id == org.id).values(
            finalize_zero_amount_invoice=organization_finalizes))
    _setup(lago, clock, "c", setting=setting)
    _bill(clock)
    [invoice] = _invoices(lago, "c", status=status)
    assert invoice.total_amount_cents == 0


def test_an_invoice_a_coupon_brings_to_zero_is_not_empty(lago, clock):
    _setup(lago, clock, "c", setting="skip", amount_cents=1000)
    lago.coupons.create(Coupon(name="All", code="all", coupon_type="percentage", percentage_rate=100.0,
                               frequency="once", expiration="no_expiration"))
    lago.applied_coupons.create(AppliedCoupon(external_customer_id="c", coupon_code="all"))
    _bill(clock, "2026-11-01T01:00:00Z")  # the plan is paid in advance... or in arrears: either way billed once
    _bill(clock)
    [invoice] = [i for i in _invoices(lago, "c") if i.fees_amount_cents]
    assert (invoice.status, invoice.coupons_amount_cents, invoice.total_amount_cents) == ("finalized", 1000, 0)


def test_an_empty_draft_is_closed_when_its_grace_period_ends(lago, clock):
    _setup(lago, clock, "c", setting="skip", grace_days=3)
    _bill(clock)
    [draft] = _invoices(lago, "c", status="draft")
    _bill(clock, "2026-12-04T02:00:00Z")
    [closed] = _invoices(lago, "c", status="closed")
    assert closed.lago_id == draft.lago_id and _created_webhooks() == []


def test_the_portal_does_not_show_a_closed_invoice(lago, clock, live_server):
    import httpx

    _setup(lago, clock, "c", setting="skip")
    _bill(clock)
    portal = httpx.get(lago.customers.portal_url("c"), follow_redirects=True)
    assert portal.status_code == 200
    assert "closed" not in portal.text.lower() and "DRAFT" not in portal.text
