"""The SQL event store: the events table of the ledger's own database (PostgreSQL, or SQLite embedded).

Usage is read from the rollups of whole hours and days plus the raw events around them (`metering.usage`),
in the caller's session, so a usage read sees one snapshot of events, rollups and the ledger.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from billing.catalog.models import BillableMetric
from billing.db import engine, read_only
from billing.metering import rollups, usage
from billing.metering.aggregation import GroupUsage
from billing.metering.models import SQL_ROLLUPS, Event, UsageDailyRollup, UsageRollup, UsageUniqueValue
from billing.metering.services import insert_new_events, stored_event
from billing.metering.store import POSTGRES, EventRecord
from billing.pagination import Page, paginate

_RECORD_COLUMNS = [getattr(Event, name) for name in EventRecord._fields]


def counted():
    """Events to count: all but those stored for a metric that did not exist (kept to be re-derived)."""
    return or_(Event.error.is_(None), Event.error != "metric_not_found")


class SqlEventStore:
    name = POSTGRES

    def store_events(self, session: Session, organization_id: str, rows: list[dict]) -> dict[str, int]:
        return insert_new_events(session, rows)

    def find_events(self, organization_id: str, transaction_ids: Sequence[str]):
        with read_only() as session:
            return [stored_event(e) for e in session.scalars(select(Event).where(
                Event.organization_id == organization_id, Event.transaction_id.in_(list(transaction_ids))))]

    def list_events(self, *, organization_id: str, external_subscription_ids: Sequence[str] | None = None,
                    code: str | None = None, timestamp_from: datetime | None = None,
                    timestamp_to: datetime | None = None, transaction_id: str | None = None, page: int = 1,
                    per_page: int = 20) -> Page:
        query = select(Event).where(Event.organization_id == organization_id)
        if timestamp_from:
            query = query.where(Event.timestamp >= timestamp_from)
        if timestamp_to:
            query = query.where(Event.timestamp <= timestamp_to)
        if transaction_id:
            query = query.where(Event.transaction_id == transaction_id)
        if external_subscription_ids is not None:
            query = query.where(Event.external_subscription_id.in_(list(external_subscription_ids)))
        if code:
            query = query.where(Event.code == code)
        with read_only() as session:
            found = paginate(session, query.order_by(Event.timestamp.desc(), Event.id.desc()), page=page,
                             per_page=per_page)
            return Page(items=[stored_event(e) for e in found.items], current_page=found.current_page,
                        per_page=found.per_page, total_count=found.total_count)

    def subscription_usages(self, session: Session, *, organization_id: str,
                            requests) -> list[dict[str, GroupUsage]]:
        return usage.subscription_usages(session, organization_id=organization_id, requests=requests)

    def metric_events(self, session: Session, *, organization_id: str, external_subscription_id: str, code: str,
                      start: datetime, end: datetime, up_to_id: int | None = None) -> list[EventRecord]:
        conditions = [Event.organization_id == organization_id,
                      Event.external_subscription_id == external_subscription_id, Event.code == code,
                      Event.timestamp >= start, Event.timestamp < end, counted()]
        if up_to_id is not None:
            conditions.append(Event.id <= up_to_id)
        return [EventRecord(*row) for row in session.execute(
            select(*_RECORD_COLUMNS).where(*conditions).order_by(Event.id))]

    def settled_high_id(self) -> int:
        return rollups.settled_high_id()

    def events_between(self, session: Session, low: int, high: int) -> list[EventRecord]:
        return [EventRecord(*row) for row in session.execute(
            select(*_RECORD_COLUMNS).where(Event.id > low, Event.id <= high).order_by(Event.id))]

    def subscriptions_with_events(self, session: Session, low: int, high: int) -> set[tuple[str, str]]:
        return set(session.execute(select(Event.organization_id, Event.external_subscription_id).where(
            Event.id > low, Event.id <= high).distinct()).tuples())

    def max_event_id(self, session: Session, organization_id: str) -> int:
        return session.scalar(select(func.coalesce(func.max(Event.id), 0)).where(
            Event.organization_id == organization_id))

    def roll_up(self, *, limit: int) -> int:
        return rollups.roll_up_events(limit=limit)

    def rederive_metric(self, session: Session, metric: BillableMetric | None, *, organization_id: str,
                        code: str) -> int:
        return rollups.rederive_in_sql(session, metric, organization_id=organization_id, code=code)

    def forget_organization(self, session: Session, organization_id: str) -> None:
        for model in (Event, UsageRollup, UsageDailyRollup, UsageUniqueValue):
            session.execute(delete(model).where(model.organization_id == organization_id))

    def clear(self) -> None:
        with engine().begin() as connection:
            for model in (Event, *SQL_ROLLUPS):
                connection.execute(delete(model))
