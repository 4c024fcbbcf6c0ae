"""What ingestion reads of an organization's catalog, cached per process and never stale.

Every event needs its metric's definition (to derive its value and filter group) and the
subscription live at its timestamp. Reading them on every request was most of the cost of a
single-event ingestion, so each process keeps them, stamped with the organization's
`catalog_version`:

- every transaction that changes a billable metric, its filters, a plan, a charge or a subscription's dates bumps
  the version (a `before_flush` hook, so no writer can forget) and, on PostgreSQL, holds the
  organization's catalog lock exclusively until it commits;
- every ingestion holds that lock shared while it reads the version and inserts.

So an ingestion either commits before the catalog change starts (and a metric change re-derives
its events, see `rollups.rederive_metric_events`), or reads the new version after it committed and
reloads: an event is never stored with a stale definition, which a time-based cache could not
promise. On SQLite, transactions are serialized and the version read needs no lock.

The catalog also knows which metric codes have a pay-in-advance charge (`advance_codes`), so an
ingestion asks for the `bill_advance_charges` job only when one of its events needs it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import event, inspect, select, text, update
from sqlalchemy.orm import Session

from billing.catalog.models import BillableMetric, BillableMetricFilter, Charge, Plan
from billing.errors import NotFound
from billing.metering import locks
from billing.metering.facts import MetricReading, metric_reading
from billing.organizations.models import Organization
from billing.subscriptions.models import Subscription

MAX_ORGANIZATIONS = 10_000
MAX_SUBSCRIPTIONS = 200_000

Window = tuple[datetime, datetime | None, str]  # (started_at, terminated_at, subscription id)


@dataclass
class IngestCatalog:
    version: int
    metrics: dict[str, MetricReading]
    advance_codes: frozenset[str] = frozenset()  # metric codes with a pay-in-advance charge (any plan)
    windows: dict[str, list[Window]] = field(default_factory=dict)  # filled per external id on demand


_catalogs: dict[str, IngestCatalog] = {}
_lock = threading.Lock()


def ingest_catalog(session: Session, organization_id: str, external_ids: set[str]) -> IngestCatalog:
    """The catalog as of this transaction, with the windows of `external_ids` loaded.

    Takes the insert barrier and the organization's catalog lock (shared) for the rest of the
    transaction: the caller inserts its events in it.
    """
    if session.bind.dialect.name == "postgresql":
        version = _locked_version(session, organization_id)
    else:
        version = session.scalar(select(Organization.catalog_version).where(Organization.id == organization_id))
    if version is None:  # the organization is gone (its API key was still in a process's cache)
        raise NotFound("organization")
    catalog = _catalogs.get(organization_id)
    if catalog is None or catalog.version != version:
        catalog = _load(session, organization_id, version)
    load_windows(session, organization_id, catalog, external_ids)
    return catalog


def cached_catalog(organization_id: str) -> IngestCatalog | None:
    """This process's catalog of the organization, maybe stale: only for a guarded insert
    (`metering.services._insert_if_version`), which writes nothing unless its version is current."""
    return _catalogs.get(organization_id)


def _load(session: Session, organization_id: str, version: int) -> IngestCatalog:
    catalog = IngestCatalog(version=version, metrics={
        metric.code: metric_reading(metric) for metric in session.scalars(select(BillableMetric).where(
            BillableMetric.organization_id == organization_id, BillableMetric.deleted_at.is_(None)))},
        advance_codes=frozenset(session.scalars(
            select(BillableMetric.code).join(Charge, Charge.billable_metric_id == BillableMetric.id)
            .join(Plan, Plan.id == Charge.plan_id).where(
                BillableMetric.organization_id == organization_id, BillableMetric.deleted_at.is_(None),
                Charge.pay_in_advance.is_(True), Charge.deleted_at.is_(None), Plan.deleted_at.is_(None)))))
    with _lock:
        if len(_catalogs) >= MAX_ORGANIZATIONS:
            _catalogs.clear()
        _catalogs[organization_id] = catalog
    return catalog


def load_windows(session: Session, organization_id: str, catalog: IngestCatalog, external_ids: set[str]) -> None:
    """Make sure the catalog knows the subscriptions of these external ids (read as of now)."""
    missing = external_ids - catalog.windows.keys()
    if missing:
        loaded: dict[str, list[Window]] = {external_id: [] for external_id in missing}
        for row in session.execute(select(Subscription.external_id, Subscription.started_at,
                                          Subscription.terminated_at, Subscription.id).where(
                Subscription.organization_id == organization_id, Subscription.external_id.in_(missing),
                Subscription.started_at.is_not(None))):
            loaded[row.external_id].append((row.started_at, row.terminated_at, row.id))
        if len(catalog.windows) + len(loaded) > MAX_SUBSCRIPTIONS:
            catalog.windows.clear()
        catalog.windows.update(loaded)


# Takes the insert barrier and the organization's catalog lock, both shared until the transaction
# ends, then reads the version (migration 0018). Its SELECT is a statement of the VOLATILE function,
# so it takes a snapshot once the locks are held and sees a catalog change that committed while this
# transaction waited for them. Ingestion's insert calls it too (metering.services).
PG_LOCKED_VERSION = "SELECT tally_locked_catalog_version(%s, %s, %s)"


def _locked_version(session: Session, organization_id: str) -> int | None:
    """Take the ingestion locks and read the catalog version under them: one statement."""
    cursor = session.connection().connection.driver_connection.execute(
        PG_LOCKED_VERSION, (organization_id, locks.INSERT_BARRIER, locks.CATALOG_NAMESPACE))
    return cursor.fetchone()[0]  # None: no such organization


def subscription_at(windows: list[Window], moment: datetime) -> str | None:
    """The subscription live at `moment` (None: the event is kept, and shown as matching none)."""
    for started_at, terminated_at, subscription_id in windows:
        if started_at <= moment and (terminated_at is None or moment < terminated_at):
            return subscription_id
    return None


def forget_catalogs() -> None:
    """Drop every cached catalog (tests that reset the database)."""
    with _lock:
        _catalogs.clear()


# ---------------------------------------------------------------- writers bump the version

_SUBSCRIPTION_WINDOW = ("external_id", "started_at", "terminated_at", "organization_id")


@event.listens_for(Session, "before_flush")
def _bump_catalog_versions(session: Session, _context, _instances) -> None:
    organizations: set[str] = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, BillableMetric):
            organizations.add(obj.organization_id)
        elif isinstance(obj, BillableMetricFilter):
            metric = obj.__dict__.get("billable_metric")
            if metric is None and obj.billable_metric_id is not None:
                with session.no_autoflush:
                    metric = session.get(BillableMetric, obj.billable_metric_id)
            if metric is not None:
                organizations.add(metric.organization_id)
        elif isinstance(obj, Plan):
            organizations.add(obj.organization_id)
        elif isinstance(obj, Charge):
            plan = obj.__dict__.get("plan")
            if plan is None and obj.plan_id is not None:
                with session.no_autoflush:
                    plan = session.get(Plan, obj.plan_id)
            if plan is not None:
                organizations.add(plan.organization_id)
        elif isinstance(obj, Subscription):
            state = inspect(obj)
            if state.pending or state.deleted or obj in session.deleted or any(
                    state.attrs[name].history.has_changes() for name in _SUBSCRIPTION_WINDOW):
                organizations.add(obj.organization_id)
    bumped = session.info.setdefault("catalog_versions_bumped", set())
    connection = session.connection()
    for organization_id in sorted(organizations - bumped - {None}):
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:namespace, hashtext(:organization_id))"),
                               {"namespace": locks.CATALOG_NAMESPACE, "organization_id": organization_id})
        connection.execute(update(Organization.__table__).where(Organization.__table__.c.id == organization_id)
                           .values(catalog_version=Organization.__table__.c.catalog_version + 1,
                                   updated_at=Organization.__table__.c.updated_at))
        bumped.add(organization_id)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _reset_bumped(session: Session) -> None:
    session.info.pop("catalog_versions_bumped", None)
