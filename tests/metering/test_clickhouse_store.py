"""What only the ClickHouse store has to prove: copies of an event never count twice, its schema migrates once."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from billing.catalog import metrics as catalog_metrics
from billing.catalog.metrics import update_billable_metric
from billing.db import read_only, read_snapshot
from billing.metering import rollups, services
from billing.metering.clickhouse_schema import MIGRATIONS
from billing.metering.models import ClickHouseHourlyRollup
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


def test_a_copy_not_merged_yet_is_read_once(org, clock, folds_by_hand, events_store):
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
    store.roll_up(limit=10**15)  # folded, the copies collapse as in a read
    assert _count_usage(org.id) == 1


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
        store.roll_up(limit=10**15)  # past every id of earlier tests (ids go on counting): this test's come next
        _ingest(metrics, "sub", first, "a")
        # Part of the events folded into the store's rollups, the others read raw (ids of the same batch may be
        # late in time: the rollups hold some hours partly, which reads must complete from raw events). With jobs
        # in process, the rollup job may also run by itself meanwhile: any split must give the same answers.
        store.roll_up(limit=40)
        _ingest(metrics, "sub", late, "a")  # late: earlier timestamps, some transaction ids known already
        with read_snapshot() as session:
            read = store.subscription_usages(session, organization_id=metrics,
                                             requests=[("sub", query) for query in queries])
        answers[store.name] = [comparable_usage(query, groups) for query, groups in zip(queries, read, strict=True)]
    assert answers[POSTGRES] == answers[CLICKHOUSE]
    assert any(groups for groups in answers[CLICKHOUSE])


def _sums(org_id: str, code: str) -> tuple[int, object]:
    query = UsageQuery(code=code, start=datetime(2026, 11, 1, tzinfo=UTC), end=datetime(2026, 12, 1, tzinfo=UTC))
    with read_snapshot() as session:
        [groups] = event_store().subscription_usages(session, organization_id=org_id, requests=[("sub", query)])
    return (sum(group.during.events_count for group in groups.values()),
            sum(group.during.value_sum for group in groups.values()))


def _folded(org_id: str, code: str) -> int:
    with read_only() as session:
        return session.scalar(select(func.coalesce(func.sum(ClickHouseHourlyRollup.events_count), 0)).where(
            ClickHouseHourlyRollup.organization_id == org_id, ClickHouseHourlyRollup.code == code))


def _send(org_id: str, *events: tuple[str, str, int]) -> None:
    ingest_events(organization_id=org_id, raw_events=[
        {"transaction_id": transaction, "external_subscription_id": "sub", "code": "sum", "timestamp": at,
         "properties": {"v": value, "w": value * 10}} for transaction, at, value in events])


@pytest.fixture
def folds_by_hand(run_jobs, monkeypatch):
    """Only the test runs the rollup job: ingestion and metric changes ask for none (with jobs in process, one
    would run on a thread of its own, whenever)."""
    run_jobs()  # whatever an earlier step asked for, done now
    monkeypatch.setattr(services, "request_rollup", lambda: None)
    monkeypatch.setattr(catalog_metrics, "request_rollup", lambda: None)


def test_the_rollup_job_folds_each_event_once_whatever_line_it_dies_at(metrics, monkeypatch,  # noqa: F811
                                                                        folds_by_hand, events_store):
    """The fold is one ledger transaction (ClickHouse is only read): killed before the watermark moves, nothing of
    it stays; the rerun folds the same events once. A late event counts at once, raw, then joins its old hour."""
    store = event_store()
    store.roll_up(limit=10**15)
    _send(metrics, *((f"t{i}", f"2026-11-02T{i:02d}:30:00Z", i) for i in range(10)))
    with monkeypatch.context() as patched:
        def killed(*_args, **_kwargs):
            raise SystemExit("worker killed after the rollups were written, before the watermark moved")
        patched.setattr(rollups, "move_watermark", killed)
        with pytest.raises(SystemExit):
            store.roll_up(limit=10**15)
    assert _folded(metrics, "sum") == 0  # rolled back with the watermark
    assert _sums(metrics, "sum") == (10, 45)
    assert store.roll_up(limit=10**15) > 0
    assert store.roll_up(limit=10**15) == 0  # nothing left: the rerun took it all, once
    assert _folded(metrics, "sum") == 10 and _sums(metrics, "sum") == (10, 45)

    _send(metrics, ("late", "2026-11-02T03:10:00Z", 100), ("t1", "2026-11-02T05:00:00Z", 999))  # t1: known
    assert _sums(metrics, "sum") == (11, 145)  # the late one counts at once, raw; t1 not twice
    store.roll_up(limit=10**15)
    assert _folded(metrics, "sum") == 11 and _sums(metrics, "sum") == (11, 145)
    with read_only() as session:
        hour = session.get(ClickHouseHourlyRollup, (metrics, "sub", "sum", "", datetime(2026, 11, 2, 3, tzinfo=UTC)))
        assert (hour.events_count, hour.value_sum) == (2, 103)  # 03:30's event and the late 03:10 one


def test_changing_a_metric_refolds_its_rollups_from_the_new_values(metrics, folds_by_hand,  # noqa: F811
                                                                   events_store):
    store = event_store()
    store.roll_up(limit=10**15)
    _send(metrics, *((f"t{i}", f"2026-11-02T{i:02d}:30:00Z", i) for i in range(4)))
    store.roll_up(limit=10**15)
    _send(metrics, ("t9", "2026-11-03T00:30:00Z", 5))  # past the watermark: raw
    assert _folded(metrics, "sum") == 4 and _sums(metrics, "sum") == (5, 11)
    update_billable_metric(organization_id=metrics, code="sum", data={"field_name": "w"})
    assert _folded(metrics, "sum") == 4 and _sums(metrics, "sum") == (5, 110)  # w = 10 v, folded and raw alike
