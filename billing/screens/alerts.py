"""Alerts as the screens show them: the thresholds a live subscription crossed this period; a subscription's and a
wallet's alerts (read-only in the admin)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload, selectinload

from billing.alerts.models import Alert, TriggeredAlert
from billing.db import read_only
from billing.subscriptions.models import Subscription
from billing.subscriptions.periods import current_charges_period


@dataclass(frozen=True)
class CrossedAlert:
    """The highest threshold an alert crossed in the subscription's current period."""

    alert_code: str
    alert_name: str | None
    alert_type: str
    metric_name: str | None
    value: Decimal  # minor units for amounts, units for a metric's units
    currency: str
    triggered_at: datetime


@dataclass(frozen=True)
class AlertRow:
    code: str
    name: str | None
    alert_type: str
    metric_name: str | None
    thresholds: tuple[tuple[Decimal, bool], ...]  # (value, recurring), lowest first
    previous_value: Decimal
    last_processed_at: datetime | None
    triggered_count: int
    last_triggered_at: datetime | None


def crossed_alerts(session: Session, subscription: Subscription) -> tuple[CrossedAlert, ...]:
    """Each alert's latest crossing in the current period, in the order the alerts were made."""
    if subscription.status != "active":
        return ()
    period_start = current_charges_period(subscription).start
    # The alert and its metric only (their own joined relationships reach the organization, its wallet and customer:
    # a 6 kB statement), and only for crossings found: most periods have none, and the page polls.
    rows = session.scalars(select(TriggeredAlert).where(
        TriggeredAlert.subscription_id == subscription.id, TriggeredAlert.period_start == period_start,
    ).order_by(TriggeredAlert.triggered_at, TriggeredAlert.id).options(
        selectinload(TriggeredAlert.alert).options(lazyload("*"), selectinload(Alert.billable_metric).lazyload("*"))
    )).all()
    latest: dict[str, TriggeredAlert] = {}
    for row in rows:
        latest[row.alert_id] = row  # the latest one wins
    made = sorted(latest.values(), key=lambda t: (t.alert.created_at, t.alert.id))
    return tuple(CrossedAlert(
        alert_code=t.alert.code, alert_name=t.alert.name, alert_type=t.alert.alert_type,
        metric_name=t.alert.billable_metric.name if t.alert.billable_metric else None,
        value=max(Decimal(c["value"]) for c in t.crossed_thresholds), currency=subscription.plan.amount_currency,
        triggered_at=t.triggered_at) for t in made)


def _rows(session: Session, query) -> list[AlertRow]:
    alerts = list(session.scalars(query.order_by(Alert.created_at, Alert.id)).unique())
    rows = []
    for alert in alerts:
        fired = list(session.scalars(select(TriggeredAlert.triggered_at).where(
            TriggeredAlert.alert_id == alert.id).order_by(TriggeredAlert.triggered_at.desc())))
        rows.append(AlertRow(
            code=alert.code, name=alert.name, alert_type=alert.alert_type,
            metric_name=alert.billable_metric.name if alert.billable_metric else None,
            thresholds=tuple(sorted((t.value, t.recurring) for t in alert.thresholds)),
            previous_value=alert.previous_value, last_processed_at=alert.last_processed_at,
            triggered_count=len(fired), last_triggered_at=fired[0] if fired else None))
    return rows


def subscription_alerts(*, organization_id: str, external_id: str) -> list[AlertRow]:
    with read_only() as session:
        return _rows(session, select(Alert).where(Alert.organization_id == organization_id,
                                                  Alert.subscription_external_id == external_id))


def wallet_alerts(*, organization_id: str, wallet_id: str) -> list[AlertRow]:
    with read_only() as session:
        return _rows(session, select(Alert).where(Alert.organization_id == organization_id,
                                                  Alert.wallet_id == wallet_id))
