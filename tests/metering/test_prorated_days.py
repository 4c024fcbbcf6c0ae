"""Property: the units held per local day (prorated charges), read from hourly rollups plus raw events
split at the customer's local midnights, equal a recomputation from the raw events alone, whatever the
timezone: whole-hour offsets, DST, and half- or quarter-hour offsets whose midnights cut an hour in two.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from billing.db import read_only, read_snapshot
from billing.metering.aggregation import Fact, GroupUsage, MetricSpec, daily_units, reference_daily_units
from billing.metering.models import Event
from billing.metering.rollups import roll_up_events
from billing.metering.usage import group_usage
from billing.subscriptions.periods import local_day_cuts
from tests.metering.test_rollups_match_raw_events import BASE, SPAN, _ingest, event_strategy, metrics  # noqa: F401

PRORATABLE = {"rsum": MetricSpec("sum_agg", recurring=True), "runique": MetricSpec("unique_count_agg", recurring=True),
              "custom": MetricSpec("custom_agg")}
TIMEZONES = ["UTC", "Europe/Paris", "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns", "Australia/Lord_Howe"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(first=st.lists(event_strategy, max_size=40), late=st.lists(event_strategy, max_size=15),
       roll_first=st.integers(0, 400), roll_late=st.integers(0, 100),
       start=st.integers(0, SPAN), length=st.integers(1, SPAN), timezone=st.sampled_from(TIMEZONES))
def test_daily_units_from_rollups_equal_recomputation(metrics, first, late, roll_first, roll_late, start,  # noqa: F811
                                                      length, timezone):
    organization_id = metrics
    subscription = uuid.uuid4().hex[:12]
    _ingest(organization_id, subscription, first, "a")
    if roll_first:
        roll_up_events(limit=roll_first)
    _ingest(organization_id, subscription, late, "a")
    if roll_late:
        roll_up_events(limit=roll_late)
    range_start = BASE + timedelta(seconds=start, microseconds=start % 7 * 1000)
    range_end = range_start + timedelta(seconds=length)
    cuts = local_day_cuts(range_start, range_end, timezone)

    for code, spec in PRORATABLE.items():
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
                                 unique=spec.aggregation_type == "unique_count_agg", day_cuts=cuts)
        total = GroupUsage()
        for group in groups.values():
            total.merge(group)
        days = len(cuts) + 1
        expected = reference_daily_units(spec, facts, range_start, range_end, cuts, BASE)
        assert daily_units(spec, total, days) == expected, code
        for key, group in groups.items():
            group_facts = [f for f in facts if f.group_key == key]
            assert daily_units(spec, group, days) == reference_daily_units(
                spec, group_facts, range_start, range_end, cuts, BASE), (code, key)
