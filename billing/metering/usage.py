"""Usage of a subscription's metric over a time range: whole hours from the rollups, the rest raw.

The raw part is the range's partial hours at both edges plus every event the rollup job has not
reached yet; together with the rollups of the whole hours in between, that is every event of the
range exactly once. The caller reads inside one snapshot (`db.read_snapshot`), so the job folding
events in at the same moment cannot make an event count twice or not at all.

Prorated charges read the period per local day of the customer (`day_cuts`: the local midnights
inside it). A bucket is one UTC hour, so where a local midnight falls inside an hour (a timezone
whose offset is not whole hours: India +05:30, Nepal +05:45, Newfoundland −03:30) that hour's
rollup would straddle two days: its events are read raw instead (those already folded from the
events table, the others with the tail past the watermark), and every row is given its day index.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Integer,
    Numeric,
    String,
    all_,
    any_,
    bindparam,
    case,
    cast,
    extract,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY, TIMESTAMP, aggregate_order_by, array_agg
from sqlalchemy.orm import Session

from billing.metering.aggregation import Fact, GroupUsage, Partial, UniqueTally
from billing.metering.models import (
    SQL_ROLLUPS,
    Event,
    RollupTables,
    RollupWatermark,
    UsageDailyRollup,
    UsageRollup,
    UsageUniqueValue,
)
from billing.metering.rollups import BUCKET, WATERMARK, bucket_ceil, bucket_start, day_start, rollup_partial


@dataclass(frozen=True)
class UsageQuery:
    """One metric's usage over [start, end), and over [before_start, start) when given (recurring metrics).

    `unique`: also the unique values (unique_count_agg); `latest=False` (the metric is not latest_agg)
    spares finding each group's latest event; `day_cuts` (the local midnights inside (start, end),
    sorted) also splits [start, end) by local day into `GroupUsage.days` / `unique_days` (prorated charges).
    """

    code: str
    start: datetime
    end: datetime
    before_start: datetime | None = None
    unique: bool = False
    latest: bool = True
    day_cuts: tuple[datetime, ...] | None = None

    def ranges(self) -> list[tuple[datetime, datetime, bool, list[datetime] | None]]:
        """(from, to, during the period, day cuts) of each range to read."""
        ranges = [(self.start, self.end, True, list(self.day_cuts) if self.day_cuts is not None else None)]
        if self.before_start is not None and self.before_start < self.start:
            ranges.append((self.before_start, self.start, False, None))
        return [r for r in ranges if r[0] < r[1]]


def group_usage(session: Session, *, organization_id: str, external_subscription_id: str, code: str,
                start: datetime, end: datetime, before_start: datetime | None = None,
                unique: bool = False, latest: bool = True,
                day_cuts: Sequence[datetime] | None = None) -> dict[str, GroupUsage]:
    """Usage per filter group of one metric (see UsageQuery)."""
    [groups] = group_usages(session, organization_id=organization_id,
                            external_subscription_id=external_subscription_id,
                            queries=[UsageQuery(code, start, end, before_start, unique, latest,
                                                tuple(day_cuts) if day_cuts is not None else None)])
    return groups


def group_usages(session: Session, *, organization_id: str, external_subscription_id: str,
                 queries: list[UsageQuery]) -> list[dict[str, GroupUsage]]:
    """Usage per filter group for each query, read together (PostgreSQL: one statement for all of them)."""
    return subscription_usages(session, organization_id=organization_id,
                               requests=[(external_subscription_id, query) for query in queries])


def subscription_usages(session: Session, *, organization_id: str,
                        requests: Sequence[tuple[str, UsageQuery]]) -> list[dict[str, GroupUsage]]:
    """Usage per filter group of each (external subscription id, query), for many subscriptions at once.

    The same query of several subscriptions (same metric and range: the usual case at a period's end)
    is read once for all of them (`external_subscription_id IN (...)`, grouped by it); on PostgreSQL
    every query is in ONE statement (one snapshot, one round trip), as for one subscription.
    """
    subscriptions_of: dict[UsageQuery, dict[str, None]] = {}  # each distinct query: its subscriptions, in order
    for external_id, query in requests:
        subscriptions_of.setdefault(query, {})[external_id] = None
    queries = list(subscriptions_of)
    index_of = {query: index for index, query in enumerate(queries)}
    results: dict[tuple[int, str], dict[str, GroupUsage]] = {}

    def group_of(index: int, external_id: str, key: str) -> GroupUsage:
        groups = results.setdefault((index, external_id), {})
        group = groups.get(key)
        if group is None:
            group = groups[key] = GroupUsage()
        return group

    def add(index: int, external_id: str, during: bool, cuts, key: str, day: int, partial: Partial) -> None:
        group = group_of(index, external_id, key)
        (group.during if during else group.before).merge(partial)
        if cuts is not None:
            group.days.setdefault(day, Partial()).merge(partial)

    if session.bind.dialect.name == "postgresql":
        ranges = [(index, during, query.code, tuple(subscriptions_of[query]), range_start, range_end, query.latest,
                   cuts) for index, query in enumerate(queries)
                  for range_start, range_end, during, cuts in query.ranges()]
        cuts_of = {(index, during): cuts for index, during, *_, cuts in ranges}
        for (index, during, external_id, key, day), partial in _partials_in_sql(session, organization_id,
                                                                                ranges).items():
            add(index, external_id, during, cuts_of[(index, during)], key, day, partial)
    else:
        for index, query in enumerate(queries):
            for range_start, range_end, during, cuts in query.ranges():
                for (external_id, key, day), partial in _partials(
                        session, organization_id, tuple(subscriptions_of[query]), query.code, range_start,
                        range_end, cuts=cuts).items():
                    add(index, external_id, during, cuts, key, day, partial)
    for index, query in enumerate(queries):
        if not query.unique:
            continue
        for range_start, range_end, during, cuts in query.ranges():
            for (external_id, key, value, day), tally in _tallies(
                    session, organization_id, tuple(subscriptions_of[query]), query.code, range_start, range_end,
                    cuts=cuts).items():
                group = group_of(index, external_id, key)
                target = group.unique_during if during else group.unique_before
                target.setdefault(value, UniqueTally()).merge(tally)
                if cuts is not None:
                    group.unique_days.setdefault(day, {}).setdefault(value, UniqueTally()).merge(tally)
    return [dict(results.get((index_of[query], external_id), {})) for external_id, query in requests]


def _whole_hours(start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
    first, last = bucket_ceil(start), bucket_start(end)
    return (first, last) if first < last else None


def _split_hours(start: datetime, end: datetime, cuts: Sequence[datetime] | None) -> list[datetime]:
    """The whole hours of [start, end) that a local midnight cuts in two (read raw, not from rollups)."""
    hours = _whole_hours(start, end)
    if not cuts or hours is None:
        return []
    return sorted({bucket_start(cut) for cut in cuts
                   if cut != bucket_start(cut) and hours[0] <= bucket_start(cut) < hours[1]})


def _day_in_python(cuts: Sequence[datetime] | None, moment: datetime) -> int:
    if not cuts:
        return 0
    return bisect_right(cuts, moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _counted():
    """Events to count: all but those stored for a metric that did not exist (kept to be re-derived)."""
    return or_(Event.error.is_(None), Event.error != "metric_not_found")


def _scope(model, organization_id: str, subscriptions: str | Sequence[str], code: str):
    """One organization's rows of one metric, of one external subscription id or of several."""
    if isinstance(subscriptions, str):
        which = model.external_subscription_id == subscriptions
    elif len(subscriptions) == 1:
        which = model.external_subscription_id == subscriptions[0]
    else:
        which = model.external_subscription_id.in_(subscriptions)
    return (model.organization_id == organization_id, which, model.code == code)


ALL, PENDING, FOLDED = "all", "pending", "folded"


def _raw_ranges(start: datetime, end: datetime, split: Sequence[datetime] = ()) -> list[tuple[datetime, datetime, str]]:
    """The parts of [start, end) read from raw events: (from, to, which of its events).

    ALL at the partial edges; PENDING (past the watermark) over the whole hours; FOLDED (at or
    below the watermark) in the `split` hours, whose rollups are not read.
    """
    hours = _whole_hours(start, end)
    ranges = [(start, end, ALL)] if hours is None else [
        (start, hours[0], ALL), (hours[1], end, ALL), (hours[0], hours[1], PENDING)]
    ranges += [(hour, hour + BUCKET, FOLDED) for hour in split]
    return [r for r in ranges if r[0] < r[1]]


def _folded_up_to(name: str = WATERMARK):
    """The rollup watermark, as a subquery: read by the same statement, so in the same snapshot."""
    return func.coalesce(select(RollupWatermark.last_event_id).where(RollupWatermark.name == name)
                         .scalar_subquery(), 0)


def _raw_scopes(organization_id: str, subscriptions: str | Sequence[str], code: str, start: datetime, end: datetime,
                split: Sequence[datetime] = ()):
    """The conditions selecting the raw events of [start, end) that the rollups read with them do not hold.

    Three index range scans, never one with an OR (which would walk every event of the range):
    the partial hours at both edges, and the events of the whole hours past the rollup watermark;
    plus one per `split` hour (the folded events of an hour whose rollup is left out).
    """
    base = (*_scope(Event, organization_id, subscriptions, code), _counted())
    for range_start, range_end, which in _raw_ranges(start, end, split):
        scope = [*base, Event.timestamp >= range_start, Event.timestamp < range_end]
        if which == PENDING:
            scope.append(Event.id > _folded_up_to())
        elif which == FOLDED:
            scope.append(Event.id <= _folded_up_to())
        yield scope


def _rollup_buckets(start: datetime, end: datetime, cuts: Sequence[datetime] | None, split: Sequence[datetime],
                    tables: RollupTables = SQL_ROLLUPS) -> list[tuple[type, datetime, datetime]]:
    """Which rollups hold the whole hours of [start, end): (table, from, to) each.

    Whole UTC days come from the daily rollups, the hours around them from the hourly ones; split
    by local days (prorated charges and charts, `cuts`), only hourly rollups, whose hours never straddle a
    day, unless every local midnight is a UTC midnight (a customer in UTC): a UTC day is then a local day.
    """
    hours = _whole_hours(start, end)
    if hours is None:
        return []
    first_day, last_day = day_start(hours[0]), day_start(hours[1])
    if first_day < hours[0]:
        first_day += timedelta(days=1)
    local_days_are_utc_days = cuts is None or all(cut == day_start(cut.astimezone(UTC)) for cut in cuts)
    if not local_days_are_utc_days or split or first_day >= last_day:
        return [(tables.hourly, hours[0], hours[1])]
    return [(model, low, high) for model, low, high in (
        (tables.hourly, hours[0], first_day), (tables.daily, first_day, last_day), (tables.hourly, last_day, hours[1]),
    ) if low < high]


def _rollup_hours(model, start: datetime, end: datetime, split: Sequence[datetime]):
    """The conditions selecting the rollups of the whole hours of [start, end) but the `split` ones."""
    hours = _whole_hours(start, end)
    conditions = [model.bucket_start >= hours[0], model.bucket_start < hours[1]]
    if split:
        conditions.append(model.bucket_start.not_in(split))
    return conditions


# Each usage read below is ONE statement (a UNION ALL of the rollups of the whole hours and the raw
# parts), so it sees one snapshot of rollups, raw events and watermark together whatever the
# transaction's isolation level: the rollup job committing meanwhile can never make an event
# count twice or not at all (billing reads usage in READ COMMITTED transactions too).


def _partials(session: Session, organization_id: str, subscriptions: Sequence[str], code: str, start: datetime,
              end: datetime, *, cuts: Sequence[datetime] | None = None) -> dict[tuple[str, str, int], Partial]:
    """SQLite: partials per (external subscription id, group, day index); the day is always 0 without `cuts`."""
    # SQLite keeps decimals as text (its numbers are floats): fold them in Python, exactly.
    split = _split_hours(start, end, cuts)
    parts = []
    for model, low, high in _rollup_buckets(start, end, cuts, split):
        parts.append(select(
            model.external_subscription_id, model.group_key, model.events_count, model.value_sum, model.value_max,
            model.value_time_sum, model.latest_timestamp, model.latest_event_id,
            model.latest_value, literal(True).label("rolled"), model.bucket_start.label("at"),
        ).where(*_scope(model, organization_id, subscriptions, code),
                *_rollup_hours(model, low, high, split)))
    for scope in _raw_scopes(organization_id, subscriptions, code, start, end, split):
        parts.append(select(
            Event.external_subscription_id, Event.group_key, literal(1).label("events_count"),
            Event.value.label("value_sum"),
            Event.value.label("value_max"), Event.value.label("value_time_sum"),
            Event.timestamp.label("latest_timestamp"), Event.id.label("latest_event_id"),
            Event.value.label("latest_value"), literal(False).label("rolled"), Event.timestamp.label("at"),
        ).where(*scope))
    partials: dict[tuple[str, str, int], Partial] = defaultdict(Partial)
    if not parts:
        return {}
    for row in session.execute(union_all(*parts) if len(parts) > 1 else parts[0]):
        # A rollup's hour lies within one local day (split hours are read raw): its start's day is its events'.
        target = partials[(row.external_subscription_id, row.group_key, _day_in_python(cuts, row.at))]
        if row.rolled:
            target.merge(rollup_partial(row))
        else:
            target.add(Fact(id=row.latest_event_id, timestamp=row.latest_timestamp, value=row.latest_value,
                            group_key=row.group_key))
    return dict(partials)


@dataclass(frozen=True)
class _Part:
    """The shape of one SELECT of the usage statement: which rows it reads and how it groups them.

    Its values (tag, metric code, time bounds, day cuts) are bound when the statement runs, so one
    statement serves every read of the same shape (see `_usage_statement`).
    """

    source: str  # ROLLUP, DAILY, or which raw events (ALL, PENDING, FOLDED)
    latest: bool  # find the group's latest event (latest_agg)
    days: bool  # split by local day (prorated charges)
    skips_hours: bool  # some whole hours are read raw, not from this rollup


ROLLUP, DAILY = "rollup", "daily"


def _layout(ranges: list[tuple]) -> list[tuple[_Part, dict]]:
    """The parts of the usage statement reading `ranges` (see `_partials_in_sql`), each with its values."""
    layout = []
    for tag, during, code, subscriptions, start, end, latest, cuts in ranges:
        split = _split_hours(start, end, cuts)
        common = {"tag": tag, "during": during, "code": code, "subscriptions": list(subscriptions),
                  "cuts": _timestamp_array(cuts or ())}
        for model, low, high in _rollup_buckets(start, end, cuts, split):
            part = _Part(DAILY if model is UsageDailyRollup else ROLLUP, latest, bool(cuts), bool(split))
            layout.append((part, {**common, "low": low, "high": high,
                                  "split": [hour.astimezone(UTC).replace(tzinfo=None) for hour in split]}))
        for low, high, which in _raw_ranges(start, end, split):
            layout.append((_Part(which, latest, bool(cuts), False), {**common, "low": low, "high": high}))
    return layout


def _timestamp_array(moments: Sequence[datetime]) -> str:
    """A PostgreSQL timestamp[] literal of the moments in UTC ("{2026-11-17 00:00:00,...}"), cast by the statement.

    NOTE: the day cuts are bound to every part of a charted read; as a list, psycopg dumped each moment of
    each part one by one in Python, more time than the charted read's extra SQL.
    """
    return "{" + ",".join(m.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ") for m in moments) + "}"


_STATEMENTS: dict[tuple[_Part, ...], object] = {}
_MAX_STATEMENTS = 256


def _usage_statement(shape: tuple[_Part, ...]):
    """The UNION ALL reading parts of this shape, built once per process.

    Building and compiling a statement of ~18 selects took most of a current_usage request; a
    cached statement object also keeps its SQLAlchemy cache key, and its identical SQL text lets
    psycopg prepare it on the server after a few runs.
    """
    statement = _STATEMENTS.get(shape)
    if statement is None:
        selects = [_part_select(part, f"p{index}_") for index, part in enumerate(shape)]
        statement = union_all(*selects) if len(selects) > 1 else selects[0]
        if len(_STATEMENTS) >= _MAX_STATEMENTS:
            _STATEMENTS.clear()
        _STATEMENTS[shape] = statement
    return statement


def _part_select(part: _Part, prefix: str):
    def bound(name: str, type_=None):
        return bindparam(prefix + name, type_=type_)

    def newest_of(columns, order):
        names = ("latest_at", "latest_id", "latest_value")
        if not part.latest:  # sorting every event of the part for nothing is most of the statement's time
            return [cast(null(), kind).label(name)
                    for kind, name in zip((TIMESTAMP, BigInteger, Numeric), names, strict=True)]
        return [array_agg(aggregate_order_by(column, *order))[1].label(name)
                for column, name in zip(columns, names, strict=True)]

    def day_of(column):
        # The day index: how many of the local midnights are at or before the moment.
        # NOTE: a sub-select, so that PostgreSQL reads the literal once per statement (an InitPlan): a bare cast of
        # text to timestamp[] is only stable, and was parsed again for every row (3x slower). See _timestamp_array.
        cuts = select(cast(bound("cuts", String()), ARRAY(DateTime()))).scalar_subquery()
        return (func.width_bucket(column, cuts) if part.days else literal(0)).label("day")

    labels = (bound("tag", Integer()).label("tag"), bound("during", Boolean()).label("during"))
    organization = bindparam("organization_id", type_=String())
    # `= ANY(array)`: one statement whether it reads one subscription or a billing batch of them.
    subscriptions = any_(bound("subscriptions", ARRAY(String())))
    if part.source in (ROLLUP, DAILY):
        model = UsageDailyRollup if part.source == DAILY else UsageRollup
        day = day_of(model.bucket_start)
        conditions = [model.organization_id == organization, model.external_subscription_id == subscriptions,
                      model.code == bound("code", String()),
                      model.bucket_start >= bound("low"), model.bucket_start < bound("high")]
        if part.skips_hours:
            conditions.append(model.bucket_start != all_(bound("split", ARRAY(DateTime()))))
        newest = (model.latest_timestamp.desc().nulls_last(), model.latest_event_id.desc())
        return select(
            *labels, model.external_subscription_id, model.group_key, day, func.sum(model.events_count),
            func.sum(model.value_sum), func.max(model.value_max), func.sum(model.value_time_sum),
            *newest_of((model.latest_timestamp, model.latest_event_id, model.latest_value), newest),
        ).where(*conditions).group_by(model.external_subscription_id, model.group_key, *([day] if part.days else []))
    value = func.coalesce(Event.value, 0)
    day = day_of(Event.timestamp)
    conditions = [Event.organization_id == organization, Event.external_subscription_id == subscriptions,
                  Event.code == bound("code", String()), _counted(),
                  Event.timestamp >= bound("low"), Event.timestamp < bound("high")]
    if part.source == PENDING:
        conditions.append(Event.id > _folded_up_to())
    elif part.source == FOLDED:
        conditions.append(Event.id <= _folded_up_to())
    return select(
        *labels, Event.external_subscription_id, Event.group_key, day, func.count(), func.sum(value), func.max(value),
        func.sum(value * extract("epoch", Event.timestamp)),
        *newest_of((Event.timestamp, Event.id, value), (Event.timestamp.desc(), Event.id.desc())),
    ).where(*conditions).group_by(Event.external_subscription_id, Event.group_key, *([day] if part.days else []))


def _partials_in_sql(session: Session, organization_id: str,
                     ranges: list[tuple]) -> dict[tuple[int, bool, str, str, int], Partial]:
    """PostgreSQL sums NUMERIC exactly: one row per range, subscription, group (and day) and part, summarised
    by the database.

    `ranges`: (tag, during, metric code, external subscription ids, start, end, latest, day cuts) each, all
    read in ONE statement; the answer is keyed by (tag, during, external subscription id, group, day index).
    """
    layout = _layout(ranges)
    if not layout:
        return {}
    statement = _usage_statement(tuple(part for part, _ in layout))
    params = {"organization_id": organization_id}
    for index, (_, values) in enumerate(layout):
        params.update({f"p{index}_{name}": value for name, value in values.items()})
    partials: dict[tuple[int, bool, str, str, int], Partial] = defaultdict(Partial)
    for tag, during, subscription, key, day_index, count, value_sum, value_max, value_time_sum, latest_at, \
            latest_id, latest_value in session.execute(statement, params):
        latest = (latest_at.replace(tzinfo=UTC), latest_id, latest_value) if latest_at is not None else None
        partials[(tag, during, subscription, key, int(day_index))].merge(Partial(
            events_count=int(count), value_sum=Decimal(value_sum), value_max=value_max,
            value_time_sum=Decimal(value_time_sum), latest=latest))
    return dict(partials)


def _tallies(session: Session, organization_id: str, subscriptions: Sequence[str], code: str, start: datetime,
             end: datetime, *, cuts: Sequence[datetime] | None = None) -> dict[tuple[str, str, str, int], UniqueTally]:
    """Each unique value's additions and removals per subscription and group (and day): hourly rollups and raw
    events, one statement."""
    split = _split_hours(start, end, cuts)
    parts = []
    hours = _whole_hours(start, end)
    if hours is not None:
        parts.append(select(UsageUniqueValue.external_subscription_id, UsageUniqueValue.group_key,
                            UsageUniqueValue.unique_value, UsageUniqueValue.adds, UsageUniqueValue.removes,
                            UsageUniqueValue.last_timestamp, UsageUniqueValue.last_event_id,
                            UsageUniqueValue.last_operation).where(
            *_scope(UsageUniqueValue, organization_id, subscriptions, code),
            *_rollup_hours(UsageUniqueValue, start, end, split)))
    removal = case((Event.operation == "remove", 1), else_=0)
    for scope in _raw_scopes(organization_id, subscriptions, code, start, end, split):
        parts.append(select(Event.external_subscription_id, Event.group_key, Event.unique_value, 1 - removal,
                            removal, Event.timestamp, Event.id, Event.operation).where(
            *scope, Event.unique_value.is_not(None)))
    tallies: dict[tuple[str, str, str, int], UniqueTally] = defaultdict(UniqueTally)
    if not parts:
        return {}
    for subscription, key, value, adds, removes, last_at, last_id, operation in session.execute(
            union_all(*parts) if len(parts) > 1 else parts[0]):
        if last_at.tzinfo is None:
            last_at = last_at.replace(tzinfo=UTC)
        # A rollup row's last event lies in its hour, within one local day (split hours are read raw).
        tallies[(subscription, key, value, _day_in_python(cuts, last_at))].merge(
            UniqueTally(adds=adds, removes=removes, last=(last_at, last_id, operation)))
    return dict(tallies)


# -- the rollups of a store whose raw events live elsewhere ---------------------------------------------------


@dataclass(frozen=True)
class RolledUp:
    """The rollups' part of one usage range, for a store that aggregates its raw events itself (ClickHouse).

    The rollups hold exactly the events with id <= `passed`; `raw` says which events of the range they do not
    hold: (from, to, ALL | PENDING | FOLDED) as `_raw_ranges` (PENDING: id > passed; FOLDED: id <= passed).
    `partials` are keyed (code, external subscription id, group, day), `tallies` (code, external subscription id,
    group, unique value, day).
    """

    passed: int
    partials: dict[tuple[str, str, str, int], Partial]
    tallies: dict[tuple[str, str, str, str, int], UniqueTally]
    raw: list[tuple[datetime, datetime, str]]


def rolled_up_usage(session: Session, *, organization_id: str, subscriptions: Sequence[str], codes: Sequence[str],
                    start: datetime, end: datetime, cuts: Sequence[datetime] | None, unique_codes: Sequence[str],
                    watermark: str, tables: RollupTables) -> RolledUp:
    """The rollups of [start, end)'s whole hours for every metric of `codes` (the unique values of `unique_codes`),
    and the watermark `watermark` they were folded up to.

    Each statement reads the watermark with its rows (one snapshot whatever the session's isolation); the unique
    values are a second statement, so when the job committed a fold between the two, both are read again.
    """
    split = _split_hours(start, end, cuts)
    subscriptions, codes = tuple(subscriptions), tuple(codes)
    for _ in range(5):
        passed, partials = _rolled_up_partials(session, organization_id, subscriptions, codes, start, end, cuts,
                                               split, watermark, tables)
        if not unique_codes:
            return RolledUp(passed, partials, {}, _raw_ranges(start, end, split))
        passed_too, tallies = _rolled_up_tallies(session, organization_id, subscriptions, tuple(unique_codes), start,
                                                 end, cuts, split, watermark, tables.unique_values)
        if passed_too == passed:
            return RolledUp(passed, partials, tallies, _raw_ranges(start, end, split))
    raise RuntimeError("the rollup watermark moved during five reads in a row")


def _codes_scope(model, organization_id: str, subscriptions: Sequence[str], codes: Sequence[str]):
    """One organization's rows of some metrics, of one external subscription id or of several."""
    *scope, _ = _scope(model, organization_id, subscriptions, codes[0])
    return (*scope, model.code == codes[0] if len(codes) == 1 else model.code.in_(codes))


def _watermark_row(passed, **columns):
    """A row of NULLs (typed, for PostgreSQL's UNION) carrying only the watermark: read even with no rollups."""
    return select(*(cast(null(), kind).label(name) for name, kind in columns.items()), passed.label("passed"))


def _rolled_up_partials(session: Session, organization_id: str, subscriptions: tuple[str, ...], codes: tuple[str, ...],
                        start: datetime, end: datetime, cuts, split, watermark: str, tables: RollupTables):
    passed = _folded_up_to(watermark)
    parts = [select(
        model.code, model.external_subscription_id, model.group_key, model.events_count, model.value_sum,
        model.value_max, model.value_time_sum, model.latest_timestamp, model.latest_event_id, model.latest_value,
        model.bucket_start.label("at"), passed.label("passed"),
    ).where(*_codes_scope(model, organization_id, subscriptions, codes), *_rollup_hours(model, low, high, split))
        for model, low, high in _rollup_buckets(start, end, cuts, split, tables)]
    parts.append(_watermark_row(
        passed, code=String(), external_subscription_id=String(), group_key=String(), events_count=BigInteger(),
        value_sum=Numeric(), value_max=Numeric(), value_time_sum=Numeric(), latest_timestamp=DateTime(),
        latest_event_id=BigInteger(), latest_value=Numeric(), at=DateTime()))
    partials: dict[tuple[str, str, str, int], Partial] = defaultdict(Partial)
    high = 0
    for row in session.execute(union_all(*parts) if len(parts) > 1 else parts[0]):
        high = row.passed
        if row.external_subscription_id is None:
            continue
        # A rollup's hour lies within one local day (split hours are read raw): its start's day is its events'.
        at = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)
        partials[(row.code, row.external_subscription_id, row.group_key, _day_in_python(cuts, at))].merge(
            rollup_partial(row))
    return int(high), dict(partials)


def _rolled_up_tallies(session: Session, organization_id: str, subscriptions: tuple[str, ...], codes: tuple[str, ...],
                       start: datetime, end: datetime, cuts, split, watermark: str, model):
    passed = _folded_up_to(watermark)
    parts = []
    if _whole_hours(start, end) is not None:
        parts.append(select(
            model.code, model.external_subscription_id, model.group_key, model.unique_value, model.adds,
            model.removes, model.last_timestamp, model.last_event_id, model.last_operation, passed.label("passed"),
        ).where(*_codes_scope(model, organization_id, subscriptions, codes),
                *_rollup_hours(model, start, end, split)))
    parts.append(_watermark_row(
        passed, code=String(), external_subscription_id=String(), group_key=String(), unique_value=String(),
        adds=BigInteger(), removes=BigInteger(), last_timestamp=DateTime(), last_event_id=BigInteger(),
        last_operation=String()))
    tallies: dict[tuple[str, str, str, str, int], UniqueTally] = defaultdict(UniqueTally)
    high = 0
    for code, subscription, key, value, adds, removes, last_at, last_id, operation, row_passed in session.execute(
            union_all(*parts) if len(parts) > 1 else parts[0]):
        high = row_passed
        if subscription is None:
            continue
        if last_at.tzinfo is None:
            last_at = last_at.replace(tzinfo=UTC)
        tallies[(code, subscription, key, value, _day_in_python(cuts, last_at))].merge(
            UniqueTally(adds=adds, removes=removes, last=(last_at, last_id, operation)))
    return int(high), dict(tallies)
