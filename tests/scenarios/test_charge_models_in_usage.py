"""Charge models wired into usage and invoices: BILLING.md's worked examples, end to end through the API."""

from __future__ import annotations

import pytest

from tests.metering.test_aggregation_examples import Api, _send

pytestmark = pytest.mark.both_stores  # the SQL store, then ClickHouse (tests/conftest.py)


@pytest.fixture
def api(live_server, org, clock):
    clock.set("2026-11-01T00:00:00Z")
    return Api(live_server, org.api_key)


def _plan(api: Api, metric: dict, charge_model: str, properties: dict) -> None:
    api.code = metric["code"]
    created = api.post("/billable_metrics", {"billable_metric": {"name": metric["code"], **metric}})
    api.post("/plans", {"plan": {
        "name": "Usage", "code": "usage", "interval": "monthly", "amount_cents": 0, "amount_currency": "EUR",
        "charges": [{"billable_metric_id": created["billable_metric"]["lago_id"], "charge_model": charge_model,
                     "properties": properties}]}})
    api.post("/subscriptions", {"subscription": {"external_customer_id": "cust", "plan_code": "usage",
                                                 "external_id": "sub"}})


def _amount(api: Api, clock) -> tuple[str, int]:
    clock.set("2026-11-20T00:00:00Z")
    usage = api.get("/customers/cust/current_usage", external_subscription_id="sub")["customer_usage"]
    return usage["charges_usage"][0]["units"], usage["amount_cents"]


def test_graduated(api, clock):
    _plan(api, {"code": "calls", "aggregation_type": "count_agg"}, "graduated", {"graduated_ranges": [
        {"from_value": 0, "to_value": 10, "per_unit_amount": "5", "flat_amount": "200"},
        {"from_value": 11, "to_value": None, "per_unit_amount": "1", "flat_amount": "300"}]})
    _send(api, *[("2026-11-02T00:00:00Z", {})] * 15)
    assert _amount(api, clock) == ("15", 55500)  # 10×5+200 + 5×1+300 = 555


def test_package(api, clock):
    _plan(api, {"code": "gb", "aggregation_type": "sum_agg", "field_name": "gb"}, "package",
          {"amount": "5", "package_size": 100, "free_units": 100})
    _send(api, ("2026-11-02T00:00:00Z", {"gb": 200}), ("2026-11-03T00:00:00Z", {"gb": 50}))
    assert _amount(api, clock) == ("250", 1000)  # 2 packages


def test_volume(api, clock):
    _plan(api, {"code": "calls", "aggregation_type": "count_agg"}, "volume", {"volume_ranges": [
        {"from_value": 0, "to_value": 10, "per_unit_amount": "2", "flat_amount": "0"},
        {"from_value": 11, "to_value": None, "per_unit_amount": "1.5", "flat_amount": "0"}]})
    _send(api, *[("2026-11-02T00:00:00Z", {})] * 12)
    assert _amount(api, clock) == ("12", 1800)


def test_percentage_with_free_event_and_fixed_fee(api, clock):
    _plan(api, {"code": "payments", "aggregation_type": "sum_agg", "field_name": "amount"}, "percentage",
          {"rate": "2.5", "fixed_amount": "0.10", "free_units_per_events": 1})
    _send(api, ("2026-11-02T00:00:00Z", {"amount": 100}), ("2026-11-03T00:00:00Z", {"amount": 200}),
          ("2026-11-04T00:00:00Z", {"amount": 300}))
    assert _amount(api, clock) == ("600", 1270)  # 500 × 2.5% + 2 × 0.10


def test_percentage_with_per_transaction_min_and_max(api, clock):
    _plan(api, {"code": "payments", "aggregation_type": "sum_agg", "field_name": "amount"}, "percentage",
          {"rate": "2.5", "fixed_amount": "0.10", "free_units_per_events": 1, "per_transaction_min_amount": "1",
           "per_transaction_max_amount": "5"})
    _send(api, ("2026-11-02T00:00:00Z", {"amount": 100}), ("2026-11-03T00:00:00Z", {"amount": 200}),
          ("2026-11-04T00:00:00Z", {"amount": 300}))
    assert _amount(api, clock) == ("600", 1000)


def test_dynamic_bills_the_events_own_amounts(api, clock):
    _plan(api, {"code": "spend", "aggregation_type": "sum_agg", "field_name": "tokens"}, "dynamic", {})
    api.post("/events/batch", {"events": [
        {"transaction_id": f"d{i}", "external_subscription_id": "sub", "code": "spend",
         "timestamp": "2026-11-02T00:00:00Z", "properties": {"tokens": 10}, "precise_total_amount_cents": cents}
        for i, cents in enumerate(["150.5", "49.5"])]})
    assert _amount(api, clock) == ("20", 200)


def test_dynamic_needs_a_sum(api):
    created = api.post("/billable_metrics", {"billable_metric": {"name": "c", "code": "c",
                                                                 "aggregation_type": "count_agg"}})
    refused = api.post("/plans", {"plan": {
        "name": "P", "code": "p", "interval": "monthly", "amount_cents": 0, "amount_currency": "EUR",
        "charges": [{"billable_metric_id": created["billable_metric"]["lago_id"], "charge_model": "dynamic",
                     "properties": {}}]}}, status=422)
    assert refused["error_details"] == {"charges.0": {"charge_model": ["invalid_aggregation_type_or_charge_model"]}}


def test_charge_minimum_is_trued_up_and_prorated(api, clock, lago):
    from billing.clock import run_billing_clock

    _plan(api, {"code": "calls", "aggregation_type": "count_agg"}, "standard", {"amount": "0.10"})
    plan = api.get("/plans/usage")["plan"]
    charge = plan["charges"][0]
    api.client.put("/plans/usage", json={"plan": {"charges": [{
        "id": charge["lago_id"], "billable_metric_id": charge["lago_billable_metric_id"], "charge_model": "standard",
        "properties": {"amount": "0.10"}, "min_amount_cents": 600}]}}).raise_for_status()
    _send(api, *[("2026-11-02T00:00:00Z", {})] * 20)  # 2.00 of usage
    clock.set("2026-12-01T00:30:00Z")
    run_billing_clock(fan_out=False)
    [invoice] = lago.invoices.find_all({"external_customer_id": "cust"})["invoices"]
    fees = sorted((f.item.name, f.amount_cents) for f in invoice.fees.__root__)
    assert fees == [("Usage", 0), ("calls", 200), ("calls – minimum", 400)]


def test_minimum_commitment_tops_up_the_period(api, clock, lago):
    from billing.clock import run_billing_clock

    _plan(api, {"code": "calls", "aggregation_type": "count_agg"}, "standard", {"amount": "1"})
    api.client.put("/plans/usage", json={"plan": {"amount_cents": 1000,
                                                  "minimum_commitment": {"amount_cents": 5000}}}).raise_for_status()
    assert lago.plans.find("usage").minimum_commitment.amount_cents == 5000
    _send(api, *[("2026-11-02T00:00:00Z", {})] * 15)
    clock.set("2026-12-01T00:30:00Z")
    run_billing_clock(fan_out=False)
    [invoice] = lago.invoices.find_all({"external_customer_id": "cust"})["invoices"]
    # Fee 1000 + usage 1500 = 2500; the commitment of 5000 adds 2500.
    assert sorted((f.item.type, f.amount_cents) for f in invoice.fees.__root__) == [
        ("charge", 1500), ("commitment", 2500), ("subscription", 1000)]
    assert invoice.total_amount_cents == 5000
