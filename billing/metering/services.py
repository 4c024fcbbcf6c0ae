"""Events in (idempotent on transaction_id), usage out."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import NamedTuple, TypedDict

import orjson
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from billing.db import (
    driver_connection,
    engine,
    read_only,
    run_after_commit,
    unit_of_work,
)
from billing.errors import NotFound, ValidationFailed
from billing.metering import locks
from billing.metering.catalog_cache import (
    IngestCatalog,
    cached_catalog,
    ingest_catalog,
    load_windows,
    subscription_at,
)
from billing.metering.facts import OUT_OF_RANGE, derive
from billing.metering.models import Event
from billing.metering.rollups import request_rollup
from billing.metering.store import POSTGRES, event_store
from billing.money import parse_decimal
from billing.pagination import Page
from billing.ports import runtime
from billing.validation import decimal_in_range, parse_datetime

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
    value: Decimal | None
    unique_value: str | None
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
    store = event_store()
    if store.name == POSTGRES and engine().dialect.name == "postgresql":
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
        inserted_ids = store.store_events(uow.session, organization_id, rows)
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
    # concurrent duplicate a no-op instead of an error (docs/billing.md, Metering: Idempotency).
    stored: dict[str, StoredEvent] = {}
    for row in rows:
        event_id = inserted_ids.get(row["transaction_id"])
        # A transaction id twice in one batch: the first row was inserted, the second was the duplicate.
        if event_id is not None and row["transaction_id"] not in stored:
            row["id"] = event_id
            stored[row["transaction_id"]] = row  # type: ignore[assignment]  # the row is the stored event
    duplicates = [e.transaction_id for e in parsed if e.transaction_id not in stored]
    if duplicates:
        stored.update((e["transaction_id"], e) for e in event_store().find_events(organization_id, duplicates))
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


def insert_new_events(session: Session, rows: list[dict]) -> dict[str, int]:
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


def get_event(*, organization_id: str, transaction_id: str) -> StoredEvent:
    found = event_store().find_events(organization_id, [transaction_id])
    if not found:
        raise NotFound("event")
    return found[0]


def list_events(*, organization_id: str, external_subscription_id: str | None = None, code: str | None = None,
                timestamp_from: datetime | None = None, timestamp_to: datetime | None = None,
                transaction_id: str | None = None, page: int = 1, per_page: int = 20) -> Page:
    """The organization's events, latest first, filtered by subscription, code, time range or transaction id."""
    return event_store().list_events(
        organization_id=organization_id,
        external_subscription_ids=[external_subscription_id] if external_subscription_id else None, code=code,
        timestamp_from=timestamp_from, timestamp_to=timestamp_to, transaction_id=transaction_id, page=page,
        per_page=per_page)
