"""The rollup job: folds new events into hourly `UsageRollup`/`UsageUniqueValue` rows.

A single watermark says how far the job has gone: every event with `id <= rollup_watermarks.
last_event_id` is in the rollups, every later one is not (yet). Usage queries read whole hours from
the rollups and everything else (partial hours at the period's edges, and the events past the
watermark) from the raw events, in one snapshot, so an event counts the moment its ingestion
commits and the job may lag, stop or rerun without changing any result.

Why a watermark instead of a per-event "rolled up" flag: marking each event costs PostgreSQL a
second write of the row and of all its index entries, which was most of the job's cost. An id
watermark needs ids to become visible in order, which concurrent transactions do not guarantee on
PostgreSQL (id 10 may commit before id 9); so every ingestion transaction holds a shared advisory
lock while it inserts, and the job takes that lock exclusively for an instant before reading the
highest id (`settled_high_id`): once it holds it, no insert is in flight and every id up to the
highest is final. On SQLite writers are serialized, so the highest id is always settled.

The fold is one transaction: rollups upserted and the watermark moved together, or neither.
"""

from __future__ import annotations

import os
import socket
import time
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

import billing.models  # noqa: F401  (every mapper, so the job runs in any process)
from billing.catalog.models import BillableMetric
from billing.db import engine, unit_of_work
from billing.metering import locks
from billing.metering.aggregation import Fact, Partial, UniqueTally
from billing.metering.facts import derive, metric_reading
from billing.metering.models import (
    SQL_ROLLUPS,
    Event,
    RollupTables,
    RollupWatermark,
)
from billing.metering.store import event_store
from billing.ports import runtime

BUCKET = timedelta(hours=1)
BATCH = 50_000
WATERMARK = "events"


def bucket_start(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def day_start(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def bucket_ceil(moment: datetime) -> datetime:
    start = bucket_start(moment)
    return start if start == moment else start + BUCKET


_next_rollup_at = 0.0
# This process's own rollup job: a run another process asked for may start before this process's
# next commit, so it cannot stand for this process's promise (below).
_ROLLUP_JOB = f"roll-up-events-{socket.gethostname()}-{{pid}}"


def request_rollup() -> None:
    """Ask for the rollup job after a commit of new events, at most once per `runtime.rollup_delay`
    seconds per process.

    The job is asked to start no earlier than that delay from now, so every commit of this process
    that skips the request because one is already promised is taken by that run. When this
    process's previous run is still waiting (a busy worker), nothing new is promised: that run
    takes this commit, but maybe not the next, which asks again.
    """
    global _next_rollup_at
    now = time.time()
    if now < _next_rollup_at:
        return
    not_before = now + runtime.rollup_delay
    if runtime.dispatcher.enqueue("roll_up_events", job_id=_ROLLUP_JOB.format(pid=os.getpid()),
                                  not_before=not_before):
        _next_rollup_at = not_before


def settled_high_id() -> int:
    """The highest event id below which no insert is still in flight (any job keeping an id watermark)."""
    with engine().connect() as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": locks.INSERT_BARRIER})
        return connection.execute(text("SELECT coalesce(max(id), 0) FROM events")).scalar_one()


def watermark(session: Session, *, for_update: bool = False, name: str = WATERMARK) -> int:
    """The id of the last event the job `name` has passed (0: none); the rollups' by default."""
    query = select(RollupWatermark.last_event_id).where(RollupWatermark.name == name)
    if for_update:
        query = query.with_for_update()
        if session.bind.dialect.name == "sqlite":
            # SQLite has no row lock: take its write lock now, so that a fold reading events outside this database
            # (the ClickHouse store's) and a metric's re-derivation run one after the other, as on PostgreSQL.
            session.execute(update(RollupWatermark).where(RollupWatermark.name == name)
                            .values(last_event_id=RollupWatermark.last_event_id))
    value = session.scalar(query)
    if value is None and not for_update:
        return 0
    if value is None:  # a database made without the migrations' first row
        session.execute(_insert(session)(RollupWatermark).on_conflict_do_nothing(),
                        [{"name": name, "last_event_id": 0}])
        value = session.scalar(query)
    return value


def move_watermark(session: Session, *, name: str, to: int) -> None:
    """Record that the job `name` has passed every event id up to `to` (its row locked by `watermark`)."""
    session.execute(update(RollupWatermark).where(RollupWatermark.name == name).values(last_event_id=to))


def roll_up_events(*, limit: int = BATCH) -> int:
    """Fold up to `limit` ids' worth of new events into the rollups; returns how many ids were passed (0: none)."""
    high = settled_high_id()
    with unit_of_work() as uow:
        session = uow.session
        low = watermark(session, for_update=True)  # a second job waits here, then finds less to do
        high = min(high, low + limit)
        if high <= low:
            return 0
        fold_events(session, low, high)
        session.execute(update(RollupWatermark).where(RollupWatermark.name == WATERMARK)
                        .values(last_event_id=high))
        return high - low


def fold_events(session: Session, low: int, high: int, *, organization_id: str | None = None,
                code: str | None = None) -> None:
    """Add the events with low < id <= high (of one metric, when given) to the rollups."""
    if session.bind.dialect.name == "postgresql":
        _fold_in_sql(session, low, high, organization_id=organization_id, code=code)
        return
    scope = [Event.id > low, Event.id <= high, or_(Event.error.is_(None), Event.error != "metric_not_found")]
    if organization_id is not None:
        scope += [Event.organization_id == organization_id, Event.code == code]
    partials: dict[tuple, Partial] = defaultdict(Partial)
    tallies: dict[tuple, UniqueTally] = defaultdict(UniqueTally)
    rows = session.execute(select(Event.id, Event.organization_id, Event.external_subscription_id, Event.code,
                                  Event.group_key, Event.timestamp, Event.value, Event.unique_value,
                                  Event.operation).where(*scope))
    for row in rows:
        fact = Fact(id=row.id, timestamp=row.timestamp, value=row.value, unique_value=row.unique_value,
                    operation=row.operation, group_key=row.group_key)
        key = (row.organization_id, row.external_subscription_id, row.code, row.group_key,
               bucket_start(row.timestamp))
        partials[key].add(fact)
        if row.unique_value is not None:
            tallies[(*key[:4], row.unique_value, key[4])].add(fact)
    fold_hourly(session, partials, tallies)


def fold_hourly(session: Session, partials: dict[tuple, Partial], tallies: dict[tuple, UniqueTally],
                tables: RollupTables = SQL_ROLLUPS) -> None:
    """Add hourly aggregates of new events to the hourly and daily rollups and the unique values.

    `partials` keyed (organization, external subscription, code, group, hour), `tallies` (organization,
    external subscription, code, group, unique value, hour): what a batch of events makes, however it was summed
    (here from the SQLite events table, or by ClickHouse for the ClickHouse store).
    """
    _fold_partials(session, tables.hourly, partials)
    days: dict[tuple, Partial] = defaultdict(Partial)
    for key, partial in partials.items():
        days[(*key[:4], day_start(key[4]))].merge(partial)
    _fold_partials(session, tables.daily, days)
    _fold_tallies(session, tables.unique_values, tallies)


def forget_rollups(session: Session, *, organization_id: str, code: str, tables: RollupTables = SQL_ROLLUPS) -> None:
    """Delete one metric's rollups (before they are folded again from its re-derived events)."""
    for model in tables:
        session.execute(delete(model).where(model.organization_id == organization_id, model.code == code))


# PostgreSQL folds a batch in two statements, aggregating in SQL and merging each aggregate into
# its row with ON CONFLICT: the same combination rules as `Partial.merge`/`UniqueTally.merge`
# (sums add up, the max is the greater, the latest is the later by (timestamp, id)).
_PG_FOLD_ROLLUPS = """
INSERT INTO {table} AS r (organization_id, external_subscription_id, code, group_key, bucket_start,
                                events_count, value_sum, value_max, value_time_sum,
                                latest_timestamp, latest_event_id, latest_value)
SELECT organization_id, external_subscription_id, code, group_key, date_trunc('{unit}', timestamp),
       count(*), sum(coalesce(value, 0)), max(coalesce(value, 0)),
       sum(coalesce(value, 0) * extract(epoch FROM timestamp)),
       (array_agg(timestamp ORDER BY timestamp DESC, id DESC))[1],
       (array_agg(id ORDER BY timestamp DESC, id DESC))[1],
       (array_agg(coalesce(value, 0) ORDER BY timestamp DESC, id DESC))[1]
FROM events WHERE {scope}
GROUP BY 1, 2, 3, 4, 5
ORDER BY 1, 2, 3, 4, 5
ON CONFLICT (organization_id, external_subscription_id, code, group_key, bucket_start) DO UPDATE SET
    events_count = r.events_count + excluded.events_count,
    value_sum = r.value_sum + excluded.value_sum,
    value_max = greatest(r.value_max, excluded.value_max),
    value_time_sum = r.value_time_sum + excluded.value_time_sum,
    latest_timestamp = CASE WHEN r.latest_timestamp IS NULL OR (excluded.latest_timestamp, excluded.latest_event_id)
                            > (r.latest_timestamp, r.latest_event_id) THEN excluded.latest_timestamp
                            ELSE r.latest_timestamp END,
    latest_value = CASE WHEN r.latest_timestamp IS NULL OR (excluded.latest_timestamp, excluded.latest_event_id)
                        > (r.latest_timestamp, r.latest_event_id) THEN excluded.latest_value ELSE r.latest_value END,
    latest_event_id = CASE WHEN r.latest_timestamp IS NULL OR (excluded.latest_timestamp, excluded.latest_event_id)
                           > (r.latest_timestamp, r.latest_event_id) THEN excluded.latest_event_id
                           ELSE r.latest_event_id END
"""

_PG_FOLD_UNIQUE_VALUES = """
INSERT INTO usage_unique_values AS u (organization_id, external_subscription_id, code, group_key, unique_value,
                                      bucket_start, adds, removes, last_timestamp, last_event_id, last_operation)
SELECT organization_id, external_subscription_id, code, group_key, unique_value, date_trunc('hour', timestamp),
       count(*) FILTER (WHERE operation <> 'remove'), count(*) FILTER (WHERE operation = 'remove'),
       (array_agg(timestamp ORDER BY timestamp DESC, id DESC))[1],
       (array_agg(id ORDER BY timestamp DESC, id DESC))[1],
       (array_agg(operation ORDER BY timestamp DESC, id DESC))[1]
FROM events WHERE {scope} AND unique_value IS NOT NULL
GROUP BY 1, 2, 3, 4, 5, 6
ORDER BY 1, 2, 3, 4, 5, 6
ON CONFLICT (organization_id, external_subscription_id, code, group_key, unique_value, bucket_start) DO UPDATE SET
    adds = u.adds + excluded.adds,
    removes = u.removes + excluded.removes,
    last_operation = CASE WHEN (excluded.last_timestamp, excluded.last_event_id) > (u.last_timestamp, u.last_event_id)
                          THEN excluded.last_operation ELSE u.last_operation END,
    last_event_id = CASE WHEN (excluded.last_timestamp, excluded.last_event_id) > (u.last_timestamp, u.last_event_id)
                         THEN excluded.last_event_id ELSE u.last_event_id END,
    last_timestamp = greatest(u.last_timestamp, excluded.last_timestamp)
"""


def _fold_in_sql(session: Session, low: int, high: int, *, organization_id: str | None, code: str | None) -> None:
    scope = "id > :low AND id <= :high AND (error IS NULL OR error <> 'metric_not_found')"
    params: dict[str, object] = {"low": low, "high": high}
    if organization_id is not None:
        scope += " AND organization_id = :organization_id AND code = :code"
        params.update(organization_id=organization_id, code=code)
    for table, unit in (("usage_rollups", "hour"), ("usage_daily_rollups", "day")):
        session.execute(text(_PG_FOLD_ROLLUPS.format(table=table, unit=unit, scope=scope)), params)
    session.execute(text(_PG_FOLD_UNIQUE_VALUES.format(scope=scope)), params)


def _insert(session: Session):
    return (sqlite if session.bind.dialect.name == "sqlite" else postgresql).insert


def _fold_partials(session: Session, model, partials: dict[tuple, Partial]) -> None:
    if not partials:
        return
    columns = ("organization_id", "external_subscription_id", "code", "group_key", "bucket_start")
    # Make sure every row exists, then lock and fold: concurrent folds serialize on the rows they share.
    session.execute(_insert(session)(model).on_conflict_do_nothing(), [
        {**dict(zip(columns, key, strict=True)), "events_count": 0, "value_sum": 0, "value_time_sum": 0}
        for key in partials])
    for key, delta in partials.items():
        row = session.execute(select(model).filter_by(**dict(zip(columns, key, strict=True)))
                              .with_for_update()).scalar_one()
        current = rollup_partial(row)
        current.merge(delta)
        row.events_count = current.events_count
        row.value_sum = current.value_sum
        row.value_max = current.value_max
        row.value_time_sum = current.value_time_sum
        if current.latest is not None:
            row.latest_timestamp, row.latest_event_id, row.latest_value = current.latest
    session.flush()


def _fold_tallies(session: Session, model, tallies: dict[tuple, UniqueTally]) -> None:
    if not tallies:
        return
    columns = ("organization_id", "external_subscription_id", "code", "group_key", "unique_value", "bucket_start")
    session.execute(_insert(session)(model).on_conflict_do_nothing(), [
        {**dict(zip(columns, key, strict=True)), "adds": 0, "removes": 0, "last_timestamp": tally.last[0],
         "last_event_id": tally.last[1], "last_operation": tally.last[2]} for key, tally in tallies.items()])
    for key, delta in tallies.items():
        row = session.execute(select(model).filter_by(**dict(zip(columns, key, strict=True)))
                              .with_for_update()).scalar_one()
        current = unique_tally(row)
        current.merge(delta)
        row.adds, row.removes = current.adds, current.removes
        row.last_timestamp, row.last_event_id, row.last_operation = current.last
    session.flush()


def rollup_partial(row) -> Partial:
    latest = (row.latest_timestamp, row.latest_event_id, row.latest_value) if row.latest_timestamp else None
    return Partial(events_count=row.events_count, value_sum=row.value_sum, value_max=row.value_max,
                   value_time_sum=row.value_time_sum, latest=latest)


def unique_tally(row) -> UniqueTally:
    # A fresh placeholder row (adds = removes = 0) carries the delta's own `last`, which merge keeps.
    return UniqueTally(adds=row.adds, removes=row.removes, last=(row.last_timestamp, row.last_event_id,
                                                                  row.last_operation))


def refresh_event_statistics() -> None:
    """ANALYZE the rollup tables after a large backlog was folded in (PostgreSQL), so that usage
    queries plan with their real size at once instead of waiting for autovacuum."""
    if engine().dialect.name == "postgresql":
        with engine().connect() as connection:
            connection.exec_driver_sql("ANALYZE usage_rollups")
            connection.exec_driver_sql("ANALYZE usage_daily_rollups")
            connection.exec_driver_sql("ANALYZE usage_unique_values")


def rederive_metric_events(session: Session, metric: BillableMetric | None, *, organization_id: str,
                           code: str) -> int:
    """Recompute what the metric makes of each of its events, in the store holding them (caller's transaction)."""
    return event_store().rederive_metric(session, metric, organization_id=organization_id, code=code)


def rederive_in_sql(session: Session, metric: BillableMetric | None, *, organization_id: str, code: str) -> int:
    """The SQL store: recompute what the metric makes of each of its events, and rebuild its rollups.

    Runs inside the caller's transaction (a metric created, changed or deleted), so usage never
    sees old rollups next to new values. The watermark row is locked first: the rollup job waits
    (or has finished), and the rollups rebuilt here are exactly the events up to the watermark.
    """
    high = watermark(session, for_update=True)
    forget_rollups(session, organization_id=organization_id, code=code)
    reading = metric_reading(metric) if metric is not None else None
    changed = 0
    last_id = 0
    while True:
        batch = session.execute(select(Event.id, Event.properties, Event.timestamp).where(
            Event.organization_id == organization_id, Event.code == code, Event.id > last_id,
        ).order_by(Event.id).limit(5000)).all()
        if not batch:
            break
        updates = []
        for event_id, properties, timestamp in batch:
            fact = derive(reading, code=code, properties=properties or {}, timestamp=timestamp)
            updates.append({"event_id": event_id, "value": fact.value, "unique_value": fact.unique_value,
                            "operation": fact.operation, "group_key": fact.group_key, "error": fact.error})
        session.connection().execute(
            update(Event.__table__).where(Event.__table__.c.id == _bind("event_id")).values(
                value=_bind("value"), unique_value=_bind("unique_value"), operation=_bind("operation"),
                group_key=_bind("group_key"), error=_bind("error")),
            updates)
        changed += len(batch)
        last_id = batch[-1][0]
    if metric is not None:
        fold_events(session, 0, high, organization_id=organization_id, code=code)
    return changed


def _bind(name: str):
    from sqlalchemy import bindparam

    return bindparam(name)
