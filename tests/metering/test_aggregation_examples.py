"""Worked examples per aggregation type, through the API as a client sends them (BILLING.md, Metering).

Each example subscribes a customer on 2026-11-01 (calendar month, UTC: a 30-day period), sends
events, and reads current usage on 2026-11-20, before and after the rollup job ran: the units
must not depend on whether events were folded into the rollups.
"""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from billing.metering.rollups import roll_up_events

pytestmark = pytest.mark.both_stores  # the SQL store, then ClickHouse (tests/conftest.py)


class Api:
    def __init__(self, base: str, key: str):
        self.client = httpx.Client(base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=30)

    def post(self, path: str, body: dict, status: int = 200) -> dict:
        response = self.client.post(path, json=body)
        assert response.status_code == status, response.text
        return response.json()

    def get(self, path: str, **params) -> dict:
        response = self.client.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def api(live_server, org, clock):
    clock.set("2026-11-01T00:00:00Z")
    return Api(live_server, org.api_key)


def _subscribe(api: Api, metric: dict, *, amount: str = "1", filters: list | None = None,
               charge_filters: list | None = None, subscription_at: str = "2026-11-01T00:00:00Z") -> None:
    api.code = metric["code"]
    created = api.post("/billable_metrics", {"billable_metric": {"name": metric["code"], **metric,
                                                                 "filters": filters or []}})
    api.post("/plans", {"plan": {
        "name": "Usage", "code": "usage", "interval": "monthly", "amount_cents": 0, "amount_currency": "EUR",
        "charges": [{"billable_metric_id": created["billable_metric"]["lago_id"], "charge_model": "standard",
                     "properties": {"amount": amount}, "filters": charge_filters or []}]}})
    api.post("/subscriptions", {"subscription": {"external_customer_id": "cust", "plan_code": "usage",
                                                 "external_id": "sub", "subscription_at": subscription_at}})


def _send(api: Api, *events: tuple[str, dict]) -> None:
    batch = [{"transaction_id": f"tx-{i}", "external_subscription_id": "sub", "code": api.code, "timestamp": at,
              "properties": props} for i, (at, props) in enumerate(events)]
    api.post("/events/batch", {"events": batch})


def _usage(api: Api, clock) -> dict:
    clock.set("2026-11-20T00:00:00Z")
    before = api.get("/customers/cust/current_usage", external_subscription_id="sub")["customer_usage"]
    while roll_up_events(limit=2):  # small batches: several jobs' worth
        pass
    after = api.get("/customers/cust/current_usage", external_subscription_id="sub")["customer_usage"]
    assert before == after  # rollups or raw events: the same answer
    return after["charges_usage"][0]


def test_count(api, clock):
    _subscribe(api, {"code": "calls", "aggregation_type": "count_agg"}, amount="0.5")
    _send(api, *[(f"2026-11-0{d}T10:00:00Z", {}) for d in (1, 2, 3)])
    usage = _usage(api, clock)
    assert (usage["units"], usage["events_count"], usage["amount_cents"]) == ("3", 3, 150)


def test_max(api, clock):
    _subscribe(api, {"code": "peak", "aggregation_type": "max_agg", "field_name": "mb"})
    _send(api, ("2026-11-02T00:00:00Z", {"mb": 3}), ("2026-11-03T00:00:00Z", {"mb": "10.5"}),
          ("2026-11-04T00:00:00Z", {"mb": 7}))
    assert _usage(api, clock)["units"] == "10.5"


def test_latest_is_by_timestamp_and_never_negative(api, clock):
    _subscribe(api, {"code": "balance", "aggregation_type": "latest_agg", "field_name": "gb"})
    # Sent out of order: the latest by timestamp is 8 (not the last sent, -2 at an earlier time).
    _send(api, ("2026-11-02T00:00:00Z", {"gb": 5}), ("2026-11-09T00:00:00Z", {"gb": 8}),
          ("2026-11-05T00:00:00Z", {"gb": -2}))
    assert _usage(api, clock)["units"] == "8"


def test_latest_negative_counts_as_zero(api, clock):
    _subscribe(api, {"code": "balance", "aggregation_type": "latest_agg", "field_name": "gb"})
    _send(api, ("2026-11-02T00:00:00Z", {"gb": 5}), ("2026-11-05T00:00:00Z", {"gb": -2}))
    assert _usage(api, clock)["units"] == "0"


def test_unique_count(api, clock):
    _subscribe(api, {"code": "users", "aggregation_type": "unique_count_agg", "field_name": "user"}, amount="2")
    _send(api, *[("2026-11-02T00:00:00Z", {"user": u}) for u in ("ann", "bob", "ann", "cy")],
          ("2026-11-03T00:00:00Z", {"user": 42}), ("2026-11-03T01:00:00Z", {"user": 42.0}))
    usage = _usage(api, clock)
    assert (usage["units"], usage["events_count"], usage["amount_cents"]) == ("4", 6, 800)


def test_weighted_sum_worked_example(api, clock):
    # BILLING.md: 30-day period, +10 on day 0 and +5 on day 15 → 10 × 0.5 + 15 × 0.5 = 12.5.
    _subscribe(api, {"code": "gb_hours", "aggregation_type": "weighted_sum_agg", "field_name": "gb",
                     "weighted_interval": "seconds"})
    _send(api, ("2026-11-01T00:00:00Z", {"gb": 10}), ("2026-11-16T00:00:00Z", {"gb": 5}))
    assert Decimal(_usage(api, clock)["units"]) == Decimal("12.5")


def test_custom_expression(api, clock):
    _subscribe(api, {"code": "compute", "aggregation_type": "custom_agg",
                     "expression": "round((event.properties.ended_at - event.properties.started_at) "
                                   "* event.properties.units)"}, amount="0.01")
    _send(api, ("2026-11-02T00:00:00Z", {"started_at": 1700000000, "ended_at": 1700000090, "units": "2.5"}),
          ("2026-11-03T00:00:00Z", {"started_at": 0, "ended_at": 10, "units": 1}))
    usage = _usage(api, clock)
    assert (usage["units"], usage["amount_cents"]) == ("235", 235)


def test_expression_on_sum_and_rounding(api, clock):
    _subscribe(api, {"code": "gb", "aggregation_type": "sum_agg", "expression": "event.properties.bytes / 1000",
                     "rounding_function": "ceil", "rounding_precision": 0})
    _send(api, ("2026-11-02T00:00:00Z", {"bytes": 1500}), ("2026-11-03T00:00:00Z", {"bytes": 200}))
    assert _usage(api, clock)["units"] == "2"  # 1.7 rounded up


def test_recurring_sum_carries_into_the_next_period(api, clock):
    clock.set("2026-10-01T00:00:00Z")
    _subscribe(api, {"code": "seats", "aggregation_type": "sum_agg", "field_name": "seats", "recurring": True},
               subscription_at="2026-10-01T00:00:00Z")
    _send(api, ("2026-10-05T00:00:00Z", {"seats": 10}), ("2026-10-20T00:00:00Z", {"seats": -3}),
          ("2026-11-10T00:00:00Z", {"seats": 2}))
    assert _usage(api, clock)["units"] == "9"


def test_recurring_unique_count_keeps_seats_until_removed(api, clock):
    clock.set("2026-10-01T00:00:00Z")
    _subscribe(api, {"code": "seats", "aggregation_type": "unique_count_agg", "field_name": "user",
                     "recurring": True}, subscription_at="2026-10-01T00:00:00Z")
    _send(api, ("2026-10-05T00:00:00Z", {"user": "ann"}), ("2026-10-06T00:00:00Z", {"user": "bob"}),
          ("2026-10-07T00:00:00Z", {"user": "cy"}),
          ("2026-10-20T00:00:00Z", {"user": "bob", "operation_type": "remove"}),
          # cy leaves during November: still billed for November, which she used.
          ("2026-11-03T00:00:00Z", {"user": "cy", "operation_type": "remove"}),
          ("2026-11-04T00:00:00Z", {"user": "dan"}))
    assert _usage(api, clock)["units"] == "3"  # ann, cy, dan


def test_recurring_weighted_sum_starts_from_the_running_total(api, clock):
    clock.set("2026-10-01T00:00:00Z")
    _subscribe(api, {"code": "gb", "aggregation_type": "weighted_sum_agg", "field_name": "gb", "recurring": True},
               subscription_at="2026-10-01T00:00:00Z")
    _send(api, ("2026-10-10T00:00:00Z", {"gb": 20}), ("2026-11-16T00:00:00Z", {"gb": -10}))
    assert Decimal(_usage(api, clock)["units"]) == Decimal(15)  # 20 for 15 days, then 10 for 15 days


def test_filters_split_usage_and_price_each_part(api, clock):
    _subscribe(api, {"code": "calls", "aggregation_type": "count_agg"}, amount="0.10",
               filters=[{"key": "region", "values": ["eu", "us"]}, {"key": "tier", "values": ["gold"]}],
               charge_filters=[
                   {"values": {"region": ["eu"]}, "properties": {"amount": "1"}, "invoice_display_name": "EU"},
                   {"values": {"region": ["eu"], "tier": ["gold"]}, "properties": {"amount": "5"}},
               ])
    _send(api, ("2026-11-02T00:00:00Z", {"region": "eu"}), ("2026-11-02T01:00:00Z", {"region": "eu"}),
          ("2026-11-02T02:00:00Z", {"region": "eu", "tier": "gold"}),  # the filter with the most keys wins
          ("2026-11-02T03:00:00Z", {"region": "us"}), ("2026-11-02T04:00:00Z", {}))
    usage = _usage(api, clock)
    lines = {(f["invoice_display_name"], f["units"], f["amount_cents"]) for f in usage["filters"]}
    assert lines == {("EU", "2", 200), (None, "1", 500), (None, "2", 20)}
    assert (usage["units"], usage["amount_cents"]) == ("5", 720)


def test_an_event_counts_the_moment_it_is_accepted(api, clock):
    _subscribe(api, {"code": "calls", "aggregation_type": "count_agg"})
    clock.set("2026-11-20T00:00:00Z")
    for n in range(1, 4):
        api.post("/events", {"event": {"transaction_id": f"live-{n}", "external_subscription_id": "sub",
                                       "code": "calls"}})
        usage = api.get("/customers/cust/current_usage", external_subscription_id="sub")["customer_usage"]
        assert usage["charges_usage"][0]["units"] == str(n)  # no job needed: the tail is read raw
