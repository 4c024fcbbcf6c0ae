"""Events and billable metrics at the API's edge: validation, errors kept on events, metric changes,
past usage and fee estimates."""

from __future__ import annotations

import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import BillableMetric, Event

from billing.metering.rollups import roll_up_events
from tests.metering.test_aggregation_examples import Api, _send, _subscribe

pytestmark = pytest.mark.both_stores  # the SQL store, then ClickHouse (tests/conftest.py)


@pytest.fixture
def api(live_server, org, clock):
    clock.set("2026-11-01T00:00:00Z")
    return Api(live_server, org.api_key)


@pytest.mark.parametrize(("event", "details"), [
    ({"external_subscription_id": "s", "code": "c"}, {"transaction_id": ["value_is_mandatory"]}),
    ({"transaction_id": "", "external_subscription_id": "s", "code": "c"}, {"transaction_id": ["value_is_mandatory"]}),
    ({"transaction_id": "t" * 256, "external_subscription_id": "s", "code": "c"},
     {"transaction_id": ["value_is_too_long"]}),
    ({"transaction_id": "t", "code": "c"}, {"external_subscription_id": ["value_is_mandatory"]}),
    ({"transaction_id": "t", "external_subscription_id": {"a": 1}, "code": "c"},
     {"external_subscription_id": ["invalid_type"]}),
    ({"transaction_id": "t", "external_subscription_id": "s"}, {"code": ["value_is_mandatory"]}),
    ({"transaction_id": "t", "external_subscription_id": "s", "code": True}, {"code": ["invalid_type"]}),
    ({"transaction_id": "t", "external_subscription_id": "s", "code": "c", "timestamp": "soon"},
     {"timestamp": ["invalid_format"]}),
    ({"transaction_id": "t", "external_subscription_id": "s", "code": "c", "timestamp": True},
     {"timestamp": ["invalid_format"]}),
    ({"transaction_id": "t", "external_subscription_id": "s", "code": "c", "timestamp": 1e20},
     {"timestamp": ["invalid_format"]}),
    ({"transaction_id": "t", "external_subscription_id": "s", "code": "c", "properties": [1, 2]},
     {"properties": ["invalid_type"]}),
    ({"transaction_id": "t", "external_subscription_id": "s", "code": "c", "precise_total_amount_cents": "ten"},
     {"precise_total_amount_cents": ["invalid_value"]}),
    # NUMERIC(40,15) holds 25 digits before the point: PostgreSQL would fail the insert (a 500).
    ({"transaction_id": "t", "external_subscription_id": "s", "code": "c", "precise_total_amount_cents": "1e25"},
     {"precise_total_amount_cents": ["value_is_out_of_range"]}),
])
def test_every_bad_field_gets_a_clear_422(api, event, details):
    body = api.post("/events", {"event": event}, status=422)
    assert body == {"status": 422, "error": "Unprocessable Entity", "code": "validation_errors",
                    "error_details": details}


def test_batch_limits(api):
    assert api.post("/events/batch", {"events": []}, status=422)["error_details"] == {"events": ["no_events"]}
    many = [{"transaction_id": str(i), "external_subscription_id": "s", "code": "c"} for i in range(101)]
    assert api.post("/events/batch", {"events": many}, status=422)["error_details"] == {"events": ["too_many_events"]}
    assert api.post("/events/batch", {"events": "nope"}, status=400)["status"] == 400


@pytest.mark.parametrize("timestamp", [1794312000, 1794312000.5, "1794312000", "2026-11-10T12:00:00Z",
                                       "2026-11-10T13:00:00+01:00"])
def test_timestamp_formats(api, timestamp):
    body = api.post("/events", {"event": {"transaction_id": "t", "external_subscription_id": "s", "code": "c",
                                          "timestamp": timestamp}})
    assert body["event"]["timestamp"].startswith("2026-11-10T12:00:00")


def test_events_keep_why_they_may_not_be_billed(api, lago):
    _subscribe(api, {"code": "storage", "aggregation_type": "sum_agg", "field_name": "gb"})
    lago.events.create(Event(transaction_id="e1", external_subscription_id="nobody", code="storage",
                             properties={"gb": 1}))
    lago.events.create(Event(transaction_id="e2", external_subscription_id="sub", code="unknown_metric",
                             properties={}))
    lago.events.create(Event(transaction_id="e3", external_subscription_id="sub", code="storage",
                             properties={"gb": "lots"}))
    lago.events.create(Event(transaction_id="e4", external_subscription_id="sub", code="storage",
                             properties={"gb": 2}))
    errors = {tx: api.get(f"/events/{tx}")["event"]["error"] for tx in ("e1", "e2", "e3", "e4")}
    assert errors == {"e1": "no_active_subscription", "e2": "metric_not_found", "e3": "invalid_value", "e4": None}
    listed = api.get("/events", external_subscription_id="sub", code="storage")
    assert [e["transaction_id"] for e in listed["events"]] == ["e4", "e3"] or listed["meta"]["total_count"] == 2


def test_a_transaction_id_twice_in_one_batch_is_the_first_event(api):
    first = {"transaction_id": "t", "external_subscription_id": "s", "code": "c", "properties": {"n": 1}}
    second = {**first, "properties": {"n": 2}}
    answer = api.post("/events/batch", {"events": [first, second]})["events"]
    assert [e["properties"] for e in answer] == [{"n": 1}, {"n": 1}]
    assert answer[0]["lago_id"] == answer[1]["lago_id"]
    assert api.get("/events/t")["event"]["properties"] == {"n": 1}


def test_values_no_column_could_store_are_refused_or_kept_with_an_error_not_a_500(api, clock):
    _subscribe(api, {"code": "storage", "aggregation_type": "sum_agg", "field_name": "gb"},
               filters=[{"key": "region", "values": ["eu"]}])
    # A value its metric cannot hold is refused at ingestion (docs/billing.md, Limits), the batch with it.
    refused = api.client.post("/events/batch", json={"events": [
        {"transaction_id": "big", "external_subscription_id": "sub", "code": "storage", "properties": {"gb": 1e30}},
        {"transaction_id": "ok", "external_subscription_id": "sub", "code": "storage", "properties": {"gb": 1}}]})
    assert refused.status_code == 422
    assert refused.json()["error_details"] == {"0": {"properties.gb": ["value_is_out_of_range"]}}
    assert api.client.get("/events/ok").status_code == 404
    _send(api, ("2026-11-02T00:00:00Z", {"gb": "9" * 14}), ("2026-11-02T00:00:00Z", {"gb": 2, "region": "x" * 2000}),
          ("2026-11-02T00:00:00Z", {"gb": "9" * 14, "region": "eu"}))
    errors = {tx: api.get(f"/events/{tx}")["event"]["error"] for tx in ("tx-0", "tx-1", "tx-2")}
    assert errors == {"tx-0": None, "tx-1": "filter_values_too_long", "tx-2": None}
    while roll_up_events():  # folds them: the rollups' sums (Σ value × time included) must not overflow
        pass
    clock.set("2026-11-20T00:00:00Z")
    [charge] = api.get("/customers/cust/current_usage", external_subscription_id="sub")[
        "customer_usage"]["charges_usage"]
    # The second is billed without a filter.
    assert charge["units"] == str(2 * int("9" * 14) + 2)
    assert charge["events_count"] == 3


def test_a_metric_created_after_its_events_counts_them(api, clock):
    api.post("/plans", {"plan": {"name": "Free", "code": "free", "interval": "monthly", "amount_cents": 0,
                                 "amount_currency": "EUR"}})
    api.post("/subscriptions", {"subscription": {"external_customer_id": "cust", "plan_code": "free",
                                                 "external_id": "sub"}})
    api.code = "storage"
    _send(api, ("2026-11-02T00:00:00Z", {"gb": 3}), ("2026-11-03T00:00:00Z", {"gb": 4}))
    metric = api.post("/billable_metrics", {"billable_metric": {"name": "Storage", "code": "storage",
                                                                "aggregation_type": "sum_agg", "field_name": "gb"}})
    api.client.put("/plans/free", json={"plan": {"charges": [{
        "billable_metric_id": metric["billable_metric"]["lago_id"], "charge_model": "standard",
        "properties": {"amount": "1"}}]}}).raise_for_status()
    clock.set("2026-11-10T00:00:00Z")
    usage = api.get("/customers/cust/current_usage", external_subscription_id="sub")["customer_usage"]
    assert usage["charges_usage"][0]["units"] == "7" and usage["amount_cents"] == 700
    assert api.get("/events/tx-0")["event"]["error"] is None


def test_changing_a_metrics_filters_regroups_its_events(api, clock):
    _subscribe(api, {"code": "calls", "aggregation_type": "count_agg"}, amount="1")
    _send(api, ("2026-11-02T00:00:00Z", {"region": "eu"}), ("2026-11-02T00:00:00Z", {"region": "us"}))
    api.client.put("/billable_metrics/calls", json={"billable_metric": {
        "filters": [{"key": "region", "values": ["eu", "us"]}]}}).raise_for_status()
    plan = api.get("/plans/usage")["plan"]
    charge = plan["charges"][0]
    api.client.put("/plans/usage", json={"plan": {"charges": [{
        "id": charge["lago_id"], "billable_metric_id": charge["lago_billable_metric_id"], "charge_model": "standard",
        "properties": {"amount": "1"}, "filters": [{"values": {"region": ["eu"]}, "properties": {"amount": "3"}}],
    }]}}).raise_for_status()
    clock.set("2026-11-10T00:00:00Z")
    usage = api.get("/customers/cust/current_usage", external_subscription_id="sub")["customer_usage"]
    assert usage["amount_cents"] == 300 + 100


def test_metric_validation_follows_lagos_rules(lago):
    def refused(**fields) -> dict:
        with pytest.raises(LagoApiError) as error:
            lago.billable_metrics.create(BillableMetric(name="m", code="m", **fields))
        assert error.value.status_code == 422
        return error.value.response["error_details"]

    assert refused(aggregation_type="max_agg") == {"field_name": ["value_is_mandatory"]}
    assert refused(aggregation_type="count_agg", recurring=True) == {
        "recurring": ["not_compatible_with_aggregation_type"]}
    assert refused(aggregation_type="latest_agg", field_name="x", recurring=True) == {
        "recurring": ["not_compatible_with_aggregation_type"]}
    assert refused(aggregation_type="sum_agg", expression="1 +") == {"expression": ["invalid_expression"]}
    assert refused(aggregation_type="sum_agg", expression="__import__('os')") == {
        "expression": ["invalid_expression"]}
    assert refused(aggregation_type="custom_agg") == {"expression": ["value_is_mandatory"]}
    assert refused(aggregation_type="count_agg", rounding_function="half") == {
        "rounding_function": ["value_is_invalid"]}
    weighted = lago.billable_metrics.create(BillableMetric(name="w", code="w", aggregation_type="weighted_sum_agg",
                                                           field_name="gb"))
    assert weighted.weighted_interval == "seconds"


def test_past_usage_is_the_usage_of_invoiced_periods(api, clock, lago):
    from billing.clock import run_billing_clock

    clock.set("2026-10-01T00:00:00Z")
    _subscribe(api, {"code": "calls", "aggregation_type": "count_agg"}, amount="0.5",
               subscription_at="2026-10-01T00:00:00Z")
    _send(api, ("2026-10-05T00:00:00Z", {}), ("2026-10-06T00:00:00Z", {}), ("2026-11-05T00:00:00Z", {}))
    clock.set("2026-12-01T01:00:00Z")
    run_billing_clock(fan_out=False)
    past = lago.customers.past_usage("cust", "sub")
    assert [(p.from_datetime, p.charges_usage[0].units, p.amount_cents) for p in past["usage_periods"]] == [
        ("2026-11-01T00:00:00Z", "1", 50), ("2026-10-01T00:00:00Z", "2", 100)]
    assert all(p.lago_invoice_id for p in past["usage_periods"])
    # Lago's filters: the number of periods, and the charges of one metric.
    last = api.get("/customers/cust/past_usage", external_subscription_id="sub", periods_count=1)["usage_periods"]
    assert [p["from_datetime"] for p in last] == ["2026-11-01T00:00:00Z"]
    other = api.get("/customers/cust/past_usage", external_subscription_id="sub", billable_metric_code="storage")
    assert [p["charges_usage"] for p in other["usage_periods"]] == [[], []]


def test_estimate_fees_prices_one_more_event(api, clock):
    _subscribe(api, {"code": "storage", "aggregation_type": "sum_agg", "field_name": "gb"}, amount="0.25")
    _send(api, ("2026-11-02T00:00:00Z", {"gb": 4}))
    clock.set("2026-11-10T00:00:00Z")
    fees = api.post("/events/estimate_fees", {"event": {"transaction_id": "est", "external_subscription_id": "sub",
                                                        "code": "storage", "properties": {"gb": 10}}})["fees"]
    assert [(f["units"], f["amount_cents"]) for f in fees] == [("10", 250)]
    assert api.client.get("/events/est").status_code == 404  # nothing was stored
    missing = api.post("/events/estimate_fees", {"event": {"transaction_id": "x", "external_subscription_id": "sub",
                                                           "code": "nope"}}, status=404)
    assert missing["code"] == "charge_not_found"
