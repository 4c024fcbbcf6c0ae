"""What only the ClickHouse store has to prove: copies of an event never count twice, its schema migrates once."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from billing.db import read_snapshot
from billing.metering.clickhouse_store import MIGRATIONS
from billing.metering.rollups import roll_up_events
from billing.metering.services import ingest_events
from billing.metering.sql_store import SqlEventStore
from billing.metering.store import CLICKHOUSE, POSTGRES, configure_event_store, event_store
from billing.metering.usage import UsageQuery
from billing.subscriptions.periods import local_day_cuts
from tests.metering.store_answers import comparable_usage
from tests.metering.test_rollups_match_raw_events import BASE, METRICS, SPAN, _ingest, metrics  # noqa: F401

pytestmark = pytest.mark.parametrize("events_store", [CLICKHOUSE], indirect=True)

AT = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


def _count_usage(org_id: str) -> int:
    query = UsageQuery(code="calls", start=datetime(2026, 11, 1, tzinfo=UTC), end=datetime(2026, 12, 1, tzinfo=UTC))
    with read_snapshot() as session:
        [groups] = event_store().subscription_usages(session, organization_id=org_id, requests=[("sub", query)])
    return sum(group.during.events_count for group in groups.values())


def test_a_copy_not_merged_yet_is_read_once(org, clock, events_store):
    """A retried insert (the same rows again) and a re-derivation (a higher revision) leave copies until
    ClickHouse merges them: every read keeps one row per transaction id, of the highest revision."""
    ingest_events(organization_id=org.id, raw_events=[
        {"transaction_id": f"t{i}", "external_subscription_id": "sub", "code": "calls", "timestamp": AT.isoformat()}
        for i in range(3)])
    store = event_store()
    store._command("INSERT INTO events SELECT * FROM events")  # every row twice, as a retried insert leaves them
    store._command("INSERT INTO events SELECT * REPLACE (revision + 1 AS revision, NULL AS error) FROM events "
                   "WHERE transaction_id = 't0' LIMIT 1")  # t0 re-derived: counted now, once
    [(rows,)] = store._rows("SELECT count() FROM events")
    assert rows == 7
    assert store.list_events(organization_id=org.id).total_count == 3
    assert _count_usage(org.id) == 1  # only t0's newest revision has no error (metric_not_found)
    [t0] = store.find_events(org.id, ["t0"])
    assert t0["error"] is None


def test_migrations_apply_once(clickhouse_store, events_store):
    assert clickhouse_store.migrate() == []
    [(applied,)] = clickhouse_store._rows("SELECT count() FROM tally_migrations")
    assert applied == len(list(MIGRATIONS.glob("*.sql")))


def _stream(seed: int, size: int) -> list[dict]:
    """Events as tests/metering/test_rollups_match_raw_events.py makes them: duplicates, removals, filters."""
    rng = random.Random(seed)
    seconds = rng.sample(range(SPAN), size)  # distinct moments: the latest event is never a tie
    return [{"tx": rng.randint(0, size // 2), "second": second,
             "v": rng.choice([rng.randint(-50, 50), f"{rng.uniform(-100, 100):.3f}"]),
             "user": rng.choice(["ann", "bob", "cy", "dan"]), "remove": rng.random() < 0.3,
             "region": rng.choice(["eu", "us", None])} for second in seconds]


def test_both_stores_give_the_same_usage_on_the_same_events(metrics, clock, clickhouse_store,  # noqa: F811
                                                            events_store):
    """Late events, duplicates, removals and filter groups, read over ranges with partial hours and days cut at
    local midnights (Kolkata: inside an hour): the SQL store (rollups, some folded, plus raw) and ClickHouse
    give the same partials."""
    first, late = _stream(1, 160), _stream(2, 60)
    queries = []
    for start, length in ((3_700, 2 * 86_400 + 1_234), (0, SPAN), (86_400 + 59, 5_000)):
        range_start = BASE + timedelta(seconds=start)
        range_end = range_start + timedelta(seconds=length)
        for code, spec in METRICS.items():
            recurring = bool(spec.get("recurring"))
            queries.append(UsageQuery(code=code, start=range_start, end=range_end,
                                      before_start=BASE if recurring else None,
                                      unique=spec["aggregation_type"] == "unique_count_agg",
                                      latest=spec["aggregation_type"] == "latest_agg",
                                      day_cuts=tuple(local_day_cuts(range_start, range_end, "Asia/Kolkata"))
                                      if code in ("rsum", "runique", "custom") else None))
    answers = {}
    for store in (SqlEventStore(), clickhouse_store):
        configure_event_store(store)
        _ingest(metrics, "sub", first, "a")
        roll_up_events(limit=150)  # the SQL store: some events folded into rollups, the others raw
        _ingest(metrics, "sub", late, "a")  # late: earlier timestamps, some transaction ids known already
        with read_snapshot() as session:
            read = store.subscription_usages(session, organization_id=metrics,
                                             requests=[("sub", query) for query in queries])
        answers[store.name] = [comparable_usage(query, groups) for query, groups in zip(queries, read, strict=True)]
    assert answers[POSTGRES] == answers[CLICKHOUSE]
    assert any(groups for groups in answers[CLICKHOUSE])
