"""POST /invoices/preview through lago-python-client: the invoice a new subscription would start with, or an
existing subscription's next one, with the customer's coupons or those sent; Lago's refusals; and not one row
written in any table."""

from __future__ import annotations

import httpx
import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import (
    AppliedCoupon,
    BillableMetric,
    Coupon,
    Customer,
    InvoicePreview,
    Plan,
    Subscription,
)
from lago_python_client.models.coupon import CouponsList
from lago_python_client.models.subscription import Subscriptions
from sqlalchemy import func, select

import billing.models  # noqa: F401  (every table)
from billing.db import Base, read_only
from billing.organizations.services import create_organization


def _error(call) -> tuple[int, dict]:
    with pytest.raises(LagoApiError) as raised:
        call()
    return raised.value.status_code, raised.value.response


def _rows() -> dict[str, int]:
    """How many rows each table holds."""
    with read_only() as session:
        return {table.name: session.scalar(select(func.count()).select_from(table))
                for table in Base.metadata.sorted_tables}


@pytest.fixture
def catalog(lago, clock):
    clock.set("2026-11-10T00:00:00Z")
    calls = lago.billable_metrics.create(BillableMetric(name="Calls", code="calls", aggregation_type="count_agg"))
    lago.plans.create(Plan(name="Pro", code="pro", interval="monthly", amount_cents=3000, amount_currency="EUR",
                           pay_in_advance=True))
    lago.plans.create(Plan(name="Usage", code="usage", interval="monthly", amount_cents=1000, amount_currency="EUR",
                           charges=[{"billable_metric_id": calls.lago_id, "charge_model": "standard",
                                     "properties": {"amount": "0.5"}}]))
    lago.coupons.create(Coupon(name="Five off", code="five", coupon_type="fixed_amount", amount_cents=500,
                               amount_currency="EUR", frequency="once", expiration="no_expiration"))
    lago.customers.create(Customer(external_id="acme", currency="EUR"))


def test_a_new_subscriptions_first_invoice_writes_nothing(lago, catalog):
    before = _rows()
    invoice = lago.invoices.preview(InvoicePreview(customer=Customer(external_id="acme"), plan_code="pro",
                                                   subscription_at="2026-11-01T00:00:00Z"))
    assert (invoice.fees_amount_cents, invoice.total_amount_cents, invoice.currency) == (3000, 3000, "EUR")
    assert [f.item.code for f in invoice.fees.__root__] == ["pro"]
    assert invoice.customer.external_id == "acme" and invoice.status == "draft"
    # Halfway through the month, calendar billing: the advance fee for the rest of it (21 of 30 days).
    halfway = lago.invoices.preview(InvoicePreview(customer=Customer(external_id="acme"), plan_code="pro"))
    assert halfway.fees_amount_cents == 2100
    # A coupon described in the request: its type and amount.
    flat = lago.invoices.preview(InvoicePreview(
        customer=Customer(external_id="acme"), plan_code="pro", subscription_at="2026-11-01T00:00:00Z",
        coupons=CouponsList(__root__=[Coupon(code="flat", coupon_type="fixed_amount", amount_cents=300,
                                             amount_currency="EUR")])))
    assert (flat.coupons_amount_cents, flat.total_amount_cents) == (300, 2700)
    # Coupons sent: an existing code with its own terms (Lago ignores the amounts sent then), or one described.
    before = _rows()
    sent = lago.invoices.preview(InvoicePreview(
        customer=Customer(external_id="acme"), plan_code="pro", subscription_at="2026-11-01T00:00:00Z",
        coupons=CouponsList(__root__=[Coupon(code="five", amount_cents=1200),
                                      Coupon(code="adhoc", coupon_type="percentage", percentage_rate="10")])))
    assert (sent.coupons_amount_cents, sent.total_amount_cents) == (500 + 250, 2250)
    assert _rows() == before
    # A customer with coupons of its own: theirs apply, not those sent (Lago's), and their balance stays.
    lago.applied_coupons.create(AppliedCoupon(external_customer_id="acme", coupon_code="five", amount_cents=800))
    before = _rows()
    with_coupon = lago.invoices.preview(InvoicePreview(
        customer=Customer(external_id="acme"), plan_code="pro", subscription_at="2026-11-01T00:00:00Z",
        coupons=CouponsList(__root__=[Coupon(code="adhoc", coupon_type="percentage", percentage_rate="50")])))
    assert (with_coupon.coupons_amount_cents, with_coupon.total_amount_cents) == (800, 2200)
    assert _rows() == before  # not a row, in any table
    [applied] = lago.applied_coupons.find_all({"external_customer_id": "acme"})["applied_coupons"]
    assert applied.amount_cents_remaining == 800


def test_a_customer_described_in_the_request(lago, catalog):
    before = _rows()
    invoice = lago.invoices.preview(InvoicePreview(
        customer=Customer(external_id="newcomer", name="Newcomer", currency="EUR", timezone="Europe/Paris"),
        plan_code="pro",
        billing_time="anniversary", subscription_at="2026-11-10T00:00:00Z",
        coupons=CouponsList(__root__=[Coupon(code="five")])))
    assert (invoice.fees_amount_cents, invoice.coupons_amount_cents, invoice.total_amount_cents) == (3000, 500, 2500)
    assert invoice.customer.name == "Newcomer" and invoice.customer.applicable_timezone == "Europe/Paris"
    assert _rows() == before
    assert _error(lambda: lago.customers.find("newcomer"))[0] == 404


@pytest.mark.both_stores
def test_an_existing_subscriptions_next_invoice(lago, catalog, live_server, org, run_jobs):
    lago.subscriptions.create(Subscription(external_customer_id="acme", plan_code="usage", external_id="sub",
                                           subscription_at="2026-11-01T00:00:00Z"))
    httpx.post(f"{live_server}/api/v1/events/batch", headers={"Authorization": f"Bearer {org.api_key}"}, json={
        "events": [{"transaction_id": f"c{i}", "external_subscription_id": "sub", "code": "calls",
                    "timestamp": "2026-11-05T10:00:00Z"} for i in range(4)]}).raise_for_status()
    run_jobs()  # the rollups of the new events: the jobs' rows, not the preview's
    before = _rows()
    invoice = lago.invoices.preview(InvoicePreview(customer=Customer(external_id="acme"),
                                                   subscriptions=Subscriptions(external_ids=["sub"])))
    assert {f.item.code: f.amount_cents for f in invoice.fees.__root__} == {"usage": 1000, "calls": 200}
    assert invoice.total_amount_cents == 1200
    assert _rows() == before
    assert lago.invoices.find_all({"external_customer_id": "acme"})["invoices"] == []


def test_refusals(lago, catalog, live_server, org):
    key = {"Authorization": f"Bearer {org.api_key}"}

    def preview(body: dict, status: int) -> dict:
        response = httpx.post(f"{live_server}/api/v1/invoices/preview", json=body, headers=key)
        assert response.status_code == status, response.text
        return response.json()

    acme = {"external_id": "acme"}
    assert preview({"plan_code": "pro"}, 400)["error"] == "BadRequest: param is missing or the value is empty: customer"
    assert preview({"customer": acme}, 422)["error_details"] == {"plan_code": ["value_is_mandatory"]}
    assert preview({"customer": acme, "plan_code": "nope"}, 404)["code"] == "plan_not_found"
    assert preview({"customer": acme, "plan_code": "pro", "billing_entity_code": "eu"}, 422)["error_details"] == {
        "billing_entity_code": ["not_supported_yet"]}
    assert preview({"customer": acme, "subscriptions": {"external_ids": ["a", "b"]}}, 422)["error_details"] == {
        "subscriptions.external_ids": ["not_supported_yet"]}
    assert preview({"customer": acme, "subscriptions": {"external_ids": ["a"], "plan_code": "pro"}},
                   422)["error_details"] == {"subscriptions.plan_code": ["not_supported_yet"]}
    assert preview({"customer": acme, "subscriptions": {"external_ids": ["a"]}}, 404)["code"] == (
        "subscription_not_found")
    assert preview({"customer": acme, "plan_code": "pro", "coupons": [{"code": "nope"}]}, 422)["error_details"] == {
        "coupons.0.coupon_type": ["value_is_mandatory"]}
    assert preview({"customer": {"currency": "USD"}, "plan_code": "pro"}, 422)["error_details"] == {
        "currency": ["currencies_does_not_match"]}
    assert preview({"customer": {"timezone": "Mars/Olympus"}, "plan_code": "pro"}, 422)["error_details"] == {
        "customer.timezone": ["invalid_timezone"]}


def test_another_organizations_plan_and_customer_are_unknown(lago, catalog, live_server, run_jobs):
    created = create_organization(name="Other Cloud", default_currency="EUR")
    stranger = Client(api_key=created.api_key, api_url=live_server)
    status, body = _error(lambda: stranger.invoices.preview(InvoicePreview(customer=Customer(external_id="acme"),
                                                                           plan_code="pro")))
    assert (status, body["code"]) == (404, "plan_not_found")
    lago.subscriptions.create(Subscription(external_customer_id="acme", plan_code="pro", external_id="sub"))
    run_jobs()  # its first invoice is billed by a job: done before the next request (SQLite: one writer)
    status, body = _error(lambda: stranger.invoices.preview(InvoicePreview(
        customer=Customer(external_id="acme"), subscriptions=Subscriptions(external_ids=["sub"]))))
    assert (status, body["code"]) == (404, "subscription_not_found")
