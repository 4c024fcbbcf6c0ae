"""Lago's lists under a customer, projected usage, instant fee estimates, evaluate_expression, deleting a fee and
reading one wallet transaction: through lago-python-client where it has the call (and works), else plain HTTP by
Lago's OpenAPI shapes; Lago's errors; one organization never reaching another's records."""

from __future__ import annotations

import httpx
import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import (
    AddOn,
    AppliedCoupon,
    BillableMetric,
    Coupon,
    Customer,
    OneOffInvoice,
    Plan,
    Subscription,
    Wallet,
    WalletTransaction,
)
from lago_python_client.models.invoice import InvoiceFee, InvoiceFeesList

from billing.db import read_only
from billing.invoicing.models import Fee
from billing.metering.store import event_store
from billing.organizations.services import create_organization


def _error(call) -> tuple[int, dict]:
    with pytest.raises(LagoApiError) as raised:
        call()
    return raised.value.status_code, raised.value.response


class Http:
    def __init__(self, base: str, key: str):
        self.client = httpx.Client(base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=30)

    def get(self, path: str, expect: int = 200, **params) -> dict:
        response = self.client.get(path, params=params)
        assert response.status_code == expect, response.text
        return response.json()

    def post(self, path: str, body: object, status: int = 200) -> dict:
        response = self.client.post(path, json=body)
        assert response.status_code == status, response.text
        return response.json()


@pytest.fixture
def http(live_server, org) -> Http:
    return Http(live_server, org.api_key)


@pytest.fixture
def stranger(live_server) -> tuple[Client, Http]:
    created = create_organization(name="Other Cloud", default_currency="EUR")
    return Client(api_key=created.api_key, api_url=live_server), Http(live_server, created.api_key)


@pytest.fixture
def subscribed(lago, clock):
    """`acme` on a plan with calls (count, 0.50 each, in arrears) and storage (sum of gb, 0.25 each, paid in advance
    and not invoiced), subscribed on 1 November."""
    clock.set("2026-11-01T00:00:00Z")
    calls = lago.billable_metrics.create(BillableMetric(name="Calls", code="calls", aggregation_type="count_agg"))
    storage = lago.billable_metrics.create(BillableMetric(name="Storage", code="storage", aggregation_type="sum_agg",
                                                          field_name="gb"))
    lago.plans.create(Plan(name="Usage", code="usage", interval="monthly", amount_cents=0, amount_currency="EUR",
                           charges=[{"billable_metric_id": calls.lago_id, "charge_model": "standard",
                                     "properties": {"amount": "0.5"}},
                                    {"billable_metric_id": storage.lago_id, "charge_model": "standard",
                                     "pay_in_advance": True, "invoiceable": False,
                                     "properties": {"amount": "0.25"}}]))
    lago.customers.create(Customer(external_id="acme", currency="EUR"))
    lago.subscriptions.create(Subscription(external_customer_id="acme", plan_code="usage", external_id="sub",
                                           subscription_at="2026-11-01T00:00:00Z"))


def _events(http: Http, code: str, count: int, properties: dict | None = None, day: str = "02") -> None:
    http.post("/events/batch", {"events": [
        {"transaction_id": f"{code}-{i}", "external_subscription_id": "sub", "code": code,
         "timestamp": f"2026-11-{day}T10:00:00Z", "properties": properties or {}} for i in range(count)]})


def _stored_events(organization_id: str) -> int:
    return event_store().list_events(organization_id=organization_id, per_page=1).total_count


def test_lists_under_a_customer_are_the_top_level_lists_of_that_customer(lago, http, stranger, subscribed):
    lago.customers.create(Customer(external_id="other", currency="EUR"))
    lago.add_ons.create(AddOn(name="Setup", code="setup", amount_cents=500, amount_currency="EUR"))
    for customer in ("acme", "acme", "other"):
        fees = InvoiceFeesList(__root__=[InvoiceFee(add_on_code="setup", units=1, unit_amount_cents=500)])
        lago.invoices.create(OneOffInvoice(external_customer_id=customer, currency="EUR", fees=fees))
    lago.coupons.create(Coupon(name="Ten", code="ten", amount_cents=1000, amount_currency="EUR",
                               coupon_type="fixed_amount", frequency="once", expiration="no_expiration"))
    lago.applied_coupons.create(AppliedCoupon(external_customer_id="acme", coupon_code="ten"))

    for nested, top in (("invoices", "/invoices"), ("subscriptions", "/subscriptions"), ("payments", "/payments"),
                        ("credit_notes", "/credit_notes"), ("applied_coupons", "/applied_coupons")):
        mine = http.get(f"/customers/acme/{nested}")
        assert mine == http.get(top, external_customer_id="acme"), nested
    invoices = http.get("/customers/acme/invoices", per_page=1, page=2)
    assert len(invoices["invoices"]) == 1 and invoices["meta"]["total_count"] == 2
    assert {i["customer"]["external_id"] for i in http.get("/customers/acme/invoices")["invoices"]} == {"acme"}
    assert [s["external_id"] for s in http.get("/customers/acme/subscriptions")["subscriptions"]] == ["sub"]
    assert http.get("/customers/acme/subscriptions", plan_code="other")["subscriptions"] == []
    assert [c["coupon_code"] for c in http.get("/customers/acme/applied_coupons")["applied_coupons"]] == ["ten"]
    assert http.get("/customers/acme/invoices", status="voided")["invoices"] == []

    # An unknown customer is a 404, here and for another organization.
    for nested in ("invoices", "subscriptions", "payments", "credit_notes", "applied_coupons"):
        assert http.get(f"/customers/nobody/{nested}", expect=404)["code"] == "customer_not_found"
        assert stranger[1].get(f"/customers/acme/{nested}", expect=404)["code"] == "customer_not_found"
    # lago-python-client's nested lists send no key: refused, as Lago refuses them (docs/api.md).
    assert _error(lambda: lago.customer_invoices.find_all("acme"))[0] == 401


@pytest.mark.both_stores
def test_projected_usage(lago, http, stranger, subscribed, clock):
    _events(http, "calls", 9)
    clock.set("2026-11-10T00:00:00Z")  # 9 of the period's 30 days have passed
    projected = lago.customers.projected_usage("acme", "sub")
    assert (projected.amount_cents, projected.projected_amount_cents, projected.currency) == (450, 1500, "EUR")
    calls = next(c for c in projected.charges_usage if c.billable_metric.code == "calls")
    assert (calls.units, calls.projected_units, calls.amount_cents, calls.projected_amount_cents) == (
        "9", "30", 450, 1500)
    raw = http.get("/customers/acme/projected_usage", external_subscription_id="sub")["customer_projected_usage"]
    assert raw["from_datetime"] == "2026-11-01T00:00:00Z" and raw["total_amount_cents"] == 450

    assert http.get("/customers/acme/projected_usage", expect=422)["error_details"] == {
        "external_subscription_id": ["value_is_mandatory"]}
    assert http.get("/customers/acme/projected_usage", expect=404, external_subscription_id="nope")["code"] == (
        "subscription_not_found")
    assert stranger[1].get("/customers/acme/projected_usage", expect=404, external_subscription_id="sub")


@pytest.mark.both_stores
def test_instant_fee_estimates_store_nothing(http, stranger, subscribed, org):
    _events(http, "storage", 1, {"gb": 4})
    stored = _stored_events(org.id)
    fees = http.post("/events/estimate_instant_fees", {"event": {
        "external_subscription_id": "sub", "code": "storage", "properties": {"gb": 10}}})["fees"]
    assert [(f["units"], f["amount_cents"], f["pay_in_advance"], f["external_customer_id"]) for f in fees] == [
        ("10", 250, True, "acme")]
    assert fees[0]["event_transaction_id"]  # one made up when none is sent, as Lago's
    batch = http.post("/events/batch_estimate_instant_fees", {"events": [
        {"external_subscription_id": "sub", "code": "storage", "transaction_id": "a", "properties": {"gb": 2}},
        {"external_subscription_id": "sub", "code": "storage", "transaction_id": "b", "properties": {"gb": 1}}]})
    assert [(f["event_transaction_id"], f["amount_cents"]) for f in batch["fees"]] == [("a", 50), ("b", 25)]
    # The transaction id sent is each fee's; a batch's events may also come wrapped, as Lago's OpenAPI writes them.
    assert [f["event_transaction_id"] for f in http.post("/events/estimate_instant_fees", {"event": {
        "external_subscription_id": "sub", "code": "storage", "transaction_id": "t1"}})["fees"]] == ["t1"]
    wrapped = http.post("/events/batch_estimate_instant_fees", {"events": [{"event": {
        "external_subscription_id": "sub", "code": "storage", "transaction_id": "w", "properties": {"gb": 4}}}]})
    assert [(f["event_transaction_id"], f["amount_cents"]) for f in wrapped["fees"]] == [("w", 100)]
    assert _stored_events(org.id) == stored

    # Lago's refusals: a charge that is not paid in advance, an unknown subscription, a bad event in a batch.
    refused = http.post("/events/estimate_instant_fees", {"event": {
        "external_subscription_id": "sub", "code": "calls"}}, status=422)
    assert refused["error_details"] == {"code": ["does_not_match_an_instant_charge"]}
    assert http.post("/events/estimate_instant_fees", {"event": {
        "external_subscription_id": "nope", "code": "storage"}}, status=404)["code"] == "subscription_not_found"
    bad = http.post("/events/batch_estimate_instant_fees", {"events": [
        {"external_subscription_id": "sub", "code": "storage", "properties": {"gb": 1}},
        {"external_subscription_id": "sub", "code": "calls"}]}, status=422)
    assert bad["error_details"] == {"1": {"code": ["does_not_match_an_instant_charge"]}}
    assert http.post("/events/batch_estimate_instant_fees", {"events": []}, status=422)["error_details"] == {
        "events": ["no_events"]}
    assert http.post("/events/batch_estimate_instant_fees", {"nope": 1}, status=400)["status"] == 400
    assert stranger[1].post("/events/estimate_instant_fees", {"event": {
        "external_subscription_id": "sub", "code": "storage"}}, status=404)
    assert _stored_events(org.id) == stored


def test_evaluate_expression(lago, http):
    def evaluate(expression, event=None, status=200):
        return http.post("/billable_metrics/evaluate_expression", {"expression": expression, "event": event},
                         status=status)

    assert evaluate("round(event.properties.gb * 1.5)", {"code": "storage", "properties": {"gb": 3}}) == {
        "expression_result": {"value": "5"}}
    assert evaluate("concat(event.code, '-', event.properties.region)",
                    {"code": "calls", "properties": {"region": "eu"}}) == {"expression_result": {"value": "calls-eu"}}
    assert evaluate("event.timestamp", {"code": "x", "timestamp": 1794312000, "properties": {}}) == {
        "expression_result": {"value": "1794312000"}}
    assert evaluate("", status=422)["error_details"] == {"expression": ["value_is_mandatory"]}
    assert evaluate("round(", {"code": "x"}, status=422)["error_details"] == {"expression": ["invalid_expression"]}
    assert evaluate("event.properties.gb + 1", {"code": "x", "properties": {}}, status=422)["error_details"] == {
        "event": ["invalid_event"]}
    # lago-python-client's call sends no body: Lago's answer to no expression, not a 500.
    from lago_python_client.models.billable_metric import (
        BillableMetricEvaluateExpression,
        BillableMetricEvaluateExpressionEvent,
    )

    sent = BillableMetricEvaluateExpression(expression="1 + 1", event=BillableMetricEvaluateExpressionEvent(code="x"))
    assert _error(lambda: lago.billable_metrics.evaluate_expression(sent))[0] == 422


def test_delete_a_fee_on_no_invoice(lago, http, stranger, subscribed, run_jobs):
    _events(http, "storage", 1, {"gb": 4})
    run_jobs()
    [fee] = http.get("/fees", external_subscription_id="sub")["fees"]
    assert (fee["amount_cents"], fee["lago_invoice_id"]) == (100, None)
    assert _error(lambda: stranger[0].fees.destroy(fee["lago_id"]))[0] == 404
    deleted = lago.fees.destroy(fee["lago_id"])
    assert (deleted.lago_id, deleted.amount_cents) == (fee["lago_id"], 100)
    assert _error(lambda: lago.fees.find(fee["lago_id"]))[0] == 404
    assert http.get("/fees", external_subscription_id="sub")["fees"] == []
    run_jobs()  # the event stays billed: no fee comes back
    assert http.get("/fees", external_subscription_id="sub")["fees"] == []

    # A fee on an invoice follows its invoice: refused.
    lago.add_ons.create(AddOn(name="Setup", code="setup", amount_cents=500, amount_currency="EUR"))
    fees = InvoiceFeesList(__root__=[InvoiceFee(add_on_code="setup", units=1, unit_amount_cents=500)])
    invoice = lago.invoices.create(OneOffInvoice(external_customer_id="acme", currency="EUR", fees=fees))
    invoiced = invoice.fees.__root__[0].lago_id
    assert _error(lambda: lago.fees.destroy(invoiced)) == (405, {"status": 405, "error": "Method Not Allowed",
                                                                "code": "invoiced_fee"})
    with read_only() as session:
        assert session.get(Fee, invoiced) is not None
    assert _error(lambda: lago.fees.destroy("00000000-0000-0000-0000-000000000000"))[1]["code"] == "fee_not_found"


def test_get_one_wallet_transaction(lago, http, stranger):
    lago.customers.create(Customer(external_id="acme", currency="EUR"))
    wallet = lago.wallets.create(Wallet(external_customer_id="acme", rate_amount="1", granted_credits="5"))
    [granted] = lago.wallet_transactions.find_all(wallet.lago_id)["wallet_transactions"]
    found = http.get(f"/wallet_transactions/{granted.lago_id}")["wallet_transaction"]
    assert (found["lago_id"], found["lago_wallet_id"], found["credit_amount"], found["transaction_status"]) == (
        granted.lago_id, wallet.lago_id, "5", "granted")
    created = lago.wallet_transactions.create(WalletTransaction(wallet_id=wallet.lago_id, granted_credits="2"))
    assert http.get(f"/wallet_transactions/{created['wallet_transactions'][0].lago_id}")["wallet_transaction"][
        "credit_amount"] == "2"
    assert http.get("/wallet_transactions/nope", expect=404)["code"] == "wallet_transaction_not_found"
    assert stranger[1].get(f"/wallet_transactions/{granted.lago_id}", expect=404)["code"] == (
        "wallet_transaction_not_found")
