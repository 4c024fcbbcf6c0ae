"""Usage of a subscription's metric over a time range: whole hours from the rollups, the rest raw.

The raw part is the range's partial hours at both edges plus every event the rollup job has not
reached yet; together with the rollups of the whole hours in between, that is every event of the
range exactly once. The caller reads inside one snapshot (`db.read_snapshot`), so the job folding
events in at the same moment cannot make an event count twice or not at all.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import extract, func, or_, select, union_all
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from billing.metering.aggregation import Fact, GroupUsage, Partial, UniqueTally
from billing.metering.models import Event, UsageRollup, UsageUniqueValue
from billing.metering.rollups import bucket_ceil, bucket_start, rollup_partial, unique_tally, watermark


def group_usage(session: Session, *, organization_id: str, external_subscription_id: str, code: str,
                start: datetime, end: datetime, before_start: datetime | None = None,
                unique: bool = False) -> dict[str, GroupUsage]:
    """Usage per filter group in [start, end), and in [before_start, start) when given (recurring metrics)."""
    groups: dict[str, GroupUsage] = defaultdict(GroupUsage)
    ranges = [(start, end, True)]
    if before_start is not None and before_start < start:
        ranges.append((before_start, start, False))
    for range_start, range_end, during in ranges:
        if range_start >= range_end:
            continue
        for key, partial in _partials(session, organization_id, external_subscription_id, code, range_start,
                                      range_end).items():
            (groups[key].during if during else groups[key].before).merge(partial)
        if unique:
            for (key, value), tally in _tallies(session, organization_id, external_subscription_id, code,
                                                range_start, range_end).items():
                target = groups[key].unique_during if during else groups[key].unique_before
                target.setdefault(value, UniqueTally()).merge(tally)
    return dict(groups)


def _whole_hours(start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
    first, last = bucket_ceil(start), bucket_start(end)
    return (first, last) if first < last else None


def _scope(model, organization_id: str, external_subscription_id: str, code: str):
    return (model.organization_id == organization_id, model.external_subscription_id == external_subscription_id,
            model.code == code)


def _raw_ranges(start: datetime, end: datetime) -> list[tuple[datetime, datetime, bool]]:
    """The parts of [start, end) read from raw events: (from, to, only those past the watermark)."""
    hours = _whole_hours(start, end)
    ranges = [(start, end, False)] if hours is None else [
        (start, hours[0], False), (hours[1], end, False), (hours[0], hours[1], True)]
    return [r for r in ranges if r[0] < r[1]]


def _raw_scopes(session: Session, organization_id: str, external_subscription_id: str, code: str, start: datetime,
                end: datetime):
    """The conditions selecting the raw events of [start, end) that the rollups of its whole hours do not hold.

    Three index range scans, never one with an OR (which would walk every event of the range):
    the partial hours at both edges, and the events of the whole hours past the rollup watermark.
    """
    base = (*_scope(Event, organization_id, external_subscription_id, code),
            or_(Event.error.is_(None), Event.error != "metric_not_found"))
    ranges = _raw_ranges(start, end)
    folded_up_to = watermark(session) if any(pending for *_, pending in ranges) else 0
    for range_start, range_end, pending_only in ranges:
        scope = [*base, Event.timestamp >= range_start, Event.timestamp < range_end]
        if pending_only:
            scope.append(Event.id > folded_up_to)
        yield scope


def _raw_facts(session: Session, organization_id: str, external_subscription_id: str, code: str, start: datetime,
               end: datetime):
    columns = (Event.id, Event.timestamp, Event.value, Event.unique_value, Event.operation, Event.group_key)
    for scope in _raw_scopes(session, organization_id, external_subscription_id, code, start, end):
        for row in session.execute(select(*columns).where(*scope)):
            yield Fact(id=row.id, timestamp=row.timestamp, value=row.value, unique_value=row.unique_value,
                       operation=row.operation, group_key=row.group_key)


def _raw_partials_in_sql(session: Session, organization_id: str, external_subscription_id: str, code: str,
                         start: datetime, end: datetime) -> list[tuple[str, Partial]]:
    """PostgreSQL: the raw part summarised per group by the database, in one statement (exact NUMERIC)."""
    value = func.coalesce(Event.value, 0)
    newest_first = (Event.timestamp.desc(), Event.id.desc())
    parts = [select(Event.group_key, func.count().label("events_count"), func.sum(value).label("value_sum"),
                    func.max(value).label("value_max"),
                    func.sum(value * extract("epoch", Event.timestamp)).label("value_time_sum"),
                    func.array_agg(aggregate_order_by(Event.timestamp, *newest_first)).label("timestamps"),
                    func.array_agg(aggregate_order_by(Event.id, *newest_first)).label("ids"),
                    func.array_agg(aggregate_order_by(value, *newest_first)).label("values"))
             .where(*scope).group_by(Event.group_key)
             for scope in _raw_scopes(session, organization_id, external_subscription_id, code, start, end)]
    if not parts:
        return []
    return [(row.group_key, Partial(events_count=row.events_count, value_sum=row.value_sum, value_max=row.value_max,
                                    value_time_sum=row.value_time_sum,
                                    latest=(row.timestamps[0].replace(tzinfo=UTC), row.ids[0], row.values[0])))
            for row in session.execute(union_all(*parts) if len(parts) > 1 else parts[0])]


def _partials(session: Session, organization_id: str, external_subscription_id: str, code: str, start: datetime,
              end: datetime) -> dict[str, Partial]:
    partials: dict[str, Partial] = defaultdict(Partial)
    hours = _whole_hours(start, end)
    if hours is not None:
        scope = (*_scope(UsageRollup, organization_id, external_subscription_id, code),
                 UsageRollup.bucket_start >= hours[0], UsageRollup.bucket_start < hours[1])
        if session.bind.dialect.name == "postgresql":
            # PostgreSQL sums NUMERIC exactly: one row per group instead of one per hour.
            sums = session.execute(select(
                UsageRollup.group_key, func.sum(UsageRollup.events_count), func.sum(UsageRollup.value_sum),
                func.max(UsageRollup.value_max), func.sum(UsageRollup.value_time_sum),
            ).where(*scope).group_by(UsageRollup.group_key))
            latest = {row.group_key: (row.latest_timestamp, row.latest_event_id, row.latest_value)
                      for row in session.execute(
                          select(UsageRollup.group_key, UsageRollup.latest_timestamp, UsageRollup.latest_event_id,
                                 UsageRollup.latest_value).where(*scope, UsageRollup.latest_timestamp.is_not(None))
                          .distinct(UsageRollup.group_key)
                          .order_by(UsageRollup.group_key, UsageRollup.latest_timestamp.desc(),
                                    UsageRollup.latest_event_id.desc()))}
            for key, count, value_sum, value_max, value_time_sum in sums:
                partials[key].merge(Partial(events_count=int(count), value_sum=Decimal(value_sum),
                                            value_max=value_max, value_time_sum=Decimal(value_time_sum),
                                            latest=latest.get(key)))
        else:
            # SQLite keeps decimals as text (its numbers are floats): fold them in Python, exactly.
            for row in session.execute(select(*_ROLLUP_COLUMNS).where(*scope)):
                partials[row.group_key].merge(rollup_partial(row))
    if session.bind.dialect.name == "postgresql":
        for key, partial in _raw_partials_in_sql(session, organization_id, external_subscription_id, code, start,
                                                 end):
            partials[key].merge(partial)
    else:
        for fact in _raw_facts(session, organization_id, external_subscription_id, code, start, end):
            partials[fact.group_key].add(fact)
    return dict(partials)


_ROLLUP_COLUMNS = (UsageRollup.group_key, UsageRollup.events_count, UsageRollup.value_sum, UsageRollup.value_max,
                   UsageRollup.value_time_sum, UsageRollup.latest_timestamp, UsageRollup.latest_event_id,
                   UsageRollup.latest_value)


def _tallies(session: Session, organization_id: str, external_subscription_id: str, code: str, start: datetime,
             end: datetime) -> dict[tuple[str, str], UniqueTally]:
    tallies: dict[tuple[str, str], UniqueTally] = defaultdict(UniqueTally)
    hours = _whole_hours(start, end)
    if hours is not None:
        for row in session.scalars(select(UsageUniqueValue).where(
                *_scope(UsageUniqueValue, organization_id, external_subscription_id, code),
                UsageUniqueValue.bucket_start >= hours[0], UsageUniqueValue.bucket_start < hours[1])):
            tallies[(row.group_key, row.unique_value)].merge(unique_tally(row))
    for fact in _raw_facts(session, organization_id, external_subscription_id, code, start, end):
        if fact.unique_value is not None:
            tallies[(fact.group_key, fact.unique_value)].add(fact)
    return dict(tallies)


def hourly_partials(session: Session, *, organization_id: str, external_subscription_id: str, code: str,
                    start: datetime, end: datetime) -> dict[datetime, Partial]:
    """Usage per hour bucket over [start, end), all groups together (for charts)."""
    hours: dict[datetime, Partial] = defaultdict(Partial)
    for row in session.scalars(select(UsageRollup).where(
            *_scope(UsageRollup, organization_id, external_subscription_id, code),
            UsageRollup.bucket_start >= bucket_start(start), UsageRollup.bucket_start < end)):
        hours[row.bucket_start].merge(rollup_partial(row))
    pending = select(Event.id, Event.timestamp, Event.value).where(
        *_scope(Event, organization_id, external_subscription_id, code), Event.id > watermark(session),
        or_(Event.error.is_(None), Event.error != "metric_not_found"),
        Event.timestamp >= bucket_start(start), Event.timestamp < end)
    for row in session.execute(pending):
        hours[bucket_start(row.timestamp)].add(Fact(id=row.id, timestamp=row.timestamp, value=row.value))
    return dict(hours)
