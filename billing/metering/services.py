"""Events in (idempotent on transaction_id), usage out."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple, TypedDict

import orjson
from sqlalchemy import or_, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session, defaultload, joinedload

from billing import pricing
from billing.catalog.models import BillableMetric, Charge, ChargeFilter, Plan
from billing.customers.models import Customer
from billing.db import (
    driver_connection,
    engine,
    read_only,
    read_snapshot,
    run_after_commit,
    unit_of_work,
)
from billing.errors import NotFound, ValidationFailed
from billing.metering import locks
from billing.metering.aggregation import (
    PRORATABLE_AGGREGATIONS,
    Fact,
    GroupUsage,
    MetricSpec,
    Partial,
    UniqueTally,
    daily_units,
    group_values,
    matching_filter,
)
from billing.metering.aggregation import units as aggregated_units
from billing.metering.catalog_cache import (
    IngestCatalog,
    cached_catalog,
    ingest_catalog,
    load_windows,
    subscription_at,
)
from billing.metering.facts import OUT_OF_RANGE, derive, metric_reading
from billing.metering.models import Event
from billing.metering.rollups import request_rollup
from billing.metering.usage import UsageQuery, group_usages, hourly_partials, subscription_usages
from billing.money import parse_decimal, to_minor
from billing.pagination import Page, paginate
from billing.ports import runtime
from billing.pricing import prorated as prorated_pricing
from billing.subscriptions.models import Subscription
from billing.subscriptions.periods import (
    charges_period_at,
    current_charges_period,
    current_period,
    local_date,
    local_day_cuts,
    local_midnight,
)
from billing.subscriptions.services import find_subscription, recurring_since
from billing.validation import MAX_PERIODS, Checker, decimal_in_range, parse_datetime

MAX_BATCH = 100


class EventInput(NamedTuple):
    transaction_id: str
    external_subscription_id: str
    code: str
    timestamp: datetime
    properties: dict
    precise_total_amount_cents: Decimal | None


class StoredEvent(TypedDict):
    """An event as stored, for the API's answer: plain data, no ORM session behind it.

    At ingestion it is the very row that was inserted (with more columns than these), so a
    100-event batch builds no second object per event.
    """

    id: int
    transaction_id: str
    external_subscription_id: str
    subscription_id: str | None
    code: str
    timestamp: datetime
    properties: dict
    precise_total_amount_cents: Decimal | None
    error: str | None
    created_at: datetime


def stored_event(event: Event) -> StoredEvent:
    return StoredEvent(**{name: getattr(event, name) for name in StoredEvent.__annotations__})


_IDENTIFIERS = ("transaction_id", "external_subscription_id", "code")


def parse_event(raw: object, now: datetime | None = None) -> tuple[EventInput | None, dict[str, list[str]]]:
    """Validate one event as sent to the API; returns it or the reasons per field.

    `now`: the timestamp of an event sent without one (default: the clock's now).
    """
    errors: dict[str, list[str]] = {}
    if not isinstance(raw, Mapping):
        return None, {"event": ["invalid_type"]}
    for field in _IDENTIFIERS:
        value = raw.get(field)
        if type(value) is str and 0 < len(value) <= 255 and not value.isspace():
            continue  # the common case, checked first
        if value is None or (isinstance(value, str) and not value.strip()):
            errors[field] = ["value_is_mandatory"]
        elif not isinstance(value, str | int) or isinstance(value, bool):
            errors[field] = ["invalid_type"]
        elif len(str(value)) > 255:
            errors[field] = ["value_is_too_long"]
    raw_timestamp = raw.get("timestamp")
    if raw_timestamp is None:
        timestamp = now or runtime.clock.now()
    else:
        timestamp = parse_datetime(raw_timestamp)
        if timestamp is None:
            errors["timestamp"] = ["invalid_format"]
    properties = raw.get("properties")
    if properties is None:
        properties = {}
    elif not isinstance(properties, Mapping):
        errors["properties"] = ["invalid_type"]
    precise = None
    if raw.get("precise_total_amount_cents") is not None:
        precise = parse_decimal(raw["precise_total_amount_cents"])
        if precise is None:
            errors["precise_total_amount_cents"] = ["invalid_value"]
        elif not decimal_in_range(precise):
            errors["precise_total_amount_cents"] = ["value_is_out_of_range"]
    if errors:
        return None, errors
    return EventInput(str(raw["transaction_id"]), str(raw["external_subscription_id"]), str(raw["code"]),
                      timestamp, dict(properties), precise), {}


def ingest_events(*, organization_id: str, raw_events: Sequence[object]) -> list[StoredEvent]:
    """Store a batch of events all or nothing; an already-known transaction_id is accepted and not stored twice.

    Returns the stored event of each input, in order (the earlier one for a duplicate).
    """
    if not raw_events:
        raise ValidationFailed({"events": ["no_events"]})
    if len(raw_events) > MAX_BATCH:
        raise ValidationFailed({"events": ["too_many_events"]})
    now = runtime.clock.now().astimezone(UTC)  # every time of a row is UTC (_json_document)
    parsed: list[EventInput] = []
    errors: dict[str, object] = {}
    for index, raw in enumerate(raw_events):
        event, reasons = parse_event(raw, now)
        if reasons:
            errors[str(index)] = reasons
        else:
            parsed.append(event)
    if errors:
        raise ValidationFailed(errors)
    external_ids = {e.external_subscription_id for e in parsed}
    if engine().dialect.name == "postgresql":
        catalog = cached_catalog(organization_id)
        if catalog is not None:
            if external_ids - catalog.windows.keys():
                with read_only() as session:
                    load_windows(session, organization_id, catalog, external_ids)
            rows = _rows(organization_id, catalog, parsed, now)
            _refuse_out_of_range(catalog, rows)
            inserted_ids = _insert_committed_if_version(organization_id, catalog.version, rows)
            if inserted_ids is not None:
                run_after_commit([lambda: _after_ingestion(catalog, rows, inserted_ids)])
                return _answer(organization_id, parsed, rows, inserted_ids)
            # The catalog changed since this process read it: nothing was written; read it again.
    with unit_of_work() as uow:
        catalog = ingest_catalog(uow.session, organization_id, external_ids)
        rows = _rows(organization_id, catalog, parsed, now)
        _refuse_out_of_range(catalog, rows)
        inserted_ids = _insert_new_events(uow.session, rows)
        uow.after_commit(lambda: _after_ingestion(catalog, rows, inserted_ids))
    return _answer(organization_id, parsed, rows, inserted_ids)


def _rows(organization_id: str, catalog: IngestCatalog, parsed: list[EventInput], now: datetime) -> list[dict]:
    """The events' rows as inserted: what was sent, plus what the catalog makes of it (facts.derive)."""
    rows = []
    metrics, windows = catalog.metrics, catalog.windows
    for e in parsed:
        fact = derive(metrics.get(e.code), code=e.code, properties=e.properties, timestamp=e.timestamp)
        rows.append({
            "organization_id": organization_id, "transaction_id": e.transaction_id,
            "external_subscription_id": e.external_subscription_id,
            "subscription_id": subscription_at(windows.get(e.external_subscription_id, ()), e.timestamp),
            "code": e.code, "timestamp": e.timestamp, "properties": e.properties,
            "precise_total_amount_cents": e.precise_total_amount_cents, "value": fact.value,
            "unique_value": fact.unique_value, "operation": fact.operation, "group_key": fact.group_key,
            "error": fact.error, "created_at": now,
        })
    return rows


def _refuse_out_of_range(catalog: IngestCatalog, rows: list[dict]) -> None:
    """A value its metric cannot hold (beyond MAX_DECIMAL or MAX_DECIMAL_PLACES) is refused, the whole batch with it.

    NOTE: O(1) per event: `derive` already parsed the value and marked it; this reads that mark.
    """
    errors: dict[str, object] = {}
    for index, row in enumerate(rows):
        if row["error"] == OUT_OF_RANGE:
            metric = catalog.metrics[row["code"]]
            field = f"properties.{metric.field_name}" if metric.field_name and not metric.expression else "properties"
            errors[str(index)] = {field: [OUT_OF_RANGE]}
    if errors:
        raise ValidationFailed(errors)


def _after_ingestion(catalog: IngestCatalog, rows: list[dict], inserted_ids: dict[str, int]) -> None:
    """Once committed: ask for the rollup job, and the pay-in-advance job when a new event may bill."""
    if not inserted_ids:
        return
    request_rollup()
    if catalog.advance_codes and any(
            row["code"] in catalog.advance_codes and row["subscription_id"] is not None
            and row["transaction_id"] in inserted_ids for row in rows):
        request_advance_billing()


def _answer(organization_id: str, parsed: list[EventInput], rows: list[dict],
            inserted_ids: dict[str, int]) -> list[StoredEvent]:
    """Each input's stored event, in order: the row inserted, or the one stored earlier for a duplicate."""
    # NOTE: ON CONFLICT DO NOTHING on (organization, transaction_id) makes a retried or
    # concurrent duplicate a no-op instead of an error (BILLING.md, Metering: Idempotency).
    stored: dict[str, StoredEvent] = {}
    for row in rows:
        event_id = inserted_ids.get(row["transaction_id"])
        # A transaction id twice in one batch: the first row was inserted, the second was the duplicate.
        if event_id is not None and row["transaction_id"] not in stored:
            row["id"] = event_id
            stored[row["transaction_id"]] = row  # type: ignore[assignment]  # the row is the stored event
    duplicates = [e.transaction_id for e in parsed if e.transaction_id not in stored]
    if duplicates:
        with read_only() as session:
            stored.update((e.transaction_id, stored_event(e)) for e in session.scalars(select(Event).where(
                Event.organization_id == organization_id, Event.transaction_id.in_(duplicates))))
    return [stored[e.transaction_id] for e in parsed]


def request_advance_billing() -> None:
    """Ask for the pay-in-advance job (one waiting run at a time; it bills every event past its watermark)."""
    runtime.dispatcher.enqueue("bill_advance_charges", job_id="bill-advance-charges")


_EVENT_COLUMNS = ("organization_id", "transaction_id", "external_subscription_id", "subscription_id", "code",
                  "timestamp", "properties", "precise_total_amount_cents", "value", "unique_value", "operation",
                  "group_key", "error", "created_at")
_EVENT_TYPES = ("varchar", "varchar", "varchar", "varchar", "varchar", "timestamp", "jsonb", "numeric", "numeric",
                "varchar", "varchar", "varchar", "varchar", "timestamp")
# Only the constant column and type names above are formatted in. The batch travels as one JSON
# document (orjson, C speed) that PostgreSQL unpacks into rows: one short statement, planned once.
_PG_INSERT = (
    f"INSERT INTO events ({', '.join(_EVENT_COLUMNS)}) "  # noqa: S608
    f"SELECT {', '.join(_EVENT_COLUMNS)} FROM json_to_recordset(%s::json) AS r("
    f"{', '.join(f'{c} {t}' for c, t in zip(_EVENT_COLUMNS, _EVENT_TYPES, strict=True))}) "
    "ON CONFLICT (organization_id, transaction_id) DO NOTHING RETURNING id, transaction_id")


# Constant column and type names only, as above. tally_locked_catalog_version (migration
# 0018) takes the insert barrier and the organization's catalog lock, shared, then reads the
# version with a snapshot of its own, taken once they are held.
_PG_INSERT_IF_VERSION = (
    "WITH version AS (SELECT tally_locked_catalog_version(%s, %s, %s) AS catalog_version), "  # noqa: S608
    "inserted AS ("
    f"INSERT INTO events ({', '.join(_EVENT_COLUMNS)}) "
    f"SELECT {', '.join(_EVENT_COLUMNS)} FROM json_to_recordset(%s::json) AS r("
    f"{', '.join(f'{c} {t}' for c, t in zip(_EVENT_COLUMNS, _EVENT_TYPES, strict=True))}) "
    "WHERE (SELECT catalog_version FROM version) = %s "
    "ON CONFLICT (organization_id, transaction_id) DO NOTHING RETURNING id, transaction_id) "
    "SELECT (SELECT catalog_version FROM version), NULL::bigint, NULL::varchar "
    "UNION ALL SELECT NULL, id, transaction_id FROM inserted")


def _insert_committed_if_version(organization_id: str, version: int, rows: list[dict]) -> dict[str, int] | None:
    """PostgreSQL: insert the rows and commit, if the catalog is still at `version`: ONE statement.

    It runs on its own (autocommit), so the locks, the guarded insert and the commit take one round
    trip and one statement (a pipeline of four cost a third more client CPU per event). Returns
    {transaction_id: id} of the rows inserted, or None when the catalog changed: then nothing was
    written.
    """
    document = _json_document(rows)
    with driver_connection() as connection:
        connection.autocommit = True
        try:
            result = connection.execute(_PG_INSERT_IF_VERSION, (
                organization_id, locks.INSERT_BARRIER, locks.CATALOG_NAMESPACE, document, version)).fetchall()
        finally:
            if not connection.closed:
                connection.autocommit = False
    if result[0][0] != version:
        return None
    return {transaction_id: event_id for _, event_id, transaction_id in result[1:]}


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):  # only for the standard library's json (orjson writes datetimes itself)
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _insert_new_events(session: Session, rows: list[dict]) -> dict[str, int]:
    """Insert the rows whose transaction id is new; returns {transaction_id: id} of those inserted."""
    if session.bind.dialect.name == "postgresql":
        cursor = session.connection().connection.driver_connection.cursor()
        cursor.execute(_PG_INSERT, (_json_document(rows),))
        return {transaction_id: event_id for event_id, transaction_id in cursor.fetchall()}
    table = Event.__table__
    result = session.execute(sqlite.insert(table).on_conflict_do_nothing(
        index_elements=["organization_id", "transaction_id"]).returning(table.c.id, table.c.transaction_id), rows)
    return {transaction_id: event_id for event_id, transaction_id in result}


def _json_document(rows: list[dict]) -> str:
    """The rows as one JSON array for json_to_recordset.

    Times are aware UTC datetimes, written with their "+00:00": a `timestamp` column ignores the
    offset, which is zero, so the stored time is the UTC time (as the ORM stores it).
    """
    try:
        return orjson.dumps(rows, default=_json_default).decode()
    except orjson.JSONEncodeError:  # e.g. an integer property beyond 64 bits, which orjson refuses
        return json.dumps(rows, default=_json_default)


def get_event(*, organization_id: str, transaction_id: str) -> Event:
    with read_only() as session:
        event = session.scalar(select(Event).where(Event.organization_id == organization_id,
                                                   Event.transaction_id == transaction_id))
        if event is None:
            raise NotFound("event")
        return event


def list_events(*, organization_id: str, external_subscription_id: str | None = None, code: str | None = None,
                timestamp_from: datetime | None = None, timestamp_to: datetime | None = None,
                transaction_id: str | None = None, page: int = 1, per_page: int = 20) -> Page:
    """The organization's events, latest first, filtered by subscription, code, time range or transaction id."""
    query = select(Event).where(Event.organization_id == organization_id)
    if timestamp_from:
        query = query.where(Event.timestamp >= timestamp_from)
    if timestamp_to:
        query = query.where(Event.timestamp <= timestamp_to)
    if transaction_id:
        query = query.where(Event.transaction_id == transaction_id)
    if external_subscription_id:
        query = query.where(Event.external_subscription_id == external_subscription_id)
    if code:
        query = query.where(Event.code == code)
    with read_only() as session:
        return paginate(session, query.order_by(Event.timestamp.desc(), Event.id.desc()), page=page, per_page=per_page)


# ---------------------------------------------------------------- usage


@dataclass(frozen=True)
class UsageLine:
    """One fee's worth of a charge: the events of one charge filter, or those matching none (`charge_filter` None)."""

    charge_filter: ChargeFilter | None
    units: Decimal
    events_count: int
    amount: Decimal  # major units, unrounded
    amount_cents: int
    unit_amount: Decimal
    prorated_units: Decimal | None = None  # a prorated charge's units, each for the share of days it was held


@dataclass(frozen=True)
class ChargeUsage:
    charge: Charge
    units: Decimal
    events_count: int
    lines: list[UsageLine]

    @property
    def amount_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines)

    @property
    def amount(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))

    @property
    def default_line(self) -> UsageLine:
        return next(line for line in self.lines if line.charge_filter is None)

    @property
    def prorated_units(self) -> Decimal | None:
        if not self.lines or self.lines[0].prorated_units is None:
            return None
        return sum((line.prorated_units or Decimal(0) for line in self.lines), Decimal(0))


@dataclass(frozen=True)
class Usage:
    subscription: Subscription
    from_datetime: datetime
    to_datetime: datetime  # exclusive
    currency: str
    charges: list[ChargeUsage]

    @property
    def amount_cents(self) -> int:
        return sum(c.amount_cents for c in self.charges)


def metric_spec(metric: BillableMetric) -> MetricSpec:
    return MetricSpec(aggregation_type=metric.aggregation_type, recurring=metric.recurring,
                      rounding_function=metric.rounding_function, rounding_precision=metric.rounding_precision)


def is_prorated(charge: Charge) -> bool:
    """Whether the charge bills each unit for the days it was held (validation only lets valid ones be)."""
    return bool(charge.prorated) and charge.charge_model in prorated_pricing.MODELS and \
        charge.billable_metric.recurring and charge.billable_metric.aggregation_type in PRORATABLE_AGGREGATIONS


@dataclass(frozen=True)
class ProrationDays:
    cuts: list[datetime]  # the local midnights inside [start, end)
    period_days: int  # days of the full (charges) period

    @property
    def days(self) -> int:
        return len(self.cuts) + 1

    def day_of(self, moment: datetime) -> int:
        return sum(1 for cut in self.cuts if cut <= moment)


def proration_days(subscription: Subscription, start: datetime, end: datetime) -> ProrationDays:
    """The local days of [start, end) and of the full period it belongs to, in the customer's timezone."""
    return ProrationDays(cuts=local_day_cuts(start, end, subscription.customer.applicable_timezone),
                         period_days=charges_period_at(subscription, start).days)


def _usage_query(subscription: Subscription, charge: Charge, start: datetime, end: datetime,
                 days: ProrationDays | None = None) -> UsageQuery:
    metric = charge.billable_metric
    return UsageQuery(code=metric.code, start=start, end=end,
                      before_start=recurring_since(subscription) if metric.recurring else None,
                      unique=metric.aggregation_type == "unique_count_agg",
                      latest=metric.aggregation_type == "latest_agg",
                      day_cuts=tuple(days.cuts) if days is not None else None)


def _charge_days(subscription: Subscription, charge: Charge, start: datetime, end: datetime) -> ProrationDays | None:
    return proration_days(subscription, start, end) if is_prorated(charge) else None


def _usage_by_filter(session: Session, subscription: Subscription, charge: Charge, start: datetime,
                     end: datetime, days: ProrationDays | None = None,
                     groups: dict[str, GroupUsage] | None = None) -> dict[str | None, GroupUsage]:
    """The charge's usage over [start, end) per charge filter id (None: events matching no filter).

    `groups`: the charge's usage per filter group when the caller read it already (group_usages).
    """
    if groups is None:
        [groups] = group_usages(session, organization_id=subscription.organization_id,
                                external_subscription_id=subscription.external_id,
                                queries=[_usage_query(subscription, charge, start, end, days)])
    by_filter: dict[str | None, GroupUsage] = {f.id: GroupUsage() for f in charge.filters}
    by_filter[None] = GroupUsage()
    for key, group in groups.items():
        by_filter[filter_of(charge, key)].merge(group)
    return by_filter


def _hypothetical_input(name: str, metric: BillableMetric, fact, event: EventInput) -> Decimal:
    if name == "event_amounts_cents":
        return event.precise_total_amount_cents or Decimal(0)
    return Decimal(1) if metric.aggregation_type == "count_agg" else (fact.value or Decimal(0))


def filter_of(charge: Charge, key: str) -> str | None:
    """The id of the charge filter an event's filter group belongs to (None: no filter, or none matches)."""
    if not charge.filters:
        return None
    return matching_filter(group_values(key), [(f.id, f.values) for f in charge.filters])


def charge_usage(session: Session, subscription: Subscription, charge: Charge, start: datetime,
                 end: datetime, groups: dict[str, GroupUsage] | None = None) -> ChargeUsage:
    """Units and price of one charge over [start, end) of one subscription's events, per charge filter.

    A prorated charge keeps its full units in `units` and bills `prorated_units` (docs/billing.md).
    `groups`: its usage per filter group when the caller read it already (usage_between).
    """
    spec = metric_spec(charge.billable_metric)
    days = _charge_days(subscription, charge, start, end)
    by_filter = _usage_by_filter(session, subscription, charge, start, end, days, groups)
    currency = subscription.plan.amount_currency
    total = GroupUsage()
    lines = []
    for charge_filter in [*charge.filters, None]:
        group = by_filter[charge_filter.id if charge_filter else None]
        total.merge(group)
        units = aggregated_units(spec, group, start, end)
        properties = charge_filter.properties if charge_filter else charge.properties
        if days is not None:
            result = prorated_pricing.price(charge.charge_model, daily_units(spec, group, days.days), units,
                                            days.period_days, properties)
        else:
            inputs = _per_event_inputs(session, subscription, charge, charge_filter, properties, start, end)
            result = pricing.price(charge.charge_model, units, properties, currency=currency, **inputs)
        lines.append(UsageLine(charge_filter=charge_filter, units=units, events_count=group.during.events_count,
                               amount=result.amount, amount_cents=to_minor(result.amount, currency),
                               unit_amount=result.unit_amount,
                               prorated_units=result.units if days is not None else None))
    return ChargeUsage(charge=charge, units=aggregated_units(spec, total, start, end),
                       events_count=total.during.events_count, lines=lines)


def _per_event_inputs(session: Session, subscription: Subscription, charge: Charge,
                      charge_filter: ChargeFilter | None, properties: Mapping[str, object], start: datetime,
                      end: datetime) -> dict[str, list[Decimal]]:
    """Per-event data for the models that price events one by one (percentage, dynamic), read raw.

    Only those models pay for this scan; every other model is priced from the rollups' units.
    """
    needed = pricing.required_inputs(charge.charge_model, properties)
    if not needed & {pricing.EVENT_VALUES, pricing.EVENT_AMOUNTS_CENTS}:
        return {}
    metric = charge.billable_metric
    wanted = charge_filter.id if charge_filter else None
    rows = session.execute(select(Event.value, Event.precise_total_amount_cents, Event.group_key).where(
        Event.organization_id == subscription.organization_id,
        Event.external_subscription_id == subscription.external_id, Event.code == metric.code,
        Event.timestamp >= start, Event.timestamp < end,
        or_(Event.error.is_(None), Event.error != "metric_not_found"),
    ).order_by(Event.timestamp, Event.id))
    mine = [row for row in rows if filter_of(charge, row.group_key) == wanted]
    inputs: dict[str, list[Decimal]] = {}
    if pricing.EVENT_VALUES in needed:
        # A counted event weighs 1; the others weigh their value (BILLING.md: percentage).
        inputs["event_values"] = [Decimal(1) if metric.aggregation_type == "count_agg" else (r.value or Decimal(0))
                                  for r in mine]
    if pricing.EVENT_AMOUNTS_CENTS in needed:
        inputs["event_amounts_cents"] = [r.precise_total_amount_cents or Decimal(0) for r in mine]
    return inputs


def usage_between(session: Session, subscription: Subscription, start: datetime, end: datetime) -> Usage:
    charges = subscription.plan.charges
    # Every charge's events read in one go (one statement on PostgreSQL), then priced one by one.
    groups = group_usages(session, organization_id=subscription.organization_id,
                          external_subscription_id=subscription.external_id,
                          queries=[_usage_query(subscription, charge, start, end,
                                                _charge_days(subscription, charge, start, end))
                                   for charge in charges])
    charges = [charge_usage(session, subscription, charge, start, end, charge_groups)
               for charge, charge_groups in zip(charges, groups, strict=True)]
    return Usage(subscription=subscription, from_datetime=start, to_datetime=end,
                 currency=subscription.plan.amount_currency, charges=charges)


def charges_usages(session: Session, reads: Sequence[tuple[Subscription, Charge, datetime, datetime]],
                   ) -> list[dict[str, GroupUsage]]:
    """The usage per filter group of each (subscription, charge, [start, end)), many subscriptions read together.

    For billing a batch: one statement per organization on PostgreSQL, and the same metric and range of
    several subscriptions read once for all of them (`usage.subscription_usages`). Each answer is what
    `charge_usage(..., groups=...)` takes.
    """
    indexes_of: dict[str, list[int]] = {}
    for index, (subscription, *_) in enumerate(reads):
        indexes_of.setdefault(subscription.organization_id, []).append(index)
    answers: list[dict[str, GroupUsage]] = [{} for _ in reads]
    for organization_id, indexes in indexes_of.items():
        requests = []
        for index in indexes:
            subscription, charge, start, end = reads[index]
            requests.append((subscription.external_id, _usage_query(
                subscription, charge, start, end, _charge_days(subscription, charge, start, end))))
        for index, groups in zip(indexes, subscription_usages(session, organization_id=organization_id,
                                                              requests=requests), strict=True):
            answers[index] = groups
    return answers


# What usage reads of a subscription, in ONE statement: each selectin load was a round trip, and
# they were most of current_usage's time once its usage statement was cached. Usage neither reads
# nor shows taxes, so they are not loaded at all.
_CHARGES = joinedload(Subscription.plan).joinedload(Plan.charges)
_USAGE_LOADING = (defaultload(Subscription.customer).lazyload(Customer.taxes),
                  joinedload(Subscription.plan).lazyload(Plan.taxes),
                  _CHARGES.lazyload(Charge.taxes),
                  _CHARGES.joinedload(Charge.filters),
                  _CHARGES.joinedload(Charge.billable_metric).joinedload(BillableMetric.filters))


def _customer_subscription(session: Session, organization_id: str, external_customer_id: str,
                           external_subscription_id: str) -> Subscription:
    subscription = find_subscription(session, organization_id, external_subscription_id, _USAGE_LOADING)
    if subscription is None or subscription.customer.external_id != external_customer_id:
        raise NotFound("subscription")
    return subscription


def current_usage(*, organization_id: str, external_customer_id: str, external_subscription_id: str) -> Usage:
    """Usage of the subscription's current billing period so far (not yet invoiced)."""
    with read_snapshot() as session:
        subscription = _customer_subscription(session, organization_id, external_customer_id,
                                              external_subscription_id)
        if subscription.status != "active":
            raise NotFound("subscription", "no_active_subscription")
        return usage_for_current_period(session, subscription)


def usage_for_current_period(session: Session, subscription: Subscription) -> Usage:
    period = current_charges_period(subscription)
    start = max(period.start, subscription.started_at or period.start)
    return usage_between(session, subscription, start, period.end)


def past_usage(*, organization_id: str, external_customer_id: str, external_subscription_id: str,
               billable_metric_code: str | None = None, periods_count: object = None) -> list[Usage]:
    """Usage of the subscription's invoiced periods, newest first, as it was billed (one entry per invoice)."""
    check = Checker({"periods_count": periods_count})
    periods_count = check.integer("periods_count", minimum=1, maximum=MAX_PERIODS)
    check.done()
    from billing.invoicing.models import Invoice, InvoiceSubscription

    with read_snapshot() as session:
        subscription = _customer_subscription(session, organization_id, external_customer_id,
                                              external_subscription_id)
        links = session.scalars(select(InvoiceSubscription).join(Invoice).where(
            InvoiceSubscription.subscription_id == subscription.id, Invoice.status != "voided",
        ).order_by(InvoiceSubscription.from_datetime.desc()).limit(periods_count or MAX_PERIODS)).all()
        usages = []
        for link in links:
            usage = usage_between(session, subscription, link.charges_from_datetime or link.from_datetime,
                                  link.charges_to_datetime or link.to_datetime)
            if billable_metric_code:
                usage = Usage(subscription=usage.subscription, from_datetime=usage.from_datetime,
                              to_datetime=usage.to_datetime, currency=usage.currency,
                              charges=[c for c in usage.charges
                                       if c.charge.billable_metric.code == billable_metric_code])
            usages.append((usage, link.invoice_id))
        return usages


def daily_usage(session: Session, subscription: Subscription, charge: Charge, start: datetime,
                end: datetime) -> list[tuple[date, Decimal]]:
    """Per local day of [start, end), for a chart: events (count and unique count) or values summed (others)."""
    metric = charge.billable_metric
    timezone = subscription.customer.applicable_timezone
    days: dict[date, Decimal] = {}
    day = local_date(start, timezone)
    while local_midnight(day, timezone) < end:
        days[day] = Decimal(0)
        day += timedelta(days=1)
    hours = hourly_partials(session, organization_id=subscription.organization_id,
                            external_subscription_id=subscription.external_id, code=metric.code, start=start, end=end)
    for hour, partial in hours.items():
        day = local_date(hour, timezone)
        if day in days:
            days[day] += (Decimal(partial.events_count)
                          if metric.aggregation_type in ("count_agg", "unique_count_agg") else partial.value_sum)
    return sorted(days.items())


# ---------------------------------------------------------------- estimates


@dataclass(frozen=True)
class FeeEstimate:
    charge: Charge
    subscription: Subscription
    units: Decimal
    amount_cents: int
    unit_amount: Decimal
    events_count: int


def estimate_fees(*, organization_id: str, raw_event: object) -> list[FeeEstimate]:
    """What one more event would add to the current period's fees, per charge of its metric (nothing is stored).

    The estimate is the difference the event makes: price(units with it) − price(units without it),
    so graduated or package pricing and the period's usage so far are taken into account.
    """
    event, reasons = parse_event(raw_event)
    if reasons:
        raise ValidationFailed(reasons)
    with read_snapshot() as session:
        subscription = find_subscription(session, organization_id, event.external_subscription_id)
        if subscription is None or subscription.status != "active":
            raise NotFound("subscription")
        charges = [c for c in subscription.plan.charges if c.billable_metric.code == event.code]
        if not charges:
            raise NotFound("charge")
        period = current_period(subscription, event.timestamp)
        start = max(period.start, subscription.started_at)
        currency = subscription.plan.amount_currency
        estimates = []
        for charge in charges:
            metric = charge.billable_metric
            spec = metric_spec(metric)
            days = proration_days(subscription, start, period.end) if is_prorated(charge) else None
            fact = derive(metric_reading(metric), code=event.code, properties=event.properties,
                          timestamp=event.timestamp)
            group = _usage_by_filter(session, subscription, charge, start, period.end, days)[
                filter_of(charge, fact.group_key)]
            charge_filter = next((f for f in charge.filters if f.id == filter_of(charge, fact.group_key)), None)
            properties = charge_filter.properties if charge_filter else charge.properties
            inputs = {} if days is not None else _per_event_inputs(
                session, subscription, charge, charge_filter, properties, start, period.end)
            hypothetical = Fact(id=2**62, timestamp=event.timestamp, value=fact.value, unique_value=fact.unique_value,
                                operation=fact.operation, group_key=fact.group_key)
            difference = price_difference(
                charge_model=charge.charge_model, spec=spec, properties=properties, group=group, fact=hypothetical,
                start=start, end=period.end, currency=currency, days=days, inputs=inputs,
                event_inputs={name: _hypothetical_input(name, metric, fact, event) for name in inputs})
            estimates.append(FeeEstimate(
                charge=charge, subscription=subscription, units=difference.units,
                amount_cents=difference.amount_cents, unit_amount=difference.unit_amount, events_count=1))
        return estimates


@dataclass(frozen=True)
class PriceDifference:
    units: Decimal
    amount_cents: int
    unit_amount: Decimal


def price_difference(*, charge_model: str, spec: MetricSpec, properties: Mapping[str, object], group: GroupUsage,
                     fact: Fact, start: datetime, end: datetime, currency: str, days: ProrationDays | None = None,
                     inputs: Mapping[str, list[Decimal]] | None = None,
                     event_inputs: Mapping[str, Decimal] | None = None,
                     paid_units: Decimal | None = None) -> PriceDifference:
    """What one event adds to a charge's price over [start, end): price(usage + event) − price(usage). Pure.

    `group`: the usage without the event (left unchanged); `inputs`: the per-event data of the
    models that price events one by one, without the event, and `event_inputs` the event's own.
    Each price is rounded once to the minor unit before the difference (docs/billing.md).
    Used for fee estimates and for pay-in-advance fees (billing.invoicing.advance).
    `paid_units`: the units paid for already (a pay-in-advance charge's highest total of the period):
    units below it are not billed again, so an event only bills what it raises the total above it.
    """
    with_event = GroupUsage()
    with_event.merge(group)
    with_event.during.add(fact)
    day = days.day_of(fact.timestamp) if days is not None else None
    if day is not None:
        with_event.days.setdefault(day, Partial()).add(fact)
    if fact.unique_value is not None:
        with_event.unique_during.setdefault(fact.unique_value, UniqueTally()).add(fact)
        if day is not None:
            with_event.unique_days.setdefault(day, {}).setdefault(fact.unique_value, UniqueTally()).add(fact)
    units_before = aggregated_units(spec, group, start, end)
    units_after = aggregated_units(spec, with_event, start, end)
    if paid_units is not None:
        units_before, units_after = max(units_before, paid_units), max(units_after, paid_units)
    if days is not None:
        before = prorated_pricing.price(charge_model, daily_units(spec, group, days.days), units_before,
                                        days.period_days, properties)
        after = prorated_pricing.price(charge_model, daily_units(spec, with_event, days.days), units_after,
                                       days.period_days, properties)
    else:
        inputs = dict(inputs or {})
        with_inputs = {name: [*values, (event_inputs or {})[name]] for name, values in inputs.items()}
        before = pricing.price(charge_model, units_before, properties, currency=currency, **inputs)
        after = pricing.price(charge_model, units_after, properties, currency=currency, **with_inputs)
    return PriceDifference(units=units_after - units_before,
                           amount_cents=to_minor(after.amount, currency) - to_minor(before.amount, currency),
                           unit_amount=after.unit_amount)
