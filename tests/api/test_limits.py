"""Every field's range and length (billing/validation.py, docs/billing.md "Limits"), through the real API.

Each case posts one out-of-range value and expects Lago's 422 with the field's reason and nothing written; its
twin posts the edge value inside the range and expects it accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import httpx
import pytest

from billing.validation import MAX_AMOUNT_CENTS, MAX_DAYS, MAX_METADATA_KEY, MAX_METADATA_VALUE, MAX_TEXT

BIG = 2**63
TOO_MANY_PLACES = "0." + "0" * 15 + "1"  # 16 decimals
THIRTY_DIGITS = "123456789012345678901234567890"


@pytest.fixture
def api(live_server, org):
    with httpx.Client(base_url=f"{live_server}/api/v1", headers={"Authorization": f"Bearer {org.api_key}"},
                      timeout=30) as client:
        yield client


@pytest.fixture
def world(api):
    """A customer, a sum metric, a plan with a standard charge and a subscription to it, an add-on."""
    ok(api.post("/customers", json={"customer": {"external_id": "c1", "currency": "EUR"}}))
    metric = ok(api.post("/billable_metrics", json={"billable_metric": {
        "name": "Storage", "code": "gb", "aggregation_type": "sum_agg", "field_name": "gb"}}))["billable_metric"]
    plan = ok(api.post("/plans", json={"plan": plan_body(metric["lago_id"])}))["plan"]
    ok(api.post("/subscriptions", json={"subscription": {
        "external_customer_id": "c1", "plan_code": "base", "external_id": "s1"}}))
    ok(api.post("/add_ons", json={"add_on": {"name": "Setup", "code": "setup", "amount_cents": 100,
                                             "amount_currency": "EUR"}}))
    return {"metric_id": metric["lago_id"], "charge_id": plan["charges"][0]["lago_id"]}


def ok(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def plan_body(metric_id: str, code: str = "base", **fields) -> dict:
    return {"name": "Base", "code": code, "interval": "monthly", "amount_cents": 1000, "amount_currency": "EUR",
            "charges": [{"billable_metric_id": metric_id, "charge_model": "standard",
                         "properties": {"amount": "1"}}], **fields}


def charge(metric_id: str, model: str, properties: dict, **fields) -> list[dict]:
    return [{"billable_metric_id": metric_id, "charge_model": model, "properties": properties, **fields}]


@dataclass
class Case:
    """POST `path` with `body` (built from the world's ids) under `root`; `expected` is the error_details wanted."""

    id: str
    path: str
    root: str
    body: object  # dict, or a function of the world
    expected: dict
    written: tuple[str, str] = ("", "")  # GET this path: it must answer 404 (or list nothing at this key)
    edge: object = None  # the same request with the edge value inside the range: accepted
    extra: dict = field(default_factory=dict)

    def build(self, value, world):
        return value(world) if callable(value) else value


def customer(**fields):
    return {"external_id": "new", **fields}


def plan(**fields):
    return lambda w: plan_body(w["metric_id"], code="new", **fields)


def plan_charge(model: str, properties: dict, **fields):
    return lambda w: plan_body(w["metric_id"], code="new", charges=charge(w["metric_id"], model, properties,
                                                                          **fields))


def subscription(overrides=None, **fields):
    return lambda w: {"external_customer_id": "c1", "plan_code": "base", "external_id": "new",
                      "plan_overrides": overrides(w) if callable(overrides) else fields}


def override_charge(properties: dict):
    return lambda w: {"charges": [{"id": w["charge_id"], "properties": properties}]}


def wallet(**fields):
    return {"external_customer_id": "c1", "rate_amount": "1", "name": "new", **fields}


def coupon(**fields):
    return {"name": "New", "code": "new", "coupon_type": "fixed_amount", "amount_cents": 100,
            "amount_currency": "EUR", "frequency": "once", "expiration": "no_expiration", **fields}


def event(value, transaction_id: str = "t-new"):
    return {"transaction_id": transaction_id, "external_subscription_id": "s1", "code": "gb",
            "properties": {"gb": value}}


OUT = ["value_is_out_of_range"]
LONG = ["value_is_too_long"]
NO_CUSTOMER = ("/customers/new", "")
NO_PLAN = ("/plans/new", "")
NO_SUBSCRIPTION = ("/subscriptions/new", "")
NO_WALLET = ("/wallets?external_customer_id=c1", "wallets")
NO_COUPON = ("/coupons/new", "")
NO_EVENT = ("/events/t-new", "")

CASES = [
    # customers
    Case("customer.external_id", "/customers", "customer", {"external_id": "x" * 256}, {"external_id": LONG},
         edge={"external_id": "x" * 255}),
    Case("customer.name", "/customers", "customer", customer(name="n" * 256), {"name": LONG}, NO_CUSTOMER,
         edge=customer(name="n" * 255)),
    Case("customer.phone", "/customers", "customer", customer(phone="1" * 65), {"phone": LONG}, NO_CUSTOMER,
         edge=customer(phone="1" * 64)),
    Case("customer.country", "/customers", "customer", customer(country="zz"), {"country": ["country_code_invalid"]},
         NO_CUSTOMER, edge=customer(country="fr")),
    Case("customer.currency", "/customers", "customer", customer(currency="XXX"), {"currency": ["value_is_invalid"]},
         NO_CUSTOMER, edge=customer(currency="XOF")),
    Case("customer.billing_configuration.invoice_grace_period", "/customers", "customer",
         customer(billing_configuration={"invoice_grace_period": -1}),
         {"billing_configuration.invoice_grace_period": OUT}, NO_CUSTOMER,
         edge=customer(billing_configuration={"invoice_grace_period": 0})),
    Case("customer.invoice_grace_period", "/customers", "customer", customer(invoice_grace_period=2**31),
         {"invoice_grace_period": OUT}, NO_CUSTOMER, edge=customer(invoice_grace_period=MAX_DAYS)),
    Case("customer.invoice_grace_period.days", "/customers", "customer", customer(invoice_grace_period=MAX_DAYS + 1),
         {"invoice_grace_period": OUT}, NO_CUSTOMER),
    Case("customer.net_payment_term", "/customers", "customer", customer(net_payment_term=MAX_DAYS + 1),
         {"net_payment_term": OUT}, NO_CUSTOMER, edge=customer(net_payment_term=MAX_DAYS)),
    Case("customer.metadata.value", "/customers", "customer",
         customer(metadata=[{"key": "k", "value": "v" * 1_000_000}]), {"metadata": LONG}, NO_CUSTOMER,
         edge=customer(metadata=[{"key": "k" * MAX_METADATA_KEY, "value": "v" * MAX_METADATA_VALUE}])),
    Case("customer.metadata.key", "/customers", "customer",
         customer(metadata=[{"key": "k" * (MAX_METADATA_KEY + 1), "value": "v"}]), {"metadata": LONG}, NO_CUSTOMER),
    Case("customer.metadata.count", "/customers", "customer",
         customer(metadata=[{"key": f"k{i}", "value": "v"} for i in range(6)]), {"metadata": ["too_many_keys"]},
         NO_CUSTOMER, edge=customer(metadata=[{"key": f"k{i}", "value": "v"} for i in range(5)])),
    # plans and their charges
    Case("plan.amount_cents", "/plans", "plan", plan(amount_cents=BIG), {"amount_cents": OUT}, NO_PLAN,
         edge=plan(amount_cents=MAX_AMOUNT_CENTS)),
    Case("plan.trial_period", "/plans", "plan", plan(trial_period=1e9), {"trial_period": OUT}, NO_PLAN,
         edge=plan(trial_period=MAX_DAYS)),
    Case("plan.trial_period.negative", "/plans", "plan", plan(trial_period=-1), {"trial_period": OUT}, NO_PLAN),
    Case("plan.description", "/plans", "plan", plan(description="d" * (MAX_TEXT + 1)), {"description": LONG},
         NO_PLAN, edge=plan(description="d" * MAX_TEXT)),
    Case("plan.name", "/plans", "plan", plan(name="n" * 256), {"name": LONG}, NO_PLAN),
    Case("plan.minimum_commitment", "/plans", "plan", plan(minimum_commitment={"amount_cents": BIG}),
         {"minimum_commitment": ["invalid_amount_cents"]}, NO_PLAN,
         edge=plan(minimum_commitment={"amount_cents": MAX_AMOUNT_CENTS})),
    Case("charge.amount.huge", "/plans", "plan", plan_charge("standard", {"amount": "1e400"}),
         {"charges.0": {"properties.amount": OUT}}, NO_PLAN,
         edge=plan_charge("standard", {"amount": "999999999999999.999999999999999"})),
    Case("charge.amount.tiny", "/plans", "plan", plan_charge("standard", {"amount": "1e-400"}),
         {"charges.0": {"properties.amount": OUT}}, NO_PLAN,
         edge=plan_charge("standard", {"amount": "0.000000000000001"})),
    Case("charge.amount.places", "/plans", "plan", plan_charge("standard", {"amount": TOO_MANY_PLACES}),
         {"charges.0": {"properties.amount": OUT}}, NO_PLAN),
    Case("charge.graduated.per_unit_amount", "/plans", "plan", plan_charge("graduated", {"graduated_ranges": [
        {"from_value": 0, "to_value": None, "per_unit_amount": "1e400", "flat_amount": "0"}]}),
         {"charges.0": {"properties.graduated_ranges.0.per_unit_amount": OUT}}, NO_PLAN),
    Case("charge.package.package_size", "/plans", "plan", plan_charge("package", {
        "amount": "1", "package_size": BIG, "free_units": 0}),
         {"charges.0": {"properties.package_size": OUT}}, NO_PLAN),
    Case("charge.percentage.fixed_amount", "/plans", "plan", plan_charge("percentage", {
        "rate": "1", "fixed_amount": THIRTY_DIGITS}),
         {"charges.0": {"properties.fixed_amount": OUT}}, NO_PLAN),
    Case("charge.min_amount_cents", "/plans", "plan",
         plan_charge("standard", {"amount": "1"}, min_amount_cents=BIG),
         {"charges.0": {"min_amount_cents": OUT}}, NO_PLAN,
         edge=plan_charge("standard", {"amount": "1"}, min_amount_cents=MAX_AMOUNT_CENTS)),
    # plan overrides (a subscription's own plan)
    Case("plan_overrides.trial_period", "/subscriptions", "subscription", subscription(trial_period=1e9),
         {"plan_overrides": {"trial_period": OUT}}, NO_SUBSCRIPTION, edge=subscription(trial_period=MAX_DAYS)),
    Case("plan_overrides.amount_cents", "/subscriptions", "subscription", subscription(amount_cents=BIG),
         {"plan_overrides": {"amount_cents": OUT}}, NO_SUBSCRIPTION),
    Case("plan_overrides.charges.amount", "/subscriptions", "subscription",
         subscription(override_charge({"amount": "1e400"})),
         {"plan_overrides": {"charges.0": {"properties.amount": OUT}}}, NO_SUBSCRIPTION,
         edge=subscription(override_charge({"amount": "2"}))),
    Case("billable_metric.filters", "/billable_metrics", "billable_metric",
         {"name": "M", "code": "new", "aggregation_type": "count_agg",
          "filters": [{"key": "region", "values": ["v" * 256]}]}, {"filters": LONG}, ("/billable_metrics/new", ""),
         edge={"name": "M", "code": "new", "aggregation_type": "count_agg",
               "filters": [{"key": "region", "values": ["v" * 255]}]}),
    # coupons, add-ons, taxes
    Case("coupon.amount_cents", "/coupons", "coupon", coupon(amount_cents=BIG), {"amount_cents": OUT}, NO_COUPON,
         edge=coupon(amount_cents=MAX_AMOUNT_CENTS)),
    Case("coupon.percentage_rate", "/coupons", "coupon",
         coupon(coupon_type="percentage", percentage_rate="1e-400"), {"percentage_rate": OUT}, NO_COUPON),
    Case("coupon.frequency_duration", "/coupons", "coupon",
         coupon(frequency="recurring", frequency_duration=2**31), {"frequency_duration": OUT}, NO_COUPON),
    Case("add_on.amount_cents", "/add_ons", "add_on",
         {"name": "New", "code": "new", "amount_cents": BIG, "amount_currency": "EUR"}, {"amount_cents": OUT},
         ("/add_ons/new", ""), edge={"name": "New", "code": "new", "amount_cents": MAX_AMOUNT_CENTS,
                                     "amount_currency": "EUR"}),
    Case("tax.rate", "/taxes", "tax", {"name": "T", "code": "new", "rate": "1e-400"}, {"rate": OUT},
         ("/taxes/new", "")),
    # wallets
    Case("wallet.rate_amount.tiny", "/wallets", "wallet", wallet(rate_amount="1e-400"), {"rate_amount": OUT},
         NO_WALLET, edge=wallet(rate_amount="0.000000000000001")),
    Case("wallet.rate_amount.huge", "/wallets", "wallet", wallet(rate_amount="1e400"), {"rate_amount": OUT},
         NO_WALLET),
    Case("wallet.paid_credits.digits", "/wallets", "wallet", wallet(paid_credits=THIRTY_DIGITS),
         {"paid_credits": OUT}, NO_WALLET),
    Case("wallet.granted_credits.places", "/wallets", "wallet", wallet(granted_credits=TOO_MANY_PLACES),
         {"granted_credits": OUT}, NO_WALLET),
    Case("wallet.granted_credits.worth", "/wallets", "wallet",
         wallet(rate_amount="100", granted_credits="99999999999999"), {"granted_credits": OUT}, NO_WALLET,
         edge=wallet(rate_amount="100", granted_credits="99999999999")),
    Case("wallet.paid_top_up_max_amount_cents", "/wallets", "wallet", wallet(paid_top_up_max_amount_cents=BIG),
         {"paid_top_up_max_amount_cents": OUT}, NO_WALLET,
         edge=wallet(paid_top_up_max_amount_cents=MAX_AMOUNT_CENTS)),
    Case("wallet.expiration_at", "/wallets", "wallet", wallet(expiration_at="2020-01-01T00:00:00Z"),
         {"expiration_at": ["invalid_date"]}, NO_WALLET, edge=wallet(expiration_at="2030-01-01T00:00:00Z")),
    Case("wallet.recurring_transaction_rules.paid_credits", "/wallets", "wallet",
         wallet(rate_amount="100", recurring_transaction_rules=[
             {"trigger": "interval", "interval": "monthly", "paid_credits": "99999999999999"}]),
         {"recurring_transaction_rules.paid_credits": OUT}, NO_WALLET,
         edge=wallet(rate_amount="100", recurring_transaction_rules=[
             {"trigger": "interval", "interval": "monthly", "paid_credits": "99999999999"}])),
    Case("wallet.priority", "/wallets", "wallet", wallet(priority=51), {"priority": OUT}, NO_WALLET,
         edge=wallet(priority=50)),
    # one-off invoices
    Case("invoice.fees.units", "/invoices", "invoice",
         {"external_customer_id": "c1", "currency": "EUR", "fees": [{"add_on_code": "setup", "units": 0}]},
         {"fees.0": {"units": OUT}}, ("/invoices", "invoices"),
         edge={"external_customer_id": "c1", "currency": "EUR", "fees": [{"add_on_code": "setup", "units": "1"}]}),
    Case("invoice.fees.unit_amount_cents", "/invoices", "invoice",
         {"external_customer_id": "c1", "currency": "EUR", "fees": [{"add_on_code": "setup",
                                                                       "unit_amount_cents": BIG}]},
         {"fees.0": {"unit_amount_cents": OUT}}, ("/invoices", "invoices")),
    # webhook endpoints
    Case("webhook_endpoint.webhook_url", "/webhook_endpoints", "webhook_endpoint",
         {"webhook_url": "https://example.com/" + "a" * 1100}, {"webhook_url": LONG},
         ("/webhook_endpoints", "webhook_endpoints")),
]


# Events: looked up, and their edge values stored, in the event store (both stores: tests/conftest.py).
EVENT_CASES = [
    Case("event.value.2**64", "/events", "event", event(18446744073709551616), {"properties.gb": OUT}, NO_EVENT,
         edge=event(999999999999999)),
    Case("event.value.places", "/events", "event", event(TOO_MANY_PLACES), {"properties.gb": OUT}, NO_EVENT,
         edge=event("0.000000000000001")),
    Case("event.precise_total_amount_cents", "/events", "event",
         {**event(1), "precise_total_amount_cents": "1e400"}, {"precise_total_amount_cents": OUT}, NO_EVENT),
]


def _nothing_written(api: httpx.Client, written: tuple[str, str]) -> None:
    path, key = written
    if not path:
        return
    response = api.get(path)
    if key:
        assert response.status_code == 200 and response.json()[key] == [], response.text
    else:
        assert response.status_code == 404, response.text


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_out_of_range_is_422_with_the_field_reason_and_nothing_written(api, world, case: Case):
    _refused_then_edge_accepted(api, world, case)


@pytest.mark.both_stores
@pytest.mark.parametrize("case", EVENT_CASES, ids=[c.id for c in EVENT_CASES])
def test_an_out_of_range_event_is_422_with_the_field_reason_and_not_stored(api, world, org, case: Case):
    from billing.metering.store import event_store

    _refused_then_edge_accepted(api, world, case)
    if case.edge is not None:  # stored to the last place: Decimal(40, 15) in either store
        [stored] = event_store().find_events(org.id, [case.edge["transaction_id"]])
        assert stored["value"] == Decimal(str(case.edge["properties"]["gb"]))


def _refused_then_edge_accepted(api: httpx.Client, world: dict, case: Case) -> None:
    response = api.post(case.path, json={case.root: case.build(case.body, world)})
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_errors"
    assert response.json()["error_details"] == case.expected
    _nothing_written(api, case.written)
    if case.edge is not None:
        ok(api.post(case.path, json={case.root: case.build(case.edge, world)}))


@pytest.mark.both_stores
def test_a_batch_with_one_value_out_of_range_stores_none_of_it(api, world):
    response = api.post("/events/batch", json={"events": [event(5, "t-1"), event(2**64, "t-2")]})
    assert response.status_code == 422
    assert response.json()["error_details"] == {"1": {"properties.gb": OUT}}
    assert api.get("/events/t-1").status_code == 404


@pytest.mark.both_stores
def test_an_event_before_its_metric_keeps_an_out_of_range_value_aside(api, world, org):
    """Stored before the metric existed, the value is kept with an error and counts 0: the rest still bills."""
    ok(api.post("/events", json={"event": {"transaction_id": "early", "external_subscription_id": "s1",
                                           "code": "later", "properties": {"n": 2**64}}}))
    ok(api.post("/events", json={"event": {"transaction_id": "fine", "external_subscription_id": "s1",
                                           "code": "later", "properties": {"n": 3}}}))
    ok(api.post("/billable_metrics", json={"billable_metric": {
        "name": "Later", "code": "later", "aggregation_type": "sum_agg", "field_name": "n"}}))
    from billing.metering.store import event_store

    found = event_store().find_events(org.id, ["early", "fine"])
    values = {event["transaction_id"]: (event["value"], event["error"]) for event in found}
    assert values["early"] == (0, "value_is_out_of_range") and values["fine"][0] == 3


def test_a_wallet_transaction_out_of_range_writes_nothing(api, world):
    wallet_id = ok(api.post("/wallets", json={"wallet": wallet()}))["wallet"]["lago_id"]
    for credits in ("1e400", "1e-400", THIRTY_DIGITS):
        response = api.post("/wallet_transactions", json={"wallet_transaction": {
            "wallet_id": wallet_id, "granted_credits": credits}})
        assert response.status_code == 422 and response.json()["error_details"] == {"granted_credits": OUT}
    transactions = ok(api.get(f"/wallets/{wallet_id}/wallet_transactions"))["wallet_transactions"]
    assert transactions == []


def test_the_1e_400_wallet_leaves_the_wallet_pages_working(api, world):
    """Before: 500 but the wallet was saved with rate 0 (NUMERIC(40,15) rounds 1e-400 to 0) and every read
    of the customer's wallets divided by it. Now refused before anything is written."""
    assert api.post("/wallets", json={"wallet": wallet(rate_amount="1e-400", paid_credits="10")}).status_code == 422
    assert ok(api.get("/wallets", params={"external_customer_id": "c1"}))["wallets"] == []


def test_past_usage_periods_count_range(api, world):
    response = api.get("/customers/c1/past_usage", params={"external_subscription_id": "s1",
                                                           "periods_count": str(2**63)})
    assert response.status_code == 422
    assert response.json()["error_details"] == {"periods_count": OUT}
    assert api.get("/customers/c1/past_usage", params={"external_subscription_id": "s1",
                                                       "periods_count": "0"}).status_code == 422
    ok(api.get("/customers/c1/past_usage", params={"external_subscription_id": "s1", "periods_count": "1000"}))


def test_pages_past_the_limits_are_served_capped(api, world):
    for i in range(3):
        ok(api.post("/customers", json={"customer": {"external_id": f"more-{i}"}}))
    huge = ok(api.get("/customers", params={"page": "99999999999999999999"}))
    assert huge["customers"] == [] and huge["meta"]["current_page"] == 2**31 - 1
    wide = ok(api.get("/customers", params={"per_page": "1000000"}))
    assert len(wide["customers"]) == 4 and wide["meta"]["total_pages"] == 1
