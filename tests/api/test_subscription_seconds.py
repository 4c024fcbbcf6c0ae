"""A subscription's instants are stored as the API shows them, to the second (issue 20)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.metering.test_aggregation_examples import Api


@pytest.mark.both_stores
def test_an_event_stamped_with_the_second_shown_as_started_at_is_counted(live_server, org, clock):
    api = Api(live_server, org.api_key)
    clock.set(datetime(2026, 11, 10, 12, 0, 7, 654321, tzinfo=UTC))  # the request arrives mid-second
    metric = api.post("/billable_metrics", {"billable_metric": {"name": "Calls", "code": "calls",
                                                                "aggregation_type": "count_agg"}})
    api.post("/plans", {"plan": {"name": "Usage", "code": "usage", "interval": "monthly", "amount_cents": 0,
                                 "amount_currency": "EUR", "charges": [{
                                     "billable_metric_id": metric["billable_metric"]["lago_id"],
                                     "charge_model": "standard", "properties": {"amount": "1"}}]}})
    created = api.post("/subscriptions", {"subscription": {"external_customer_id": "cust", "plan_code": "usage",
                                                           "external_id": "sub"}})["subscription"]
    assert created["started_at"] == created["subscription_at"] == "2026-11-10T12:00:07Z"

    event = api.post("/events", {"event": {"transaction_id": "at-start", "external_subscription_id": "sub",
                                           "code": "calls", "timestamp": created["started_at"]}})["event"]
    assert api.get(f"/events/{event['transaction_id']}")["event"]["error"] is None
    clock.set("2026-11-20T00:00:00Z")
    [charge] = api.get("/customers/cust/current_usage", external_subscription_id="sub")[
        "customer_usage"]["charges_usage"]
    assert (charge["units"], charge["events_count"]) == ("1", 1)

    ended = api.client.delete("/subscriptions/sub").json()["subscription"]
    assert ended["terminated_at"] == "2026-11-20T00:00:00Z"
