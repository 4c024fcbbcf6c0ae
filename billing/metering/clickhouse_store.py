"""The ClickHouse event store (TALLY_EVENTS_STORE=clickhouse): events in ClickHouse, their hourly sums in the ledger.

docs/metering.md, "ClickHouse event store", says why each rule below holds:
- an insert is synchronous (`async_insert=0`; on a cluster, into every shard and replica: clickhouse_schema): the
  API answers once ClickHouse has written the part;
- a transaction id is stored once per organization: ingestion holds the organization's lock in the ledger
  (PostgreSQL advisory lock; SQLite's single writer) while it checks which ids are new and inserts them; the
  only copies that can exist are identical ones (a retried insert) or re-derivations (a higher `revision`),
  and every read keeps one row per transaction id (`ORDER BY revision DESC LIMIT 1 BY transaction_id`)
  before it filters on anything a re-derivation changes;
- ids come from the ledger (a PostgreSQL sequence, a counter row on SQLite), taken under the insert barrier,
  so `settled_high_id` is the highest id reserved once no insert is in flight;
- amounts are Decimal(40, 15) columns, summed as Decimal256: never a float;
- rollups as on the SQL store, folded from ClickHouse's hourly sums into the ledger's `clickhouse_usage_*` tables in
  the transaction that moves this store's watermark: a usage read is those rollups plus the raw events around them
  and past the watermark it read them with (`usage.rolled_up_usage`), so late events count in their period at once.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import clickhouse_connect
import orjson
from sqlalchemy import delete, text
from sqlalchemy.orm import Session

from billing.catalog.models import BillableMetric
from billing.db import engine, unit_of_work
from billing.metering import clickhouse_schema, locks, rollups, usage
from billing.metering.aggregation import GroupUsage, Partial, UniqueTally
from billing.metering.facts import derive, metric_reading
from billing.metering.models import CLICKHOUSE_ROLLUPS
from billing.metering.store import CLICKHOUSE, EventRecord
from billing.money import EXACT
from billing.pagination import MAX_PER_PAGE, Page

_INSERT_SETTINGS = clickhouse_schema.INSERT_SETTINGS  # written when the call returns (never fire-and-forget)
_COLUMNS = ("id", "organization_id", "transaction_id", "external_subscription_id", "subscription_id", "code",
            "timestamp", "properties", "precise_total_amount_cents", "value", "unique_value", "operation",
            "group_key", "error", "created_at", "revision")
_STORED = ("id", "transaction_id", "external_subscription_id", "subscription_id", "code", "timestamp",
           "properties", "precise_total_amount_cents", "value", "unique_value", "error", "created_at")
_COUNTED = "(error IS NULL OR error != 'metric_not_found')"
_VALUE = "ifNull(value, toDecimal256(0, 15))"
_MOMENTS = "Array(DateTime64(6, 'UTC'))"
# The rollup job's watermark on this store: its own row, never the SQL store's rollup watermark, whose ids
# are another numbering (a job of one store still running when the other is configured cannot move it).
PASSED = "clickhouse_passed"


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _latest(scope: str, columns: str = "*") -> str:
    """Each transaction id once, at its highest revision, among the events of `scope` (a WHERE clause).

    `scope` names only what every copy of an event shares (organization, subscription, code, timestamp, id,
    transaction id), so a copy is in it exactly when its event is. `columns`: what the caller reads of them (the
    properties, the widest column, only when asked).
    """
    return (f"(SELECT {columns} FROM events WHERE {scope} "  # noqa: S608  (constant clauses; values are bound)
            "ORDER BY revision DESC LIMIT 1 BY organization_id, transaction_id)")


_RECORD = ", ".join((*EventRecord._fields, "revision"))
# What a usage read or a fold reads of each event: never its properties.
_AGGREGATED = ("organization_id, transaction_id, revision, external_subscription_id, code, group_key, timestamp, id, "
               "value, unique_value, operation, error")


class ClickHouseEventStore:
    name = CLICKHOUSE

    def __init__(self, url: str, cluster: str | None = None):
        self.url = url
        # TALLY_CLICKHOUSE_CLUSTER: the tables are replicated and `events` is a Distributed table over them.
        self.cluster = cluster
        self._client = None
        # chDB runs in this process: one query at a time. A ClickHouse server takes them concurrently.
        self._lock = threading.Lock() if url.startswith("chdb") else None

    # ------------------------------------------------------------ connection and schema

    def _call(self, work: Callable[[Any], Any]) -> Any:
        if self._client is None:
            # A server session would refuse concurrent queries of the web threads; chDB has none.
            options = {} if self._lock is not None else {"autogenerate_session_id": False}
            self._client = clickhouse_connect.get_client(dsn=self.url, **options)
        if self._lock is None:
            return work(self._client)
        with self._lock:
            return work(self._client)

    def _rows(self, sql: str, parameters: dict | None = None) -> list[tuple]:
        return self._call(lambda client: client.query(sql, parameters=parameters or {}).result_rows)

    def _command(self, sql: str, parameters: dict | None = None) -> None:
        self._call(lambda client: client.command(sql, parameters=parameters or {}))

    def migrate(self) -> list[str]:
        """Apply the migrations of migrations/clickhouse not applied yet, in order; the names applied."""
        return clickhouse_schema.migrate(self._command, self._rows, cluster=self.cluster)

    def _database(self) -> str | None:
        """The database, named in a cluster's statements on the local tables (None on a single node)."""
        return None if self.cluster is None else self._rows("SELECT currentDatabase()")[0][0]

    def clear(self) -> None:
        self._command(clickhouse_schema.truncate_statement("events", cluster=self.cluster, database=self._database()))
        with engine().begin() as connection:  # and what was folded of them into the ledger
            for model in CLICKHOUSE_ROLLUPS:
                connection.execute(delete(model))

    def forget_organization(self, session: Session, organization_id: str) -> None:
        """A mutation, waited for (`mutations_sync=2`: on every replica): deleted when the call returns. A
        lightweight DELETE would not do: ClickHouse refuses it on a table with projections. The organization's
        rollups go in the caller's transaction."""
        statement = clickhouse_schema.delete_statement("events", "organization_id = {organization:String}",
                                                       cluster=self.cluster, database=self._database())
        self._call(lambda client: client.command(statement, parameters={"organization": organization_id},
                                                 settings={"mutations_sync": 2}))
        for model in CLICKHOUSE_ROLLUPS:
            session.execute(delete(model).where(model.organization_id == organization_id))

    # ------------------------------------------------------------ writes

    def store_events(self, session: Session, organization_id: str, rows: list[dict]) -> dict[str, int]:
        postgres = session.bind.dialect.name == "postgresql"
        if postgres:  # one batch of the organization at a time, from the check to the insert
            session.execute(text("SELECT pg_advisory_xact_lock(:namespace, hashtext(:organization))"),
                            {"namespace": locks.EVENTS_NAMESPACE, "organization": organization_id})
        else:  # takes SQLite's write lock, held to the ledger's commit: ingestions run one at a time
            session.execute(text("UPDATE event_id_counter SET last_id = last_id WHERE name = 'events'"))
        sent = list(dict.fromkeys(row["transaction_id"] for row in rows))
        known = {transaction_id for (transaction_id,) in self._rows(
            "SELECT DISTINCT transaction_id FROM events WHERE organization_id = {organization:String} "
            "AND transaction_id IN {sent:Array(String)}", {"organization": organization_id, "sent": sent})}
        new: dict[str, dict] = {}
        for row in rows:
            if row["transaction_id"] not in known:
                new.setdefault(row["transaction_id"], row)  # a transaction id twice in a batch: the first
        if not new:
            return {}
        ids = _reserve_ids(session, len(new))
        inserted = dict(zip(new, ids, strict=True))
        data = [[inserted[transaction_id], row["organization_id"], transaction_id, row["external_subscription_id"],
                 row["subscription_id"], row["code"], row["timestamp"], _json(row["properties"]),
                 row["precise_total_amount_cents"], row["value"], row["unique_value"], row["operation"],
                 row["group_key"], row["error"], row["created_at"], 0] for transaction_id, row in new.items()]
        self._call(lambda client: client.insert("events", data, column_names=_COLUMNS, settings=_INSERT_SETTINGS))
        return inserted

    def rederive_metric(self, session: Session, metric: BillableMetric | None, *, organization_id: str,
                        code: str) -> int:
        """Re-insert each of the metric's events at its next revision, with what the metric now makes of it."""
        passed = rollups.watermark(session, name=PASSED, for_update=True)
        reading = metric_reading(metric) if metric is not None else None
        found = self._rows(
            f"SELECT {', '.join(_COLUMNS)} FROM "  # noqa: S608
            f"{_latest('organization_id = {organization:String} AND code = {code:String}')} ORDER BY id",
            {"organization": organization_id, "code": code})
        data = []
        for row in found:
            event = dict(zip(_COLUMNS, row, strict=True))
            fact = derive(reading, code=code, properties=json.loads(event["properties"]) or {},
                          timestamp=_utc(event["timestamp"]))
            event.update(value=fact.value, unique_value=fact.unique_value, operation=fact.operation,
                         group_key=fact.group_key, error=fact.error, revision=event["revision"] + 1)
            data.append([event[name] for name in _COLUMNS])
        if data:
            self._call(lambda client: client.insert("events", data, column_names=_COLUMNS,
                                                    settings=_INSERT_SETTINGS))
        # The metric's rollups, folded again from the new revisions up to the watermark (its row locked first:
        # the rollup job waits, and what is folded here is exactly what it has passed).
        rollups.forget_rollups(session, organization_id=organization_id, code=code, tables=CLICKHOUSE_ROLLUPS)
        if metric is not None and passed:
            self._fold(session, 0, passed, organization_id=organization_id, code=code)
        return len(data)

    def roll_up(self, *, limit: int) -> int:
        """Fold the events past the watermark into the ledger's hourly and daily rollups (ClickHouse sums each
        hour of the batch; the ledger merges them in the transaction that moves the watermark): a rerun after a
        crash at any line folds the same batch once, as nothing is written unless the watermark moves with it."""
        high = self.settled_high_id()
        with unit_of_work() as uow:
            low = rollups.watermark(uow.session, name=PASSED, for_update=True)
            high = min(high, low + limit)
            if high <= low:
                return 0
            self._fold(uow.session, low, high)
            rollups.move_watermark(uow.session, name=PASSED, to=high)
            return high - low

    def _fold(self, session: Session, low: int, high: int, *, organization_id: str | None = None,
              code: str | None = None) -> None:
        """Add the events with low < id <= high (of one metric, when given) to the ledger's rollups."""
        scope = "id > {low:UInt64} AND id <= {high:UInt64}"
        parameters: dict[str, object] = {"low": low, "high": high}
        if organization_id is not None:
            scope += " AND organization_id = {organization:String} AND code = {code:String}"
            parameters.update(organization=organization_id, code=code)
        keys = "organization_id, external_subscription_id, code, group_key, toStartOfHour(timestamp) AS hour"
        partials = {}
        for *key, hour, count, value_sum, value_max, value_micro_sum, newest in self._rows(
                f"SELECT {keys}, count(), sum({_VALUE}), max({_VALUE}), "  # noqa: S608
                f"sum({_VALUE} * toDecimal256(toUnixTimestamp64Micro(timestamp), 0)), "
                f"argMax(tuple(timestamp, id, {_VALUE}), tuple(timestamp, id)) "
                f"FROM {_latest(scope, _AGGREGATED)} WHERE {_COUNTED} GROUP BY {_KEY_NAMES}", parameters):
            partials[(*key, _utc(hour))] = Partial(
                events_count=int(count), value_sum=_plain(value_sum), value_max=_plain(value_max),
                value_time_sum=_plain(value_micro_sum.scaleb(-6, EXACT)),
                latest=(_utc(newest[0]), int(newest[1]), _plain(newest[2])))
        tallies = {}
        for *key, value, hour, adds, removes, last in self._rows(
                f"SELECT organization_id, external_subscription_id, code, group_key, unique_value, "  # noqa: S608
                "toStartOfHour(timestamp) AS hour, countIf(operation != 'remove'), countIf(operation = 'remove'), "
                "argMax(tuple(timestamp, id, operation), tuple(timestamp, id)) "
                f"FROM {_latest(scope, _AGGREGATED)} WHERE {_COUNTED} AND unique_value IS NOT NULL "
                f"GROUP BY {_KEY_NAMES}, unique_value", parameters):
            tallies[(*key, value, _utc(hour))] = UniqueTally(
                adds=int(adds), removes=int(removes), last=(_utc(last[0]), int(last[1]), last[2]))
        rollups.fold_hourly(session, partials, tallies, CLICKHOUSE_ROLLUPS)

    # ------------------------------------------------------------ reads of events

    def find_events(self, organization_id: str, transaction_ids: Sequence[str]):
        return [self._stored(row) for row in self._rows(
            f"SELECT {', '.join(_STORED)} FROM "  # noqa: S608
            f"{_latest('organization_id = {organization:String} AND transaction_id IN {ids:Array(String)}')}",
            {"organization": organization_id, "ids": list(transaction_ids)})]

    def list_events(self, *, organization_id: str, external_subscription_ids: Sequence[str] | None = None,
                    code: str | None = None, timestamp_from: datetime | None = None,
                    timestamp_to: datetime | None = None, transaction_id: str | None = None, page: int = 1,
                    per_page: int = 20) -> Page:
        page = max(page, 1)
        per_page = min(max(per_page, 1), MAX_PER_PAGE)
        scope = ["organization_id = {organization:String}"]
        parameters: dict[str, object] = {"organization": organization_id}
        for condition, name, value in (
                ("timestamp >= {start:DateTime64(6, 'UTC')}", "start", timestamp_from),
                ("timestamp <= {end:DateTime64(6, 'UTC')}", "end", timestamp_to),
                ("transaction_id = {transaction:String}", "transaction", transaction_id),
                ("external_subscription_id IN {subscriptions:Array(String)}", "subscriptions",
                 list(external_subscription_ids) if external_subscription_ids is not None else None),
                ("code = {code:String}", "code", code)):
            if value is not None and value != "":
                scope.append(condition)
                parameters[name] = _utc(value) if isinstance(value, datetime) else value
        events = _latest(" AND ".join(scope))
        [(total,)] = self._rows(f"SELECT count() FROM {events}", parameters)  # noqa: S608
        rows = self._rows(f"SELECT {', '.join(_STORED)} FROM {events} "  # noqa: S608
                          f"ORDER BY timestamp DESC, id DESC LIMIT {per_page:d} OFFSET {(page - 1) * per_page:d}",
                          parameters)
        return Page(items=[self._stored(row) for row in rows], current_page=page, per_page=per_page,
                    total_count=int(total))

    def _stored(self, row: tuple) -> dict:
        event = dict(zip(_STORED, row, strict=True))
        event["id"] = int(event["id"])
        event["timestamp"] = _utc(event["timestamp"])
        event["created_at"] = _utc(event["created_at"])
        event["properties"] = json.loads(event["properties"])
        return event

    def metric_events(self, session: Session, *, organization_id: str, external_subscription_id: str, code: str,
                      start: datetime, end: datetime, up_to_id: int | None = None) -> list[EventRecord]:
        scope = ("organization_id = {organization:String} AND external_subscription_id = {subscription:String} "
                 "AND code = {code:String} AND timestamp >= {start:DateTime64(6, 'UTC')} "
                 "AND timestamp < {end:DateTime64(6, 'UTC')}")
        parameters = {"organization": organization_id, "subscription": external_subscription_id, "code": code,
                      "start": _utc(start), "end": _utc(end)}
        if up_to_id is not None:
            scope += " AND id <= {high:UInt64}"
            parameters["high"] = up_to_id
        return self._records(f"{_latest(scope, _RECORD)} WHERE {_COUNTED}", parameters)

    def events_between(self, session: Session, low: int, high: int) -> list[EventRecord]:
        return self._records(_latest("id > {low:UInt64} AND id <= {high:UInt64}", _RECORD), {"low": low, "high": high})

    def _records(self, source: str, parameters: dict) -> list[EventRecord]:
        rows = self._rows(f"SELECT {', '.join(EventRecord._fields)} FROM {source} ORDER BY id",  # noqa: S608
                          parameters)
        return [EventRecord(int(row[0]), *row[1:6], _utc(row[6]), *row[7:]) for row in rows]

    def subscriptions_with_events(self, session: Session, low: int, high: int) -> set[tuple[str, str]]:
        return set(self._rows("SELECT DISTINCT organization_id, external_subscription_id FROM events "
                              "WHERE id > {low:UInt64} AND id <= {high:UInt64}", {"low": low, "high": high}))

    def max_event_id(self, session: Session, organization_id: str) -> int:
        [(high,)] = self._rows("SELECT max(id) FROM events WHERE organization_id = {organization:String}",
                               {"organization": organization_id})
        return int(high or 0)

    def settled_high_id(self) -> int:
        """The highest id reserved, once every ingestion holding the insert barrier has finished (PostgreSQL);
        on SQLite, the counter as committed: reserved and inserted under the one write lock."""
        with engine().connect() as connection, connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": locks.INSERT_BARRIER})
                return connection.execute(text(
                    "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM event_ids")).scalar_one()
            return connection.execute(text(
                "SELECT last_id FROM event_id_counter WHERE name = 'events'")).scalar_one()

    # ------------------------------------------------------------ usage

    def subscription_usages(self, session: Session, *, organization_id: str,
                            requests) -> list[dict[str, GroupUsage]]:
        """The rollups of the whole hours from the ledger (folded up to the watermark they are read with), the
        rest raw from ClickHouse: the partial hours at the edges, the events past that watermark, and the folded
        events of hours a local midnight cuts in two.

        Every metric read over the same range of the same subscriptions (current usage: all of a plan's) is read
        together: one ledger statement (two with unique values), one ClickHouse statement (two), whatever the
        number of metrics. A statement costs ClickHouse a few milliseconds however little it reads.
        """
        subscriptions_of: dict[Any, dict[str, None]] = {}
        for external_id, query in requests:
            subscriptions_of.setdefault(query, {})[external_id] = None
        reads: dict[tuple, list[Any]] = {}  # (subscriptions, start, end, during, cuts): the queries reading it
        for query, subscriptions in subscriptions_of.items():
            for start, end, during, cuts in query.ranges():
                key = (tuple(subscriptions), start, end, during, tuple(cuts) if cuts is not None else None)
                reads.setdefault(key, []).append(query)
        results: dict[tuple[Any, str], dict[str, GroupUsage]] = {}

        def group_of(query, external_id: str, key: str) -> GroupUsage:
            return results.setdefault((query, external_id), {}).setdefault(key, GroupUsage())

        for (subscriptions, start, end, during, cuts), queries in reads.items():
            partials, tallies = self._range_usage(session, organization_id, subscriptions, queries, start, end, cuts)
            for query in queries:
                for (code, external_id, key, day), partial in partials.items():
                    if code != query.code:
                        continue
                    if not query.latest:
                        partial = replace(partial, latest=None)  # as the SQL store: only when asked
                    group = group_of(query, external_id, key)
                    (group.during if during else group.before).merge(partial)
                    if cuts is not None:
                        group.days.setdefault(day, Partial()).merge(partial)
                if not query.unique:
                    continue
                for (code, external_id, key, value, day), tally in tallies.items():
                    if code != query.code:
                        continue
                    group = group_of(query, external_id, key)
                    (group.unique_during if during else group.unique_before).setdefault(
                        value, UniqueTally()).merge(tally)
                    if cuts is not None:
                        group.unique_days.setdefault(day, {}).setdefault(value, UniqueTally()).merge(tally)
        return [dict(results.get((query, external_id), {})) for external_id, query in requests]

    def _range_usage(self, session: Session, organization_id: str, subscriptions: tuple[str, ...], queries: list,
                     start: datetime, end: datetime, cuts: tuple[datetime, ...] | None):
        """Partials keyed (code, external subscription id, group, day) and unique tallies keyed (code, external
        subscription id, group, value, day) of the queries' metrics over one range: rollups plus raw."""
        codes = sorted({query.code for query in queries})
        unique_codes = sorted({query.code for query in queries if query.unique})
        rolled = usage.rolled_up_usage(session, organization_id=organization_id, subscriptions=subscriptions,
                                       codes=codes, start=start, end=end, cuts=cuts, unique_codes=unique_codes,
                                       watermark=PASSED, tables=CLICKHOUSE_ROLLUPS)
        partials: dict[tuple, Partial] = defaultdict(Partial)
        tallies: dict[tuple, UniqueTally] = defaultdict(UniqueTally)
        for key, partial in rolled.partials.items():
            partials[key].merge(partial)
        for key, tally in rolled.tallies.items():
            tallies[key].merge(tally)
        if rolled.raw:
            scope, parameters = _raw_scope(rolled, cuts)
            parameters.update(organization=organization_id, subscriptions=list(subscriptions), codes=codes)
            for key, partial in self._partials(scope, parameters, any(query.latest for query in queries)):
                partials[key].merge(partial)
            if unique_codes:
                for key, tally in self._tallies(scope, {**parameters, "codes": unique_codes}):
                    tallies[key].merge(tally)
        return partials, tallies

    def _partials(self, scope: str, parameters: dict, latest: bool):
        newest = (f"argMax(tuple(timestamp, id, {_VALUE}), tuple(timestamp, id))" if latest
                  else "tuple(toDateTime64(0, 6, 'UTC'), toUInt64(0), toDecimal256(0, 15))")
        rows = self._rows(
            f"SELECT code, external_subscription_id, group_key, {_day(parameters)} AS day, count(), "  # noqa: S608
            f"sum({_VALUE}), max({_VALUE}), sum({_VALUE} * toDecimal256(toUnixTimestamp64Micro(timestamp), 0)), "
            f"{newest} FROM {_latest(scope, _AGGREGATED)} WHERE {_COUNTED} "
            "GROUP BY code, external_subscription_id, group_key, day", parameters)
        for code, external_id, key, day, count, value_sum, value_max, value_micro_sum, newest_row in rows:
            yield (code, external_id, key, int(day)), Partial(
                events_count=int(count), value_sum=_plain(value_sum), value_max=_plain(value_max),
                value_time_sum=_plain(value_micro_sum.scaleb(-6, EXACT)),
                latest=(_utc(newest_row[0]), int(newest_row[1]), _plain(newest_row[2])) if latest else None)

    def _tallies(self, scope: str, parameters: dict):
        rows = self._rows(
            f"SELECT code, external_subscription_id, group_key, unique_value, {_day(parameters)} AS day, "  # noqa: S608
            "countIf(operation != 'remove'), countIf(operation = 'remove'), "
            "argMax(tuple(timestamp, id, operation), tuple(timestamp, id)) "
            f"FROM {_latest(scope, _AGGREGATED)} WHERE {_COUNTED} AND unique_value IS NOT NULL "
            "GROUP BY code, external_subscription_id, group_key, unique_value, day", parameters)
        for code, external_id, key, value, day, adds, removes, last in rows:
            yield (code, external_id, key, value, int(day)), UniqueTally(
                adds=int(adds), removes=int(removes), last=(_utc(last[0]), int(last[1]), last[2]))


_KEY_NAMES = "organization_id, external_subscription_id, code, group_key, hour"
_SUBSCRIPTIONS = ("organization_id = {organization:String} "
                  "AND external_subscription_id IN {subscriptions:Array(String)} AND code IN {codes:Array(String)}")


def _raw_scope(rolled: usage.RolledUp, cuts) -> tuple[str, dict]:
    """The WHERE clause of the raw events a usage range reads beside its rollups, and its values.

    The range as a whole bounds the sort key (…, code, timestamp); within it, an OR of its raw parts (the partial
    hours at the edges, the events past the watermark, the folded events of split hours), which the min-max index
    on (id, timestamp) evaluates per granule: one read skipping every granule the rollups hold whole. (As a UNION
    ALL of the parts, each read cost chDB its fixed few milliseconds; as an OR without that index, every granule
    of the period was read.)
    """
    parameters: dict[str, object] = {"passed": rolled.passed, "cuts": [_utc(cut) for cut in cuts or ()],
                                     "start": _utc(min(low for low, _, _ in rolled.raw)),
                                     "end": _utc(max(high for _, high, _ in rolled.raw))}
    parts = []
    for index, (low, high, which) in enumerate(rolled.raw):
        parameters[f"from{index}"], parameters[f"to{index}"] = _utc(low), _utc(high)
        condition = (f"timestamp >= {{from{index}:DateTime64(6, 'UTC')}} "
                     f"AND timestamp < {{to{index}:DateTime64(6, 'UTC')}}")
        if which == usage.PENDING:
            condition += " AND id > {passed:UInt64}"
        elif which == usage.FOLDED:
            condition += " AND id <= {passed:UInt64}"
        parts.append(f"({condition})")
    return (f"{_SUBSCRIPTIONS} AND timestamp >= {{start:DateTime64(6, 'UTC')}} "
            f"AND timestamp < {{end:DateTime64(6, 'UTC')}} AND ({' OR '.join(parts)})"), parameters


def _day(parameters: dict) -> str:
    """The local day of an event: how many of the day cuts (local midnights) are at or before it (0: no cuts)."""
    if not parameters["cuts"]:
        return "toUInt64(0)"
    return f"arrayCount(cut -> cut <= timestamp, {{cuts:{_MOMENTS}}})"


def _plain(value: Decimal) -> Decimal:
    """A Decimal of ClickHouse's fixed scale without its trailing zeros (as the SQL store answers), never rounded."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1), context=EXACT)
    return value.normalize(EXACT)


def _json(properties: dict) -> str:
    try:
        return orjson.dumps(properties).decode()
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits, which orjson refuses
        return json.dumps(properties)


def _reserve_ids(session: Session, count: int) -> list[int]:
    """`count` new event ids, increasing, in the ingestion's transaction (its insert barrier held)."""
    if session.bind.dialect.name == "postgresql":
        return list(session.scalars(text("SELECT nextval('event_ids') FROM generate_series(1, :count)"),
                                    {"count": count}))
    last = session.execute(text("UPDATE event_id_counter SET last_id = last_id + :count WHERE name = 'events' "
                                "RETURNING last_id"), {"count": count}).scalar_one()
    return list(range(last - count + 1, last + 1))

