"""Events in (idempotent on transaction_id), usage out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from billing import pricing
from billing.catalog.models import Charge
from billing.db import read_only, unit_of_work
from billing.errors import NotFound, ValidationFailed
from billing.metering.aggregation import aggregate
from billing.metering.models import Event
from billing.money import parse_decimal, to_minor
from billing.pagination import Page, paginate
from billing.ports import runtime
from billing.subscriptions.models import Subscription
from billing.subscriptions.services import current_period, find_live_subscription, find_subscription
from billing.validation import parse_datetime

MAX_BATCH = 100


@dataclass(frozen=True)
class EventInput:
    transaction_id: str
    external_subscription_id: str
    code: str
    timestamp: datetime
    properties: dict
    precise_total_amount_cents: Decimal | None


def parse_event(raw: object) -> tuple[EventInput | None, dict[str, list[str]]]:
    """Validate one event as sent to the API; returns it or the reasons per field."""
    errors: dict[str, list[str]] = {}
    if not isinstance(raw, Mapping):
        return None, {"event": ["invalid_type"]}
    for field in ("transaction_id", "external_subscription_id", "code"):
        value = raw.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            errors[field] = ["value_is_mandatory"]
        elif not isinstance(value, str | int) or isinstance(value, bool):
            errors[field] = ["invalid_type"]
        elif len(str(value)) > 255:
            errors[field] = ["value_is_too_long"]
    timestamp = runtime.clock.now()
    if raw.get("timestamp") is not None:
        parsed = parse_datetime(raw["timestamp"])
        if parsed is None:
            errors["timestamp"] = ["invalid_format"]
        else:
            timestamp = parsed
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
    if errors:
        return None, errors
    return EventInput(transaction_id=str(raw["transaction_id"]),
                      external_subscription_id=str(raw["external_subscription_id"]), code=str(raw["code"]),
                      timestamp=timestamp, properties=dict(properties), precise_total_amount_cents=precise), {}


def ingest_events(*, organization_id: str, raw_events: Sequence[object]) -> list[Event]:
    """Store a batch of events all or nothing; an already-known transaction_id is accepted and not stored twice.

    Returns the stored event of each input, in order (the earlier one for a duplicate).
    """
    if not raw_events:
        raise ValidationFailed({"events": ["no_events"]})
    if len(raw_events) > MAX_BATCH:
        raise ValidationFailed({"events": ["too_many_events"]})
    parsed: list[EventInput] = []
    errors: dict[str, object] = {}
    for index, raw in enumerate(raw_events):
        event, reasons = parse_event(raw)
        if reasons:
            errors[str(index)] = reasons
        else:
            parsed.append(event)
    if errors:
        raise ValidationFailed(errors)
    with unit_of_work() as uow:
        session = uow.session
        external_ids = {e.external_subscription_id for e in parsed}
        subscription_ids = _resolve_subscriptions(session, organization_id, external_ids)
        rows = [{
            "organization_id": organization_id, "transaction_id": e.transaction_id,
            "external_subscription_id": e.external_subscription_id,
            "subscription_id": subscription_ids.get(e.external_subscription_id), "code": e.code,
            "timestamp": e.timestamp, "properties": e.properties,
            "precise_total_amount_cents": e.precise_total_amount_cents, "created_at": runtime.clock.now(),
        } for e in parsed]
        dialect = sqlite if session.bind.dialect.name == "sqlite" else postgresql
        # NOTE: ON CONFLICT DO NOTHING on (organization, transaction_id) makes a retried or
        # concurrent duplicate a no-op instead of an error (BILLING.md, Metering: Idempotency).
        session.execute(dialect.insert(Event).on_conflict_do_nothing(
            index_elements=["organization_id", "transaction_id"]), rows)
        stored = {e.transaction_id: e for e in session.scalars(select(Event).where(
            Event.organization_id == organization_id,
            Event.transaction_id.in_([e.transaction_id for e in parsed])))}
        return [stored[e.transaction_id] for e in parsed]


def _resolve_subscriptions(session: Session, organization_id: str, external_ids: set[str]) -> dict[str, str]:
    resolved = {}
    for external_id in external_ids:
        subscription = find_live_subscription(session, organization_id, external_id)
        if subscription is not None:
            resolved[external_id] = subscription.id
    return resolved


def get_event(*, organization_id: str, transaction_id: str) -> Event:
    with read_only() as session:
        event = session.scalar(select(Event).where(Event.organization_id == organization_id,
                                                   Event.transaction_id == transaction_id))
        if event is None:
            raise NotFound("event")
        return event


def list_events(*, organization_id: str, external_subscription_id: str | None = None, code: str | None = None,
                page: int = 1, per_page: int = 20) -> Page:
    query = select(Event).where(Event.organization_id == organization_id)
    if external_subscription_id:
        query = query.where(Event.external_subscription_id == external_subscription_id)
    if code:
        query = query.where(Event.code == code)
    with read_only() as session:
        return paginate(session, query.order_by(Event.timestamp.desc(), Event.id.desc()), page=page, per_page=per_page)


# ---------------------------------------------------------------- usage


@dataclass(frozen=True)
class ChargeUsage:
    charge: Charge
    units: Decimal
    events_count: int
    amount: Decimal  # major units, unrounded
    amount_cents: int
    unit_amount: Decimal


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


def charge_usage(session: Session, subscription: Subscription, charge: Charge, start: datetime,
                 end: datetime) -> ChargeUsage:
    """Units and price of one charge over [start, end) of one subscription's events."""
    metric = charge.billable_metric
    scope = (Event.organization_id == subscription.organization_id,
             Event.external_subscription_id == subscription.external_id, Event.code == metric.code,
             Event.timestamp >= start, Event.timestamp < end)
    if metric.aggregation_type == "count_agg":
        events_count = session.scalar(select(func.count()).select_from(Event).where(*scope)) or 0
        units = Decimal(events_count)
    else:
        properties = list(session.scalars(select(Event.properties).where(*scope)))
        events_count = len(properties)
        units = aggregate(metric.aggregation_type, metric.field_name, properties)
    result = pricing.price(charge.charge_model, units, charge.properties)
    currency = subscription.plan.amount_currency
    return ChargeUsage(charge=charge, units=units, events_count=events_count, amount=result.amount,
                       amount_cents=to_minor(result.amount, currency), unit_amount=result.unit_amount)


def usage_between(session: Session, subscription: Subscription, start: datetime, end: datetime) -> Usage:
    charges = [charge_usage(session, subscription, charge, start, end) for charge in subscription.plan.charges]
    return Usage(subscription=subscription, from_datetime=start, to_datetime=end,
                 currency=subscription.plan.amount_currency, charges=charges)


def current_usage(*, organization_id: str, external_customer_id: str, external_subscription_id: str) -> Usage:
    """Usage of the subscription's current billing period so far (not yet invoiced)."""
    with read_only() as session:
        subscription = find_subscription(session, organization_id, external_subscription_id)
        if subscription is None or subscription.customer.external_id != external_customer_id:
            raise NotFound("subscription")
        if subscription.status not in ("active",):
            raise NotFound("subscription", "no_active_subscription")
        return usage_for_current_period(session, subscription)


def usage_for_current_period(session: Session, subscription: Subscription) -> Usage:
    period = current_period(subscription)
    start = max(period.start, subscription.started_at or period.start)
    return usage_between(session, subscription, start, period.end)
