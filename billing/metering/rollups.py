"""The rollup job: folds events not yet rolled up into hourly `UsageRollup`/`UsageUniqueValue` rows.

Usage queries read whole hours from the rollups and everything else (partial hours at the period's
edges, and the tail this job has not reached yet) from the raw events, so an event counts the
moment its ingestion commits and the job may lag, stop or rerun without changing any result.
Each batch is one transaction: rows folded in and events marked together, or neither.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import delete, not_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

import billing.models  # noqa: F401  (every mapper, so the job runs in any process)
from billing.catalog.models import BillableMetric
from billing.db import unit_of_work
from billing.metering.aggregation import Fact, Partial, UniqueTally
from billing.metering.facts import derive
from billing.metering.models import Event, UsageRollup, UsageUniqueValue
from billing.ports import runtime

BUCKET = timedelta(hours=1)
BATCH = 5000


def bucket_start(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def bucket_ceil(moment: datetime) -> datetime:
    start = bucket_start(moment)
    return start if start == moment else start + BUCKET


def request_rollup() -> None:
    """Ask for the rollup job; one queued at a time is enough (it takes every pending event)."""
    runtime.dispatcher.enqueue("roll_up_events", job_id="roll-up-events")


def roll_up_events(*, limit: int = BATCH) -> int:
    """Fold up to `limit` pending events into the rollups; returns how many were taken (0: nothing pending)."""
    with unit_of_work() as uow:
        session = uow.session
        query = (select(Event.id, Event.organization_id, Event.external_subscription_id, Event.code, Event.group_key,
                        Event.timestamp, Event.value, Event.unique_value, Event.operation, Event.error)
                 .where(not_(Event.rolled_up) if session.bind.dialect.name == "postgresql"
                        else Event.rolled_up == False)  # noqa: E712  (each the partial index's predicate)
                 .limit(limit))
        if session.bind.dialect.name == "postgresql":
            # Two jobs at once take disjoint batches instead of waiting for each other.
            query = query.with_for_update(skip_locked=True)
        rows = session.execute(query).all()
        if not rows:
            return 0
        partials: dict[tuple, Partial] = defaultdict(Partial)
        tallies: dict[tuple, UniqueTally] = defaultdict(UniqueTally)
        for row in rows:
            if row.error == "metric_not_found":
                continue  # nothing to count until the metric exists (creating it re-derives these events)
            fact = Fact(id=row.id, timestamp=row.timestamp, value=row.value, unique_value=row.unique_value,
                        operation=row.operation, group_key=row.group_key)
            key = (row.organization_id, row.external_subscription_id, row.code, row.group_key,
                   bucket_start(row.timestamp))
            partials[key].add(fact)
            if row.unique_value is not None:
                tallies[(*key[:4], row.unique_value, key[4])].add(fact)
        _fold_partials(session, partials)
        _fold_tallies(session, tallies)
        ids = [row.id for row in rows]
        for offset in range(0, len(ids), 1000):
            session.execute(update(Event).where(Event.id.in_(ids[offset:offset + 1000])).values(rolled_up=True))
        return len(rows)


def _insert(session: Session):
    return (sqlite if session.bind.dialect.name == "sqlite" else postgresql).insert


def _fold_partials(session: Session, partials: dict[tuple, Partial]) -> None:
    if not partials:
        return
    columns = ("organization_id", "external_subscription_id", "code", "group_key", "bucket_start")
    # Make sure every row exists, then lock and fold: concurrent jobs serialize on the rows they share.
    session.execute(_insert(session)(UsageRollup).on_conflict_do_nothing(), [
        {**dict(zip(columns, key, strict=True)), "events_count": 0, "value_sum": 0, "value_time_sum": 0}
        for key in partials])
    for key, delta in partials.items():
        row = session.execute(select(UsageRollup).filter_by(**dict(zip(columns, key, strict=True)))
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


def _fold_tallies(session: Session, tallies: dict[tuple, UniqueTally]) -> None:
    if not tallies:
        return
    columns = ("organization_id", "external_subscription_id", "code", "group_key", "unique_value", "bucket_start")
    session.execute(_insert(session)(UsageUniqueValue).on_conflict_do_nothing(), [
        {**dict(zip(columns, key, strict=True)), "adds": 0, "removes": 0, "last_timestamp": tally.last[0],
         "last_event_id": tally.last[1], "last_operation": tally.last[2]} for key, tally in tallies.items()])
    for key, delta in tallies.items():
        row = session.execute(select(UsageUniqueValue).filter_by(**dict(zip(columns, key, strict=True)))
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
    """ANALYZE events after a large backlog was rolled up (PostgreSQL), so that usage queries use
    the pending-events index again at once instead of waiting for autovacuum."""
    from billing.db import engine

    if engine().dialect.name == "postgresql":
        with engine().connect() as connection:
            connection.exec_driver_sql("ANALYZE events")


def rederive_metric_events(session: Session, metric: BillableMetric | None, *, organization_id: str,
                           code: str) -> int:
    """Recompute what the metric makes of each of its events, and start its rollups over.

    Runs inside the caller's transaction (a metric created, changed or deleted), so usage never
    sees old rollups next to new values: until the job rolls them up again, the events count raw.
    """
    session.execute(delete(UsageRollup).where(UsageRollup.organization_id == organization_id,
                                              UsageRollup.code == code))
    session.execute(delete(UsageUniqueValue).where(UsageUniqueValue.organization_id == organization_id,
                                                   UsageUniqueValue.code == code))
    changed = 0
    last_id = 0
    while True:
        batch = session.execute(select(Event.id, Event.properties, Event.timestamp).where(
            Event.organization_id == organization_id, Event.code == code, Event.id > last_id,
        ).order_by(Event.id).limit(BATCH)).all()
        if not batch:
            return changed
        updates = []
        for event_id, properties, timestamp in batch:
            fact = derive(metric, code=code, properties=properties or {}, timestamp=timestamp)
            updates.append({"event_id": event_id, "value": fact.value, "unique_value": fact.unique_value,
                            "operation": fact.operation, "group_key": fact.group_key, "error": fact.error})
        session.connection().execute(
            update(Event.__table__).where(Event.__table__.c.id == _bind("event_id")).values(
                value=_bind("value"), unique_value=_bind("unique_value"), operation=_bind("operation"),
                group_key=_bind("group_key"), error=_bind("error"), rolled_up=False),
            updates)
        changed += len(batch)
        last_id = batch[-1][0]


def _bind(name: str):
    from sqlalchemy import bindparam

    return bindparam(name)
