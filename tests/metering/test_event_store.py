"""The event store's own contract (billing.metering.store), on the SQL store and again on the ClickHouse store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from billing.db import read_only, read_snapshot
from billing.metering.models import Event
from billing.metering.services import ingest_events
from billing.metering.store import CLICKHOUSE, event_store
from billing.metering.usage import UsageQuery
from billing.settings import Settings

pytestmark = pytest.mark.both_stores  # the SQL store, then ClickHouse (tests/conftest.py)

AT = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


def _event(transaction_id: str, *, subscription: str = "sub", code: str = "calls", at: datetime = AT,
           **properties) -> dict:
    return {"transaction_id": transaction_id, "external_subscription_id": subscription, "code": code,
            "timestamp": at.isoformat(), "properties": properties}


def _stored_rows(events_store: str) -> int:
    """Rows as stored, copies included: no read collapses them here."""
    if events_store == CLICKHOUSE:
        [(count,)] = event_store()._rows("SELECT count() FROM events")
        return int(count)
    with read_only() as session:
        return session.scalar(select(func.count()).select_from(Event))


def test_a_transaction_id_is_stored_once_and_answered_as_stored(org, clock, events_store):
    first = ingest_events(organization_id=org.id, raw_events=[_event("a"), _event("b"), _event("a", n=2)])
    assert [e["transaction_id"] for e in first] == ["a", "b", "a"]
    assert first[0]["id"] == first[2]["id"] and first[2]["properties"] == {}  # the first of the batch is kept
    again = ingest_events(organization_id=org.id, raw_events=[_event("b", n=9), _event("c")])
    assert again[0]["id"] == first[1]["id"] and again[0]["properties"] == {}
    assert again[1]["id"] > max(e["id"] for e in first)  # ids only grow
    assert _stored_rows(events_store) == 3
    found = {e["transaction_id"]: e for e in event_store().find_events(org.id, ["a", "c", "zz"])}
    assert set(found) == {"a", "c"}
    assert found["c"]["timestamp"] == AT and found["c"]["error"] == "metric_not_found"


def test_events_are_listed_latest_first_filtered_and_paged(org, clock, events_store):
    raw = [_event(f"t{i}", subscription=f"s{i % 2}", code=("calls", "bytes")[i % 3 == 0],
                  at=AT + timedelta(minutes=i % 7)) for i in range(25)]
    ingest_events(organization_id=org.id, raw_events=raw)
    store = event_store()
    every = store.list_events(organization_id=org.id, per_page=100)
    assert every.total_count == 25
    order = [(e["timestamp"], e["id"]) for e in every.items]
    assert order == sorted(order, reverse=True)
    second = store.list_events(organization_id=org.id, page=2, per_page=10)
    assert [e["id"] for e in second.items] == [e["id"] for e in every.items[10:20]]
    calls_of_s1 = store.list_events(organization_id=org.id, external_subscription_ids=["s1"], code="calls",
                                    timestamp_from=AT + timedelta(minutes=2), timestamp_to=AT + timedelta(minutes=5))
    expected = {f"t{i}" for i in range(25) if i % 2 == 1 and i % 3 != 0 and 2 <= i % 7 <= 5}
    assert {e["transaction_id"] for e in calls_of_s1.items} == expected
    assert store.list_events(organization_id=org.id, transaction_id="t4").total_count == 1
    assert store.list_events(organization_id="another", per_page=5).total_count == 0


def test_consumers_follow_the_ids_up_to_the_settled_one(org, clock, events_store):
    store = event_store()
    before = store.settled_high_id()
    ingest_events(organization_id=org.id, raw_events=[_event("x", subscription="s1"), _event("y", subscription="s2")])
    high = store.settled_high_id()
    with read_only() as session:
        records = store.events_between(session, before, high)
        assert [r.transaction_id for r in records] == ["x", "y"]
        assert [r.id for r in records] == sorted(r.id for r in records)
        assert store.subscriptions_with_events(session, before, high) == {(org.id, "s1"), (org.id, "s2")}
        assert store.subscriptions_with_events(session, high, high + 10) == set()
        assert store.max_event_id(session, org.id) == records[-1].id


def test_usage_partials_count_each_event_once_per_range_and_day(org, clock, events_store, live_server):
    import httpx

    headers = {"Authorization": f"Bearer {org.api_key}"}
    httpx.post(f"{live_server}/api/v1/billable_metrics", headers=headers, json={"billable_metric": {
        "name": "GB", "code": "gb", "aggregation_type": "sum_agg", "field_name": "gb"}}).raise_for_status()
    ingest_events(organization_id=org.id, raw_events=[
        _event("1", code="gb", at=AT, gb="1.5"), _event("2", code="gb", at=AT + timedelta(days=1), gb=2),
        _event("3", code="gb", at=AT + timedelta(days=1, hours=1), gb="-0.25"),
        _event("4", code="gb", at=AT - timedelta(days=10), gb=100)])
    query = UsageQuery(code="gb", start=AT - timedelta(hours=1), end=AT + timedelta(days=2),
                       before_start=AT - timedelta(days=30), day_cuts=(AT + timedelta(hours=14),))
    with read_snapshot() as session:
        [groups] = event_store().subscription_usages(session, organization_id=org.id, requests=[("sub", query)])
    usage = groups[""]
    assert (usage.during.events_count, usage.during.value_sum, usage.during.value_max) == (3, Decimal("3.25"), 2)
    assert usage.during.latest[2] == Decimal("-0.25")
    assert usage.before.value_sum == 100
    assert {day: partial.value_sum for day, partial in usage.days.items()} == {0: Decimal("1.5"), 1: Decimal("1.75")}


def test_an_unknown_store_or_clickhouse_without_url_stops_the_start():
    with pytest.raises(ValueError, match="CLICKHOUSE_URL"):
        Settings.from_env({"TALLY_EVENTS_STORE": "clickhouse", "SECRET_KEY": "k"})
    with pytest.raises(ValueError, match="TALLY_EVENTS_STORE"):
        Settings.from_env({"TALLY_EVENTS_STORE": "mongodb", "SECRET_KEY": "k"})
    chosen = Settings.from_env({"TALLY_EVENTS_STORE": "clickhouse", "CLICKHOUSE_URL": "chdb:///tmp/x",
                                "SECRET_KEY": "k"})
    assert (chosen.events_store, chosen.clickhouse_url) == ("clickhouse", "chdb:///tmp/x")


def test_forgetting_an_organization_leaves_nothing_of_its_events_and_keeps_the_others(org, clock, events_store):
    from billing.catalog.metrics import create_billable_metric
    from billing.db import unit_of_work
    from billing.organizations.services import create_organization

    other = create_organization(name="Other Cloud", default_currency="EUR").organization_id
    for organization in (org.id, other):
        create_billable_metric(organization_id=organization, data={"name": "Calls", "code": "calls",
                                                                   "aggregation_type": "count_agg"})
        ingest_events(organization_id=organization, raw_events=[_event("a"), _event("b", at=AT - timedelta(days=2))])
    store = event_store()
    store.roll_up(limit=1000)  # on the SQL store, into its rollups too: forgotten with the events
    with unit_of_work() as uow:
        store.forget_organization(uow.session, org.id)

    assert store.list_events(organization_id=org.id).total_count == 0
    assert store.find_events(org.id, ["a", "b"]) == []
    query = UsageQuery(code="calls", start=AT - timedelta(days=5), end=AT + timedelta(days=1))
    with read_snapshot() as session:
        [forgotten], [kept] = (store.subscription_usages(session, organization_id=organization,
                                                         requests=[("sub", query)]) for organization in (org.id, other))
    assert forgotten == {} and kept[""].during.events_count == 2
    assert {e["transaction_id"] for e in store.list_events(organization_id=other).items} == {"a", "b"}
    again = ingest_events(organization_id=org.id, raw_events=[_event("a")])  # a transaction id forgotten is new
    assert store.list_events(organization_id=org.id).total_count == 1 and again[0]["id"] > 0
