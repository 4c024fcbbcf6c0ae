"""Usage of a subscription's metric over a time range: whole hours from the rollups, the rest raw.

The raw part is the range's partial hours at both edges plus every event the rollup job has not
reached yet; together with the rollups of the whole hours in between, that is every event of the
range exactly once. The caller reads inside one snapshot (`db.read_snapshot`), so the job folding
events in at the same moment cannot make an event count twice or not at all.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Numeric, case, cast, extract, func, literal, null, or_, select, union_all
from sqlalchemy.dialects.postgresql import TIMESTAMP, aggregate_order_by, array_agg
from sqlalchemy.orm import Session

from billing.metering.aggregation import Fact, GroupUsage, Partial, UniqueTally
from billing.metering.models import Event, RollupWatermark, UsageRollup, UsageUniqueValue
from billing.metering.rollups import WATERMARK, bucket_ceil, bucket_start, rollup_partial, watermark


@dataclass(frozen=True)
class UsageQuery:
    """One metric's usage over [start, end), and over [before_start, start) when given (recurring metrics).

    `unique`: also the unique values (unique_count_agg); `latest=False` (the metric is not
    latest_agg) spares finding each group's latest event.
    """

    code: str
    start: datetime
    end: datetime
    before_start: datetime | None = None
    unique: bool = False
    latest: bool = True

    def ranges(self) -> list[tuple[datetime, datetime, bool]]:
        ranges = [(self.start, self.end, True)]
        if self.before_start is not None and self.before_start < self.start:
            ranges.append((self.before_start, self.start, False))
        return [r for r in ranges if r[0] < r[1]]


def group_usage(session: Session, *, organization_id: str, external_subscription_id: str, code: str,
                start: datetime, end: datetime, before_start: datetime | None = None,
                unique: bool = False, latest: bool = True) -> dict[str, GroupUsage]:
    """Usage per filter group of one metric (see UsageQuery)."""
    [groups] = group_usages(session, organization_id=organization_id,
                            external_subscription_id=external_subscription_id,
                            queries=[UsageQuery(code, start, end, before_start, unique, latest)])
    return groups


def group_usages(session: Session, *, organization_id: str, external_subscription_id: str,
                 queries: list[UsageQuery]) -> list[dict[str, GroupUsage]]:
    """Usage per filter group for each query, read together (PostgreSQL: one statement for all of them)."""
    results: list[dict[str, GroupUsage]] = [defaultdict(GroupUsage) for _ in queries]
    if session.bind.dialect.name == "postgresql":
        tagged = [(index, during, query.code, range_start, range_end, query.latest)
                  for index, query in enumerate(queries) for range_start, range_end, during in query.ranges()]
        for (index, during), partials in _partials_in_sql(session, organization_id, external_subscription_id,
                                                          tagged).items():
            for key, partial in partials.items():
                (results[index][key].during if during else results[index][key].before).merge(partial)
    else:
        for index, query in enumerate(queries):
            for range_start, range_end, during in query.ranges():
                for key, partial in _partials(session, organization_id, external_subscription_id, query.code,
                                              range_start, range_end).items():
                    (results[index][key].during if during else results[index][key].before).merge(partial)
    for index, query in enumerate(queries):
        if not query.unique:
            continue
        for range_start, range_end, during in query.ranges():
            for (key, value), tally in _tallies(session, organization_id, external_subscription_id, query.code,
                                                range_start, range_end).items():
                group = results[index][key]
                target = group.unique_during if during else group.unique_before
                target.setdefault(value, UniqueTally()).merge(tally)
    return [dict(groups) for groups in results]


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


def _folded_up_to():
    """The rollup watermark, as a subquery: read by the same statement, so in the same snapshot."""
    return func.coalesce(select(RollupWatermark.last_event_id).where(RollupWatermark.name == WATERMARK)
                         .scalar_subquery(), 0)


def _raw_scopes(organization_id: str, external_subscription_id: str, code: str, start: datetime, end: datetime):
    """The conditions selecting the raw events of [start, end) that the rollups of its whole hours do not hold.

    Three index range scans, never one with an OR (which would walk every event of the range):
    the partial hours at both edges, and the events of the whole hours past the rollup watermark.
    """
    base = (*_scope(Event, organization_id, external_subscription_id, code),
            or_(Event.error.is_(None), Event.error != "metric_not_found"))
    for range_start, range_end, pending_only in _raw_ranges(start, end):
        scope = [*base, Event.timestamp >= range_start, Event.timestamp < range_end]
        if pending_only:
            scope.append(Event.id > _folded_up_to())
        yield scope


# Each usage read below is ONE statement (a UNION ALL of the rollups of the whole hours and the raw
# parts), so it sees one snapshot of rollups, raw events and watermark together whatever the
# transaction's isolation level: the rollup job committing meanwhile can never make an event
# count twice or not at all (billing reads usage in READ COMMITTED transactions too).


def _partials(session: Session, organization_id: str, external_subscription_id: str, code: str, start: datetime,
              end: datetime) -> dict[str, Partial]:
    # SQLite keeps decimals as text (its numbers are floats): fold them in Python, exactly.
    parts = []
    hours = _whole_hours(start, end)
    if hours is not None:
        parts.append(select(
            UsageRollup.group_key, UsageRollup.events_count, UsageRollup.value_sum, UsageRollup.value_max,
            UsageRollup.value_time_sum, UsageRollup.latest_timestamp, UsageRollup.latest_event_id,
            UsageRollup.latest_value, literal(True).label("rolled"),
        ).where(*_scope(UsageRollup, organization_id, external_subscription_id, code),
                UsageRollup.bucket_start >= hours[0], UsageRollup.bucket_start < hours[1]))
    for scope in _raw_scopes(organization_id, external_subscription_id, code, start, end):
        parts.append(select(
            Event.group_key, literal(1).label("events_count"), Event.value.label("value_sum"),
            Event.value.label("value_max"), Event.value.label("value_time_sum"),
            Event.timestamp.label("latest_timestamp"), Event.id.label("latest_event_id"),
            Event.value.label("latest_value"), literal(False).label("rolled"),
        ).where(*scope))
    partials: dict[str, Partial] = defaultdict(Partial)
    if not parts:
        return {}
    for row in session.execute(union_all(*parts) if len(parts) > 1 else parts[0]):
        if row.rolled:
            partials[row.group_key].merge(rollup_partial(row))
        else:
            partials[row.group_key].add(Fact(id=row.latest_event_id, timestamp=row.latest_timestamp,
                                             value=row.latest_value, group_key=row.group_key))
    return dict(partials)


def _partials_in_sql(session: Session, organization_id: str, external_subscription_id: str,
                     ranges: list[tuple]) -> dict[tuple[int, bool], dict[str, Partial]]:
    """PostgreSQL sums NUMERIC exactly: one row per range, group and part, summarised by the database.

    `ranges`: (tag, during, metric code, start, end, latest) each; the answer is keyed by (tag, during).
    """

    def newest_of(latest: bool, columns, order):
        if not latest:  # sorting every event of the part for nothing is most of the statement's time
            return [cast(null(), kind).label(name) for kind, name in ((TIMESTAMP, "latest_at"),
                                                                       (BigInteger, "latest_id"),
                                                                       (Numeric, "latest_value"))]
        return [array_agg(aggregate_order_by(column, *order))[1].label(name)
                for column, name in zip(columns, ("latest_at", "latest_id", "latest_value"), strict=True)]

    parts = []
    for tag, during, code, start, end, latest in ranges:
        labels = (literal(tag).label("tag"), literal(during).label("during"))
        hours = _whole_hours(start, end)
        if hours is not None:
            newest = (UsageRollup.latest_timestamp.desc().nulls_last(), UsageRollup.latest_event_id.desc())
            parts.append(select(
                *labels, UsageRollup.group_key, func.sum(UsageRollup.events_count), func.sum(UsageRollup.value_sum),
                func.max(UsageRollup.value_max), func.sum(UsageRollup.value_time_sum),
                *newest_of(latest, (UsageRollup.latest_timestamp, UsageRollup.latest_event_id,
                                    UsageRollup.latest_value), newest),
            ).where(*_scope(UsageRollup, organization_id, external_subscription_id, code),
                    UsageRollup.bucket_start >= hours[0], UsageRollup.bucket_start < hours[1])
                .group_by(UsageRollup.group_key))
        value = func.coalesce(Event.value, 0)
        newest = (Event.timestamp.desc(), Event.id.desc())
        for scope in _raw_scopes(organization_id, external_subscription_id, code, start, end):
            parts.append(select(
                *labels, Event.group_key, func.count(), func.sum(value), func.max(value),
                func.sum(value * extract("epoch", Event.timestamp)),
                *newest_of(latest, (Event.timestamp, Event.id, value), newest),
            ).where(*scope).group_by(Event.group_key))
    found: dict[tuple[int, bool], dict[str, Partial]] = defaultdict(lambda: defaultdict(Partial))
    if not parts:
        return {}
    rows = session.execute(union_all(*parts) if len(parts) > 1 else parts[0])
    for tag, during, key, count, value_sum, value_max, value_time_sum, latest_at, latest_id, latest_value in rows:
        latest = (latest_at.replace(tzinfo=UTC), latest_id, latest_value) if latest_at is not None else None
        found[(tag, during)][key].merge(Partial(events_count=int(count), value_sum=Decimal(value_sum),
                                                value_max=value_max, value_time_sum=Decimal(value_time_sum),
                                                latest=latest))
    return found


def _tallies(session: Session, organization_id: str, external_subscription_id: str, code: str, start: datetime,
             end: datetime) -> dict[tuple[str, str], UniqueTally]:
    """Each unique value's additions and removals per group: its hourly rollups and its raw events, one statement."""
    parts = []
    hours = _whole_hours(start, end)
    if hours is not None:
        parts.append(select(UsageUniqueValue.group_key, UsageUniqueValue.unique_value, UsageUniqueValue.adds,
                            UsageUniqueValue.removes, UsageUniqueValue.last_timestamp, UsageUniqueValue.last_event_id,
                            UsageUniqueValue.last_operation).where(
            *_scope(UsageUniqueValue, organization_id, external_subscription_id, code),
            UsageUniqueValue.bucket_start >= hours[0], UsageUniqueValue.bucket_start < hours[1]))
    removal = case((Event.operation == "remove", 1), else_=0)
    for scope in _raw_scopes(organization_id, external_subscription_id, code, start, end):
        parts.append(select(Event.group_key, Event.unique_value, 1 - removal, removal, Event.timestamp, Event.id,
                            Event.operation).where(*scope, Event.unique_value.is_not(None)))
    tallies: dict[tuple[str, str], UniqueTally] = defaultdict(UniqueTally)
    if not parts:
        return {}
    for key, value, adds, removes, last_at, last_id, operation in session.execute(
            union_all(*parts) if len(parts) > 1 else parts[0]):
        if last_at.tzinfo is None:
            last_at = last_at.replace(tzinfo=UTC)
        tallies[(key, value)].merge(UniqueTally(adds=adds, removes=removes, last=(last_at, last_id, operation)))
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
