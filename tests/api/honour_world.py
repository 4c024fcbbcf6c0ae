"""The requests the honour-or-refuse test starts from: for each operation of Lago's API that Tally serves
with a request body, the path and the smallest valid body, over a small world of records they need."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

Body = dict[str, Any]


@dataclass
class World:
    """Records every operation may refer to, made once per test through the API itself."""

    client: httpx.Client
    ids: dict[str, str] = field(default_factory=dict)
    counter: itertools.count = field(default_factory=lambda: itertools.count(1))
    starts: dict[str, tuple[str, Body]] = field(default_factory=dict)  # records reused by updates

    def post(self, path: str, body: Body) -> Body:
        response = self.client.post(path, json=body)
        assert response.status_code == 200, (path, response.text)
        return response.json()

    def unique(self, prefix: str) -> str:
        return f"{prefix}-{next(self.counter)}"

    def build(self) -> World:
        metric = self.post("/billable_metrics", {"billable_metric": {
            "name": "Storage", "code": "gb", "aggregation_type": "sum_agg", "field_name": "gb",
            "filters": [{"key": "region", "values": ["eu", "us"]}]}})["billable_metric"]
        self.ids["metric"] = metric["lago_id"]
        self.post("/taxes", {"tax": {"name": "VAT", "code": "vat", "rate": "20"}})
        self.post("/add_ons", {"add_on": {"name": "Setup", "code": "setup", "amount_cents": 10_000,
                                          "amount_currency": "EUR"}})
        plan = self.post("/plans", {"plan": self.plan("basic")})["plan"]
        self.ids["charge"] = plan["charges"][0]["lago_id"]
        self.post("/customers", {"customer": {"external_id": "cust", "currency": "EUR", "email": "a@example.com"}})
        self.post("/subscriptions", {"subscription": {"external_customer_id": "cust", "plan_code": "basic",
                                                      "external_id": "sub"}})
        self.post("/coupons", {"coupon": self.coupon("welcome")})
        wallet = self.post("/wallets", {"wallet": {"external_customer_id": "cust", "currency": "EUR",
                                                   "rate_amount": "1", "name": "Credits"}})["wallet"]
        self.ids["wallet"] = wallet["lago_id"]
        self.ids["invoice"] = self.invoice()
        return self

    def more(self) -> World:
        """Records for the lists' filters to tell apart: an event, an applied coupon, a credit note, a payment,
        a wallet transaction, a feature."""
        self.post("/events", {"event": {"transaction_id": "e-1", "external_subscription_id": "sub", "code": "gb",
                                        "properties": {"gb": 1}, "timestamp": "2026-11-10T11:00:00Z"}})
        self.post("/applied_coupons", {"applied_coupon": {"external_customer_id": "cust", "coupon_code": "welcome"}})
        invoice = self.ids["invoice"]
        self.post("/credit_notes", {"credit_note": {"invoice_id": invoice, "reason": "other", "items": [
            {"fee_id": self.fee(invoice), "amount_cents": 1000}]}})
        self.post("/payments", {"payment": {"invoice_id": invoice, "amount_cents": 100, "reference": "r-1"}})
        self.post("/wallet_transactions", {"wallet_transaction": {"wallet_id": self.ids["wallet"],
                                                                  "granted_credits": "5"}})
        self.post("/features", {"feature": {"code": "sso", "name": "Single sign-on"}})
        return self

    def plan(self, code: str) -> Body:
        return {"name": code, "code": code, "interval": "monthly", "amount_cents": 1000, "amount_currency": "EUR",
                "charges": [{"billable_metric_id": self.ids["metric"], "charge_model": "standard",
                             "properties": {"amount": "1"}}]}

    def coupon(self, code: str) -> Body:
        return {"name": code, "code": code, "coupon_type": "fixed_amount", "amount_cents": 500,
                "amount_currency": "EUR", "frequency": "once", "expiration": "no_expiration"}

    def invoice(self) -> str:
        """A finalized one-off invoice of the customer (one add-on fee of 100 EUR), its lago_id."""
        return self.post("/invoices", {"invoice": {"external_customer_id": "cust", "currency": "EUR",
                                                   "fees": [{"add_on_code": "setup", "units": 1}]}})[
            "invoice"]["lago_id"]

    def fee(self, invoice_id: str) -> str:
        return self.client.get(f"/invoices/{invoice_id}").json()["invoice"]["fees"][0]["lago_id"]


Start = Callable[[World], tuple[str, Body]]


def _customer(world: World) -> tuple[str, Body]:
    return "/customers", {"customer": {"external_id": world.unique("c")}}


def _subscription(world: World) -> tuple[str, Body]:
    return "/subscriptions", {"subscription": {"external_customer_id": "cust", "plan_code": "basic",
                                               "external_id": world.unique("s")}}


def _update_subscription(world: World) -> tuple[str, Body]:
    _, body = _subscription(world)
    external_id = world.post("/subscriptions", body)["subscription"]["external_id"]
    return f"/subscriptions/{external_id}", {"subscription": {}}


def _update_plan(world: World) -> tuple[str, Body]:
    code = world.unique("p")
    world.post("/plans", {"plan": world.plan(code)})
    return f"/plans/{code}", {"plan": {"charges": world.plan(code)["charges"]}}


def _update_metric(world: World) -> tuple[str, Body]:
    code = world.unique("m")
    world.post("/billable_metrics", {"billable_metric": {"name": code, "code": code, "aggregation_type": "sum_agg",
                                                         "field_name": "gb"}})
    return f"/billable_metrics/{code}", {"billable_metric": {"field_name": "gb"}}


def _update_coupon(world: World) -> tuple[str, Body]:
    code = world.unique("k")
    world.post("/coupons", {"coupon": world.coupon(code)})
    return f"/coupons/{code}", {"coupon": {}}


def _update_add_on(world: World) -> tuple[str, Body]:
    code = world.unique("a")
    world.post("/add_ons", {"add_on": {"name": code, "code": code, "amount_cents": 100, "amount_currency": "EUR"}})
    return f"/add_ons/{code}", {"add_on": {}}


def _update_tax(world: World) -> tuple[str, Body]:
    code = world.unique("t")
    world.post("/taxes", {"tax": {"name": code, "code": code, "rate": "5"}})
    return f"/taxes/{code}", {"tax": {}}


def _wallet(world: World) -> tuple[str, Body]:
    customer = world.unique("wc")
    world.post("/customers", {"customer": {"external_id": customer, "currency": "EUR"}})
    return "/wallets", {"wallet": {"external_customer_id": customer, "currency": "EUR", "rate_amount": "1"}}


def _update_wallet(world: World) -> tuple[str, Body]:
    wallet = world.post(*_wallet(world))["wallet"]
    return f"/wallets/{wallet['lago_id']}", {"wallet": {}}


def _webhook_endpoint(world: World) -> tuple[str, Body]:
    return "/webhook_endpoints", {"webhook_endpoint": {"webhook_url": f"https://example.com/{world.unique('h')}"}}


def _update_webhook_endpoint(world: World) -> tuple[str, Body]:
    endpoint = world.post(*_webhook_endpoint(world))["webhook_endpoint"]
    return f"/webhook_endpoints/{endpoint['lago_id']}", {"webhook_endpoint": {"webhook_url": endpoint["webhook_url"]}}


def _event(world: World) -> tuple[str, Body]:
    return "/events", {"event": {"transaction_id": world.unique("e"), "external_subscription_id": "sub",
                                 "code": "gb", "properties": {"gb": 1}}}


def _batch(world: World) -> tuple[str, Body]:
    return "/events/batch", {"events": [_event(world)[1]["event"]]}


def _credit_note(world: World) -> tuple[str, Body]:
    invoice = world.invoice()
    return "/credit_notes", {"credit_note": {"invoice_id": invoice, "reason": "other", "credit_amount_cents": 1000,
                                             "items": [{"fee_id": world.fee(invoice), "amount_cents": 1000}]}}


def _estimate_credit_note(world: World) -> tuple[str, Body]:
    invoice = world.ids["invoice"]
    return "/credit_notes/estimate", {"credit_note": {"invoice_id": invoice, "items": [
        {"fee_id": world.fee(invoice), "amount_cents": 1000}]}}


def _update_credit_note(world: World) -> tuple[str, Body]:
    note = world.post(*_credit_note(world))["credit_note"]
    return f"/credit_notes/{note['lago_id']}", {"credit_note": {}}


def _invoice(world: World) -> tuple[str, Body]:
    return "/invoices", {"invoice": {"external_customer_id": "cust", "currency": "EUR",
                                     "fees": [{"add_on_code": "setup", "units": 1}]}}


def _update_invoice(world: World) -> tuple[str, Body]:
    return f"/invoices/{world.invoice()}", {"invoice": {"payment_status": "pending"}}


def _void_invoice(world: World) -> tuple[str, Body]:
    return f"/invoices/{world.invoice()}/void", {}


def _retry_payment(world: World) -> tuple[str, Body]:
    return f"/invoices/{world.invoice()}/retry_payment", {}


def _update_fee(world: World) -> tuple[str, Body]:
    return f"/fees/{world.fee(world.invoice())}", {"fee": {}}


def _payment(world: World) -> tuple[str, Body]:
    return "/payments", {"payment": {"invoice_id": world.invoice(), "amount_cents": 100,
                                     "reference": world.unique("ref")}}


def _payment_request(world: World) -> tuple[str, Body]:
    return "/payment_requests", {"payment_request": {"external_customer_id": "cust",
                                                     "lago_invoice_ids": [world.invoice()]}}


def _wallet_transaction(world: World) -> tuple[str, Body]:
    return "/wallet_transactions", {"wallet_transaction": {"wallet_id": world.ids["wallet"], "granted_credits": "1"}}


def _applied_coupon(world: World) -> tuple[str, Body]:
    code = world.unique("k")
    world.post("/coupons", {"coupon": world.coupon(code)})
    return "/applied_coupons", {"applied_coupon": {"external_customer_id": "cust", "coupon_code": code}}


def _estimate_fees(world: World) -> tuple[str, Body]:
    return "/events/estimate_fees", {"event": {"transaction_id": world.unique("est"), "external_subscription_id": "sub",
                                               "code": "gb",
                                               "properties": {"gb": 1}}}


# -- issue 20's wave: charges and filters as sub-resources, features and entitlements, alerts, metadata, customer
# wallets, estimates and preview. Records only some starts need are made on first use and kept in `ids`.

def _plan_with_charge(world: World) -> tuple[str, str]:
    """A new plan of one charge on `gb` with a filter (region eu): the plan's and the charge's codes."""
    code = world.unique("p")
    charge = world.post("/plans", {"plan": {**world.plan(code), "charges": [{
        "billable_metric_id": world.ids["metric"], "charge_model": "standard", "properties": {"amount": "1"},
        "filters": [{"values": {"region": ["eu"]}, "properties": {"amount": "2"}}]}]}})["plan"]["charges"][0]
    world.ids[f"filter:{code}"] = charge["filters"][0]["lago_id"]
    return code, charge["code"]


def _plan_charge(world: World) -> tuple[str, Body]:
    code = world.unique("p")
    world.post("/plans", {"plan": {**world.plan(code), "charges": []}})
    return f"/plans/{code}/charges", {"charge": {"billable_metric_id": world.ids["metric"],
                                                 "charge_model": "standard", "properties": {"amount": "1"}}}


def _update_plan_charge(world: World) -> tuple[str, Body]:
    code, charge = _plan_with_charge(world)
    return f"/plans/{code}/charges/{charge}", {"charge": {}}


def _delete_plan_charge(world: World) -> tuple[str, Body]:
    code, charge = _plan_with_charge(world)
    return f"/plans/{code}/charges/{charge}", {"charge": {}}


def _plan_charge_filter(world: World) -> tuple[str, Body]:
    code, charge = _plan_with_charge(world)
    return f"/plans/{code}/charges/{charge}/filters", {"filter": {"values": {"region": ["us"]},
                                                                  "properties": {"amount": "3"}}}


def _update_plan_charge_filter(world: World) -> tuple[str, Body]:
    code, charge = _plan_with_charge(world)
    return f"/plans/{code}/charges/{charge}/filters/{world.ids[f'filter:{code}']}", {"filter": {}}


def _subscribed_to_a_filtered_charge(world: World) -> tuple[str, str, str]:
    """A new subscription of `cust` to a new plan of one filtered charge: its external id, the charge's code and
    the filter's id."""
    code, charge = _plan_with_charge(world)
    external_id = world.unique("s")
    world.post("/subscriptions", {"subscription": {"external_customer_id": "cust", "plan_code": code,
                                                   "external_id": external_id}})
    return external_id, charge, world.ids[f"filter:{code}"]


def _override_subscription_charge(world: World) -> tuple[str, Body]:
    external_id, charge, _ = _subscribed_to_a_filtered_charge(world)
    return f"/subscriptions/{external_id}/charges/{charge}", {"charge": {}}


def _subscription_charge_filter(world: World) -> tuple[str, Body]:
    external_id, charge, _ = _subscribed_to_a_filtered_charge(world)
    return f"/subscriptions/{external_id}/charges/{charge}/filters", {"filter": {
        "values": {"region": ["us"]}, "properties": {"amount": "3"}}}


def _update_subscription_charge_filter(world: World) -> tuple[str, Body]:
    external_id, charge, _ = _subscribed_to_a_filtered_charge(world)
    url = f"/subscriptions/{external_id}/charges/{charge}/filters"
    filter_id = world.client.get(url).json()["filters"][0]["lago_id"]  # the subscription's own
    return f"{url}/{filter_id}", {"filter": {}}


def _feature(world: World) -> tuple[str, Body]:
    return "/features", {"feature": {"code": world.unique("f")}}


def _update_feature(world: World) -> tuple[str, Body]:
    code = world.post(*_feature(world))["feature"]["code"]
    return f"/features/{code}", {"feature": {}}


def _seats(world: World) -> str:
    """A feature with an integer privilege `max`, made once: its code."""
    if "feature" not in world.ids:
        world.post("/features", {"feature": {"code": "seats", "privileges": [
            {"code": "max", "value_type": "integer"}]}})
        world.ids["feature"] = "seats"
    return world.ids["feature"]


def _plan_entitlements(world: World) -> tuple[str, Body]:
    code = world.unique("p")
    world.post("/plans", {"plan": world.plan(code)})
    return f"/plans/{code}/entitlements", {"entitlements": {_seats(world): {"max": 10}}}


def _subscription_entitlements(world: World) -> tuple[str, Body]:
    external_id = world.post(*_subscription(world))["subscription"]["external_id"]
    return f"/subscriptions/{external_id}/entitlements", {"entitlements": {_seats(world): {"max": 5}}}


def _plan_metadata(world: World) -> tuple[str, Body]:
    code = world.unique("p")
    world.post("/plans", {"plan": world.plan(code)})
    return f"/plans/{code}/metadata", {"metadata": {"tier": "gold"}}


def _credit_note_metadata(world: World) -> tuple[str, Body]:
    note = world.post(*_credit_note(world))["credit_note"]
    return f"/credit_notes/{note['lago_id']}/metadata", {"metadata": {"tier": "gold"}}


def _coded_wallet(world: World) -> tuple[str, str, str]:
    """A new customer's wallet with a code: the customer's external id, the wallet's code and lago_id."""
    url, body = _wallet(world)
    code = world.unique("w")
    wallet = world.post(url, {"wallet": {**body["wallet"], "code": code}})["wallet"]
    return body["wallet"]["external_customer_id"], code, wallet["lago_id"]


def _wallet_metadata(world: World) -> tuple[str, Body]:
    return f"/wallets/{_coded_wallet(world)[2]}/metadata", {"metadata": {"tier": "gold"}}


def _customer_wallet_metadata(world: World) -> tuple[str, Body]:
    customer, code, _ = _coded_wallet(world)
    return f"/customers/{customer}/wallets/{code}/metadata", {"metadata": {"tier": "gold"}}


def _customer_wallet(world: World) -> tuple[str, Body]:
    _, body = _wallet(world)
    customer = body["wallet"]["external_customer_id"]
    return f"/customers/{customer}/wallets", body


def _update_customer_wallet(world: World) -> tuple[str, Body]:
    customer, code, _ = _coded_wallet(world)
    return f"/customers/{customer}/wallets/{code}", {"wallet": {}}


def _wallet_alert(world: World) -> tuple[str, Body]:
    customer, code, _ = _coded_wallet(world)
    return f"/customers/{customer}/wallets/{code}/alerts", {"alert": {
        "alert_type": "wallet_balance_amount", "code": world.unique("al"), "thresholds": [{"value": 100}]}}


def _update_wallet_alert(world: World) -> tuple[str, Body]:
    url, body = _wallet_alert(world)
    world.post(url, body)
    return f"{url}/{body['alert']['code']}", {"alert": {}}


def _subscription_alert(world: World) -> tuple[str, Body]:
    external_id = world.post(*_subscription(world))["subscription"]["external_id"]  # one alert of a type each
    return f"/subscriptions/{external_id}/alerts", {"alert": {
        "alert_type": "current_usage_amount", "code": world.unique("al"), "thresholds": [{"value": 1000}]}}


def _update_subscription_alert(world: World) -> tuple[str, Body]:
    url, body = _subscription_alert(world)
    world.post(url, body)
    return f"{url}/{body['alert']['code']}", {"alert": {}}


def _instant(world: World) -> str:
    """A subscription of `cust` to a plan whose `gb` charge is paid in advance, made once: its external id."""
    if "instant" not in world.ids:
        world.post("/plans", {"plan": {**world.plan("instant"), "charges": [{
            "billable_metric_id": world.ids["metric"], "charge_model": "standard", "pay_in_advance": True,
            "invoiceable": True, "properties": {"amount": "1"}}]}})
        world.post("/subscriptions", {"subscription": {"external_customer_id": "cust", "plan_code": "instant",
                                                       "external_id": "instant"}})
        world.ids["instant"] = "instant"
    return world.ids["instant"]


def _estimate_instant_fees(world: World) -> tuple[str, Body]:
    return "/events/estimate_instant_fees", {"event": {"external_subscription_id": _instant(world), "code": "gb",
                                                       "properties": {"gb": 2}}}


def _batch_estimate_instant_fees(world: World) -> tuple[str, Body]:
    return "/events/batch_estimate_instant_fees", {"events": [_estimate_instant_fees(world)[1]]}  # Lago's shape


def _evaluate_expression(world: World) -> tuple[str, Body]:
    return "/billable_metrics/evaluate_expression", {"expression": "event.properties.gb * 2",
                                                     "event": {"code": "gb", "properties": {"gb": 3}}}


def _preview(world: World) -> tuple[str, Body]:
    # A customer described in the request (an existing one is read as stored, its fields sent here unread).
    return "/invoices/preview", {"customer": {"name": "Someone new"}, "plan_code": "basic"}


def _lifetime_usage(world: World) -> tuple[str, Body]:
    return "/subscriptions/sub/lifetime_usage", {"lifetime_usage": {"external_historical_usage_amount_cents": 100}}


# Keyed by Lago's operation (method and path as its OpenAPI description writes them).
STARTS: dict[str, Start] = {
    "POST /add_ons": lambda w: ("/add_ons", {"add_on": {"name": "A", "code": w.unique("a"), "amount_cents": 100,
                                                        "amount_currency": "EUR"}}),
    "PUT /add_ons/{code}": _update_add_on,
    "POST /applied_coupons": _applied_coupon,
    "POST /billable_metrics": lambda w: ("/billable_metrics", {"billable_metric": {
        "name": "M", "code": w.unique("m"), "aggregation_type": "sum_agg", "field_name": "gb"}}),
    "PUT /billable_metrics/{code}": _update_metric,
    "POST /coupons": lambda w: ("/coupons", {"coupon": w.coupon(w.unique("k"))}),
    "PUT /coupons/{code}": _update_coupon,
    "POST /credit_notes": _credit_note,
    "POST /credit_notes/estimate": _estimate_credit_note,
    "PUT /credit_notes/{lago_id}": _update_credit_note,
    "POST /customers": _customer,
    "POST /events": _event,
    "POST /events/batch": _batch,
    "POST /events/estimate_fees": _estimate_fees,
    "PUT /fees/{lago_id}": _update_fee,
    "POST /invoices": _invoice,
    "PUT /invoices/{lago_id}": _update_invoice,
    "POST /invoices/{lago_id}/retry_payment": _retry_payment,
    "POST /invoices/{lago_id}/void": _void_invoice,
    "POST /payment_requests": _payment_request,
    "POST /payments": _payment,
    "POST /plans": lambda w: ("/plans", {"plan": w.plan(w.unique("p"))}),
    "PUT /plans/{code}": _update_plan,
    "POST /subscriptions": _subscription,
    "PUT /subscriptions/{external_id}": _update_subscription,
    "POST /taxes": lambda w: ("/taxes", {"tax": {"name": "T", "code": w.unique("t"), "rate": "5"}}),
    "PUT /taxes/{code}": _update_tax,
    "POST /wallet_transactions": _wallet_transaction,
    "POST /wallets": _wallet,
    "PUT /wallets/{lago_id}": _update_wallet,
    "POST /webhook_endpoints": _webhook_endpoint,
    "PUT /webhook_endpoints/{lago_id}": _update_webhook_endpoint,
    "DELETE /plans/{code}/charges/{charge_code}": _delete_plan_charge,
    "DELETE /plans/{code}/charges/{charge_code}/filters/{filter_id}": _update_plan_charge_filter,
    "PATCH /credit_notes/{lago_id}/metadata": _credit_note_metadata,
    "POST /credit_notes/{lago_id}/metadata": _credit_note_metadata,
    "PATCH /customers/{external_customer_id}/wallets/{wallet_code}/metadata": _customer_wallet_metadata,
    "POST /customers/{external_customer_id}/wallets/{wallet_code}/metadata": _customer_wallet_metadata,
    "POST /customers/{external_customer_id}/wallets": _customer_wallet,
    "PUT /customers/{external_customer_id}/wallets/{code}": _update_customer_wallet,
    "POST /customers/{external_customer_id}/wallets/{wallet_code}/alerts": _wallet_alert,
    "PUT /customers/{external_customer_id}/wallets/{wallet_code}/alerts/{code}": _update_wallet_alert,
    "PATCH /plans/{code}/entitlements": _plan_entitlements,
    "POST /plans/{code}/entitlements": _plan_entitlements,
    "PATCH /plans/{code}/metadata": _plan_metadata,
    "POST /plans/{code}/metadata": _plan_metadata,
    "PATCH /subscriptions/{external_id}/entitlements": _subscription_entitlements,
    "PATCH /wallets/{lago_id}/metadata": _wallet_metadata,
    "POST /wallets/{lago_id}/metadata": _wallet_metadata,
    "POST /billable_metrics/evaluate_expression": _evaluate_expression,
    "POST /events/estimate_instant_fees": _estimate_instant_fees,
    "POST /events/batch_estimate_instant_fees": _batch_estimate_instant_fees,
    "POST /features": _feature,
    "PUT /features/{code}": _update_feature,
    "POST /invoices/preview": _preview,
    "POST /plans/{code}/charges": _plan_charge,
    "PUT /plans/{code}/charges/{charge_code}": _update_plan_charge,
    "POST /plans/{code}/charges/{charge_code}/filters": _plan_charge_filter,
    "PUT /plans/{code}/charges/{charge_code}/filters/{filter_id}": _update_plan_charge_filter,
    "POST /subscriptions/{external_id}/alerts": _subscription_alert,
    "PUT /subscriptions/{external_id}/alerts/{code}": _update_subscription_alert,
    "PUT /subscriptions/{external_id}/charges/{charge_code}": _override_subscription_charge,
    "POST /subscriptions/{external_id}/charges/{charge_code}/filters": _subscription_charge_filter,
    "PUT /subscriptions/{external_id}/charges/{charge_code}/filters/{filter_id}": _update_subscription_charge_filter,
    "PUT /subscriptions/{external_id}/lifetime_usage": _lifetime_usage,
}
