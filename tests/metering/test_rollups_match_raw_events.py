"""Property: usage read from the rollups (whole hours) plus raw events (edges and the pending tail)
equals a recomputation from the raw events alone, for every aggregation type, whatever the stream:
duplicates, out of order, late events after the job ran, filter groups, and rollups at any stage.
"""

from __future__ import annotations

import uuid
from bisect import bisect_right
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from billing.catalog.metrics import create_billable_metric
from billing.db import read_only, read_snapshot
from billing.metering.aggregation import Fact, GroupUsage, MetricSpec, reference_units, units
from billing.metering.models import Event
from billing.metering.rollups import roll_up_events
from billing.metering.services import ingest_events
from billing.metering.usage import UsageQuery, group_usage, group_usages

BASE = datetime(2026, 11, 1, tzinfo=UTC)
SPAN = 3 * 86400  # the stream covers three days

METRICS = {
    "count": {"aggregation_type": "count_agg"},
    "sum": {"aggregation_type": "sum_agg", "field_name": "v"},
    "rsum": {"aggregation_type": "sum_agg", "field_name": "v", "recurring": True},
    "max": {"aggregation_type": "max_agg", "field_name": "v"},
    "latest": {"aggregation_type": "latest_agg", "field_name": "v"},
    "unique": {"aggregation_type": "unique_count_agg", "field_name": "user"},
    "runique": {"aggregation_type": "unique_count_agg", "field_name": "user", "recurring": True},
    "weighted": {"aggregation_type": "weighted_sum_agg", "field_name": "v"},
    "rweighted": {"aggregation_type": "weighted_sum_agg", "field_name": "v", "recurring": True},
    "custom": {"aggregation_type": "custom_agg", "expression": "event.properties.v * 2 + 1"},
}

event_strategy = st.fixed_dictionaries({
    "tx": st.integers(0, 60),  # a small pool: duplicates happen
    "second": st.integers(0, SPAN - 1),
    "v": st.one_of(st.integers(-50, 50), st.decimals(-100, 100, places=3).map(str)),
    "user": st.sampled_from(["ann", "bob", "cy", "dan"]),
    "remove": st.booleans(),
    "region": st.sampled_from(["eu", "us", None]),
})


@pytest.fixture
def metrics(org):
    for code, spec in METRICS.items():
        create_billable_metric(organization_id=org.id, data={
            "name": code, "code": code, **spec, "filters": [{"key": "region", "values": ["eu", "us"]}]})
    return org.id


def _ingest(organization_id: str, subscription: str, events: list[dict], salt: str) -> None:
    for offset in range(0, len(events), 7):
        batch = []
        for e in events[offset:offset + 7]:
            properties = {"v": e["v"], "user": e["user"]}
            if e["remove"]:
                properties["operation_type"] = "remove"
            if e["region"]:
                properties["region"] = e["region"]
            for code in METRICS:
                batch.append({"transaction_id": f"{subscription}-{code}-{salt}{e['tx']}", "code": code,
                              "external_subscription_id": subscription, "properties": properties,
                              "timestamp": (BASE + timedelta(seconds=e["second"])).isoformat()})
        for chunk in range(0, len(batch), 100):
            ingest_events(organization_id=organization_id, raw_events=batch[chunk:chunk + 100])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(first=st.lists(event_strategy, max_size=40), late=st.lists(event_strategy, max_size=15),
       roll_first=st.integers(0, 400), roll_late=st.integers(0, 100),
       start=st.integers(0, SPAN), length=st.integers(0, SPAN))
def test_rollups_plus_raw_equal_recomputation(metrics, first, late, roll_first, roll_late, start, length):
    organization_id = metrics
    subscription = uuid.uuid4().hex[:12]
    _ingest(organization_id, subscription, first, "a")
    if roll_first:
        roll_up_events(limit=roll_first)
    _ingest(organization_id, subscription, late, "a")  # some are duplicates of the first ones, some late
    if roll_late:
        roll_up_events(limit=roll_late)
    range_start = BASE + timedelta(seconds=start, microseconds=start % 7 * 1000)
    range_end = range_start + timedelta(seconds=length)

    specs = {code: MetricSpec(aggregation_type=data["aggregation_type"], recurring=data.get("recurring", False))
             for code, data in METRICS.items()}
    with read_snapshot() as session:  # every metric in one read, as current usage reads a plan's charges
        all_groups = dict(zip(specs, group_usages(
            session, organization_id=organization_id, external_subscription_id=subscription,
            queries=[UsageQuery(code, range_start, range_end, before_start=BASE if spec.recurring else None,
                                unique=spec.aggregation_type == "unique_count_agg",
                                latest=spec.aggregation_type == "latest_agg")
                     for code, spec in specs.items()]), strict=True))
    for code, spec in specs.items():
        with read_only() as session:
            facts = [Fact(id=r.id, timestamp=r.timestamp, value=r.value, unique_value=r.unique_value,
                          operation=r.operation, group_key=r.group_key)
                     for r in session.execute(select(Event).where(
                         Event.organization_id == organization_id, Event.external_subscription_id == subscription,
                         Event.code == code)).scalars()]
        with read_snapshot() as session:
            groups = group_usage(session, organization_id=organization_id, external_subscription_id=subscription,
                                 code=code, start=range_start, end=range_end,
                                 before_start=BASE if spec.recurring else None,
                                 unique=spec.aggregation_type == "unique_count_agg")
        assert all_groups[code].keys() == groups.keys()
        for key, group in all_groups[code].items():
            assert units(spec, group, range_start, range_end) == units(spec, groups[key], range_start, range_end)
        total = GroupUsage()
        for group in groups.values():
            total.merge(group)
        expected = reference_units(spec, facts, range_start, range_end, BASE)
        assert units(spec, total, range_start, range_end) == expected, code
        for key, group in groups.items():
            group_facts = [f for f in facts if f.group_key == key]
            assert units(spec, group, range_start, range_end) == reference_units(
                spec, group_facts, range_start, range_end, BASE), (code, key)
        if code == "sum":  # the charts: per local day (UTC midnights here), rollups and the pending tail together
            assert _chart(organization_id, subscription, code, range_start, range_end) == _days_of(
                facts, range_start, range_end)


def test_reference_agrees_with_the_input_stream(metrics):
    """The oracle itself, against numbers written by hand: duplicates count once (the first one wins)."""
    organization_id = metrics
    events = [{"tx": 1, "second": 10, "v": 5, "user": "ann", "remove": False, "region": "eu"},
              {"tx": 1, "second": 20, "v": 99, "user": "bob", "remove": False, "region": None},  # duplicate
              {"tx": 2, "second": 3600 * 30, "v": "2.5", "user": "bob", "remove": False, "region": None}]
    _ingest(organization_id, "sub-x", events, "b")
    roll_up_events(limit=1)
    end = BASE + timedelta(days=2)
    with read_snapshot() as session:
        sums = group_usage(session, organization_id=organization_id, external_subscription_id="sub-x", code="sum",
                           start=BASE, end=end)
        users = group_usage(session, organization_id=organization_id, external_subscription_id="sub-x",
                            code="unique", start=BASE, end=end, unique=True)
    total = GroupUsage()
    for group in sums.values():
        total.merge(group)
    assert units(MetricSpec("sum_agg"), total, BASE, end) == Decimal("7.5")
    assert units(MetricSpec("count_agg"), total, BASE, end) == 2
    all_users = GroupUsage()
    for group in users.values():
        all_users.merge(group)
    assert units(MetricSpec("unique_count_agg"), all_users, BASE, end) == 2


def _midnights(start: datetime, end: datetime) -> list[datetime]:
    midnights = (BASE + timedelta(days=day) for day in range(1, SPAN // 86400 + 2))
    return [midnight for midnight in midnights if start < midnight < end]


def _chart(organization_id: str, subscription: str, code: str, start: datetime,
           end: datetime) -> dict[int, tuple[int, Decimal]]:
    """Events and values per day of [start, end), as the charts read them (`period_usage.daily_usages`)."""
    with read_snapshot() as session:
        groups = group_usage(session, organization_id=organization_id, external_subscription_id=subscription,
                             code=code, start=start, end=end, latest=False, day_cuts=_midnights(start, end))
    days: dict[int, tuple[int, Decimal]] = {}
    for group in groups.values():
        for index, partial in group.days.items():
            count, total = days.get(index, (0, Decimal(0)))
            days[index] = (count + partial.events_count, total + partial.value_sum)
    return {index: day for index, day in days.items() if day[0]}


def _days_of(facts, start: datetime, end: datetime) -> dict[int, tuple[int, Decimal]]:
    cuts = _midnights(start, end)
    days: dict[int, tuple[int, Decimal]] = {}
    for fact in facts:
        if start <= fact.timestamp < end:
            index = bisect_right(cuts, fact.timestamp)
            count, total = days.get(index, (0, Decimal(0)))
            days[index] = (count + 1, total + fact.value)
    return days


def test_chart_days_count_each_event_once_whether_rolled_up_or_pending(metrics):
    """A bar per day of [start, end): its events counted once, read from the daily rollups, the hourly ones around
    them, or raw past the watermark; none outside [start, end)."""
    seconds = [600, 3600 + 600, 86400 + 3000, 2 * 86400 + 60, 2 * 86400 + 7200]
    _ingest(metrics, "chart", [{"tx": i, "second": second, "v": i + 1, "user": "ann", "remove": False,
                                "region": None} for i, second in enumerate(seconds)], "c")
    roll_up_events(limit=len(METRICS) * 3)  # the first three events of every metric folded, the rest pending
    assert _chart(metrics, "chart", "sum", BASE + timedelta(minutes=5), BASE + timedelta(days=2, hours=1)) == {
        0: (2, Decimal(3)), 1: (1, Decimal(3)), 2: (1, Decimal(4))}


def test_statistics_are_refreshed_after_a_large_rollup(metrics):
    from sqlalchemy import text

    from billing.db import engine
    from billing.metering.rollups import refresh_event_statistics

    if engine().dialect.name != "postgresql":
        pytest.skip("planner statistics are PostgreSQL's")
    _ingest(metrics, "stats", [{"tx": i, "second": i * 3600, "v": 1, "user": f"u{i}", "remove": False,
                                "region": None} for i in range(20)], "s")
    while roll_up_events():
        pass
    refresh_event_statistics()
    with engine().connect() as connection:
        rollups, unique_values = connection.execute(text(
            "SELECT sum(reltuples) FILTER (WHERE relname = 'usage_rollups'), "
            "sum(reltuples) FILTER (WHERE relname = 'usage_unique_values') FROM pg_class")).one()
    # ANALYZE ran: the planner knows the rows now (one rollup per metric and hour; one unique value per hour)
    assert rollups >= 20 * len(METRICS) and unique_values >= 20
