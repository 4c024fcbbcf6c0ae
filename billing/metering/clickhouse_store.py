"""The ClickHouse event store (TALLY_EVENTS_STORE=clickhouse): events in ClickHouse, usage aggregated there raw.

docs/metering.md, "ClickHouse event store", says why each rule below holds:
- an insert is synchronous (`async_insert=0`): the API answers once ClickHouse has written the part;
- a transaction id is stored once per organization: ingestion holds the organization's lock in the ledger
  (PostgreSQL advisory lock; SQLite's single writer) while it checks which ids are new and inserts them; the
  only copies that can exist are identical ones (a retried insert) or re-derivations (a higher `revision`),
  and every read keeps one row per transaction id (`ORDER BY revision DESC LIMIT 1 BY transaction_id`)
  before it filters on anything a re-derivation changes;
- ids come from the ledger (a PostgreSQL sequence, a counter row on SQLite), taken under the insert barrier,
  so `settled_high_id` is the highest id reserved once no insert is in flight;
- amounts are Decimal(40, 15) columns, summed as Decimal256: never a float;
- no rollups: ClickHouse aggregates the raw events of a range, so late events count in their period as is.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import clickhouse_connect
import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

from billing.catalog.models import BillableMetric
from billing.db import engine, unit_of_work
from billing.metering import locks, rollups
from billing.metering.aggregation import GroupUsage, Partial, UniqueTally
from billing.metering.facts import derive, metric_reading
from billing.metering.store import CLICKHOUSE, EventRecord
from billing.pagination import MAX_PER_PAGE, Page

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations" / "clickhouse"
_INSERT_SETTINGS = {"async_insert": 0}  # synchronous: written when the call returns (never fire-and-forget)
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


def _latest(scope: str) -> str:
    """Each transaction id once, at its highest revision, among the events of `scope` (a WHERE clause).

    `scope` names only what every copy of an event shares (organization, subscription, code, timestamp, id,
    transaction id), so a copy is in it exactly when its event is.
    """
    return (f"(SELECT * FROM events WHERE {scope} "  # noqa: S608  (constant clauses; values are bound)
            "ORDER BY revision DESC LIMIT 1 BY organization_id, transaction_id)")


class ClickHouseEventStore:
    name = CLICKHOUSE

    def __init__(self, url: str):
        self.url = url
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
        self._command("CREATE TABLE IF NOT EXISTS tally_migrations (name String, applied_at DateTime DEFAULT now()) "
                      "ENGINE = MergeTree ORDER BY name")
        done = {name for (name,) in self._rows("SELECT name FROM tally_migrations")}
        applied = []
        for path in sorted(MIGRATIONS.glob("*.sql")):
            if path.stem in done:
                continue
            for statement in _statements(path.read_text()):
                self._command(statement)
            self._call(lambda client, name=path.stem: client.insert("tally_migrations", [[name]],
                                                                    column_names=["name"]))
            applied.append(path.stem)
        return applied

    def clear(self) -> None:
        self._command("TRUNCATE TABLE IF EXISTS events")

    def forget_organization(self, session: Session, organization_id: str) -> None:
        """A mutation, waited for (`mutations_sync=2`: on every replica): deleted when the call returns. A
        lightweight DELETE would not do: ClickHouse refuses it on a table with projections."""
        self._call(lambda client: client.command(
            "ALTER TABLE events DELETE WHERE organization_id = {organization:String}",
            parameters={"organization": organization_id}, settings={"mutations_sync": 2}))

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
        return len(data)

    def roll_up(self, *, limit: int) -> int:
        """Nothing is pre-aggregated (usage reads the raw events): pass the new ids, so that the job's
        followers (wallet thresholds, alerts, progressive billing) are asked as on the SQL store."""
        high = self.settled_high_id()
        with unit_of_work() as uow:
            low = rollups.watermark(uow.session, name=PASSED, for_update=True)
            high = min(high, low + limit)
            if high <= low:
                return 0
            rollups.move_watermark(uow.session, name=PASSED, to=high)
            return high - low

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
        return self._records(f"{_latest(scope)} WHERE {_COUNTED}", parameters)

    def events_between(self, session: Session, low: int, high: int) -> list[EventRecord]:
        return self._records(_latest("id > {low:UInt64} AND id <= {high:UInt64}"), {"low": low, "high": high})

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
        subscriptions_of: dict[Any, dict[str, None]] = {}
        for external_id, query in requests:
            subscriptions_of.setdefault(query, {})[external_id] = None
        results: dict[tuple[Any, str], dict[str, GroupUsage]] = {}

        def group_of(query, external_id: str, key: str) -> GroupUsage:
            return results.setdefault((query, external_id), {}).setdefault(key, GroupUsage())

        for query, subscriptions in subscriptions_of.items():
            for start, end, during, cuts in query.ranges():
                parameters = {"organization": organization_id, "subscriptions": list(subscriptions),
                              "code": query.code, "start": _utc(start), "end": _utc(end),
                              "cuts": [_utc(cut) for cut in cuts or ()]}
                for external_id, key, day, partial in self._partials(parameters, query.latest):
                    group = group_of(query, external_id, key)
                    (group.during if during else group.before).merge(partial)
                    if cuts is not None:
                        group.days.setdefault(day, Partial()).merge(partial)
                if not query.unique:
                    continue
                for external_id, key, value, day, tally in self._tallies(parameters):
                    group = group_of(query, external_id, key)
                    (group.unique_during if during else group.unique_before).setdefault(
                        value, UniqueTally()).merge(tally)
                    if cuts is not None:
                        group.unique_days.setdefault(day, {}).setdefault(value, UniqueTally()).merge(tally)
        return [dict(results.get((query, external_id), {})) for external_id, query in requests]

    def _partials(self, parameters: dict, latest: bool):
        newest = (f"argMax(tuple(timestamp, id, {_VALUE}), tuple(timestamp, id))" if latest
                  else "tuple(toDateTime64(0, 6, 'UTC'), toUInt64(0), toDecimal256(0, 15))")
        rows = self._rows(
            f"SELECT external_subscription_id, group_key, {_DAY} AS day, count(), sum({_VALUE}), "  # noqa: S608
            f"max({_VALUE}), sum({_VALUE} * toDecimal256(toUnixTimestamp64Micro(timestamp), 0)), {newest} "
            f"FROM {_latest(_RANGE)} WHERE {_COUNTED} GROUP BY external_subscription_id, group_key, day",
            parameters)
        for external_id, key, day, count, value_sum, value_max, value_micro_sum, newest_row in rows:
            yield external_id, key, int(day), Partial(
                events_count=int(count), value_sum=_plain(value_sum), value_max=_plain(value_max),
                value_time_sum=_plain(value_micro_sum.scaleb(-6)),
                latest=(_utc(newest_row[0]), int(newest_row[1]), _plain(newest_row[2])) if latest else None)

    def _tallies(self, parameters: dict):
        rows = self._rows(
            f"SELECT external_subscription_id, group_key, unique_value, {_DAY} AS day, "  # noqa: S608
            "countIf(operation != 'remove'), countIf(operation = 'remove'), "
            "argMax(tuple(timestamp, id, operation), tuple(timestamp, id)) "
            f"FROM {_latest(_RANGE)} WHERE {_COUNTED} AND unique_value IS NOT NULL "
            "GROUP BY external_subscription_id, group_key, unique_value, day", parameters)
        for external_id, key, value, day, adds, removes, last in rows:
            yield external_id, key, value, int(day), UniqueTally(
                adds=int(adds), removes=int(removes), last=(_utc(last[0]), int(last[1]), last[2]))


_RANGE = ("organization_id = {organization:String} AND external_subscription_id IN {subscriptions:Array(String)} "
          "AND code = {code:String} AND timestamp >= {start:DateTime64(6, 'UTC')} "
          "AND timestamp < {end:DateTime64(6, 'UTC')}")
# The local day of an event: how many of the day cuts (local midnights) are at or before it.
_DAY = f"arrayCount(cut -> cut <= timestamp, {{cuts:{_MOMENTS}}})"


def _plain(value: Decimal) -> Decimal:
    """A Decimal of ClickHouse's fixed scale without its trailing zeros (as the SQL store answers)."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def _json(properties: dict) -> str:
    try:
        return orjson.dumps(properties).decode()
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits, which orjson refuses
        return json.dumps(properties)


def _statements(script: str) -> list[str]:
    """The statements of a migration file: separated by `;` at a line's end, `--` comments dropped."""
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [statement.strip() for statement in "\n".join(lines).split(";\n") if statement.strip().rstrip(";")]


def _reserve_ids(session: Session, count: int) -> list[int]:
    """`count` new event ids, increasing, in the ingestion's transaction (its insert barrier held)."""
    if session.bind.dialect.name == "postgresql":
        return list(session.scalars(text("SELECT nextval('event_ids') FROM generate_series(1, :count)"),
                                    {"count": count}))
    last = session.execute(text("UPDATE event_id_counter SET last_id = last_id + :count WHERE name = 'events' "
                                "RETURNING last_id"), {"count": count}).scalar_one()
    return list(range(last - count + 1, last + 1))

