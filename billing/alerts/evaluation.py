"""Evaluate alerts: measure, find the thresholds newly reached, record them and send `alert.triggered`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cached_property

from sqlalchemy import delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from billing import serializers
from billing.alerts.models import Alert, AlertCheckDue, AlertCrossing, TriggeredAlert
from billing.alerts.thresholds import Threshold, reached, value_key
from billing.db import read_only, unit_of_work, utcnow
from billing.invoicing.lifetime_usage import lifetime_usage_amount_cents
from billing.metering import rollups
from billing.metering.period_usage import USAGE_LOADING, Usage, usage_for_current_period
from billing.metering.store import event_store
from billing.money import decimal_str
from billing.ports import runtime
from billing.subscriptions.models import Subscription
from billing.subscriptions.periods import current_charges_period
from billing.subscriptions.services import find_live_subscription
from billing.wallets.models import Wallet
from billing.wallets.ongoing import Ongoing
from billing.webhooks import services as webhooks

log = logging.getLogger(__name__)

WATERMARK = "usage_alerts"  # the last event id whose subscriptions were asked for (rollup_watermarks row)
JOB = "evaluate_usage_alerts"
JOB_ID = "evaluate-usage-alerts"


@dataclass
class Measured:
    """What an alert is measured on: a live subscription (its usage read once, when first asked) or a wallet."""

    session: Session
    subscription: Subscription | None = None
    wallet: Wallet | None = None
    ongoing: Ongoing | None = None

    @cached_property
    def usage(self) -> Usage:
        return usage_for_current_period(self.session, self.subscription)


@dataclass(frozen=True)
class Measure:
    value: Callable[[Measured, Alert], Decimal | None]  # None: nothing to measure (a metric not in the plan)
    per_period: bool = True  # reached once per billing period (else: once per crossing, e.g. a wallet's balance)


def _metric_charges(measured: Measured, alert: Alert):
    return [c for c in measured.usage.charges if c.charge.billable_metric_id == alert.billable_metric_id]


def _metric_amount(measured: Measured, alert: Alert) -> Decimal | None:
    charges = _metric_charges(measured, alert)
    return Decimal(sum(c.amount_cents for c in charges)) if charges else None


def _metric_units(measured: Measured, alert: Alert) -> Decimal | None:
    # Every charge of one metric counts the same events: the first one's units are the metric's.
    charges = _metric_charges(measured, alert)
    return charges[0].units if charges else None


# NOTE: what each alert type measures (amounts in the currency's minor units, as Lago's `amount_cents` and
# `balance_cents`; units and credits as decimals). A type missing here is refused by the API with
# `not_supported_yet` (billing.alerts.services). Lifetime usage (progressive billing's measure, docs/billing.md) has
# no period: each of its thresholds fires once per crossing, as the total grows.
MEASURES: dict[str, Measure] = {
    "current_usage_amount": Measure(lambda m, a: Decimal(m.usage.amount_cents)),
    "lifetime_usage_amount": Measure(
        lambda m, a: Decimal(lifetime_usage_amount_cents(m.session, m.subscription)), per_period=False),
    "billable_metric_current_usage_amount": Measure(_metric_amount),
    "billable_metric_current_usage_units": Measure(_metric_units),
    "wallet_balance_amount": Measure(lambda m, a: Decimal(m.wallet.balance_cents), per_period=False),
    "wallet_credits_balance": Measure(lambda m, a: m.wallet.credits_balance, per_period=False),
    "wallet_ongoing_balance_amount": Measure(lambda m, a: Decimal(m.ongoing.balance_cents), per_period=False),
    "wallet_credits_ongoing_balance": Measure(lambda m, a: m.ongoing.credits, per_period=False),
}


@dataclass(frozen=True)
class AlertRun:
    subscriptions: int  # subscriptions whose alerts were evaluated
    triggered: list[str] = field(default_factory=list)  # the triggered alerts' ids
    failed: list[str] = field(default_factory=list)  # external ids whose evaluation failed (they stay due)


def request_check(session: Session, *, organization_id: str, subscription_external_id: str) -> None:
    """Ask the next run to evaluate this subscription's alerts (in the caller's transaction)."""
    insert = (sqlite if session.bind.dialect.name == "sqlite" else postgresql).insert
    session.execute(insert(AlertCheckDue).values(
        organization_id=organization_id, subscription_external_id=subscription_external_id,
        requested_at=utcnow()).on_conflict_do_nothing())


def request_run() -> None:
    """Ask for the evaluation job (one waiting run at a time: it takes every request written before it starts)."""
    runtime.dispatcher.enqueue(JOB, job_id=JOB_ID)


def _request_checks_for_new_events() -> None:
    """Ask for the subscriptions with alerts that received events since the last run.

    Follows the events by id as the rollups do (their insert barrier: ids commit out of order on
    PostgreSQL), its watermark moved in the transaction that writes the requests: a run killed here asks again.
    """
    store = event_store()
    high = store.settled_high_id()
    with unit_of_work() as uow:
        session = uow.session
        low = rollups.watermark(session, name=WATERMARK, for_update=True)  # a second run waits here
        if high <= low:
            return
        moved = store.subscriptions_with_events(session, low, high)
        with_alerts = set(session.execute(select(Alert.organization_id, Alert.subscription_external_id).where(
            tuple_(Alert.organization_id, Alert.subscription_external_id).in_(list(moved))).distinct()).tuples()) \
            if moved else set()
        for organization_id, external_id in sorted(with_alerts):
            request_check(session, organization_id=organization_id, subscription_external_id=external_id)
        rollups.move_watermark(session, name=WATERMARK, to=high)


def evaluate_usage_alerts(*, organization_id: str | None = None) -> AlertRun:
    """Evaluate the alerts of every subscription asked for: those whose usage moved, or whose alerts changed.

    NOTE: each subscription in its own transaction, its alerts' rows locked, its request taken away in the
    same transaction as the crossings it records: a killed run leaves the request, and the rerun finds the
    crossings already recorded, so each fires once (docs/billing.md, Alerts).
    """
    _request_checks_for_new_events()
    with read_only() as session:
        query = select(AlertCheckDue.organization_id, AlertCheckDue.subscription_external_id).order_by(
            AlertCheckDue.requested_at)
        if organization_id:
            query = query.where(AlertCheckDue.organization_id == organization_id)
        due = [tuple(row) for row in session.execute(query)]
    checked = 0
    triggered: list[str] = []
    failed: list[str] = []
    for org_id, external_id in due:
        try:
            with unit_of_work() as uow:
                session = uow.session
                alerts = list(session.scalars(select(Alert).where(
                    Alert.organization_id == org_id, Alert.subscription_external_id == external_id,
                ).order_by(Alert.created_at, Alert.id).with_for_update(of=Alert)).unique())
                taken = session.scalar(select(AlertCheckDue.subscription_external_id).where(
                    AlertCheckDue.organization_id == org_id,
                    AlertCheckDue.subscription_external_id == external_id).with_for_update())
                if taken is None:
                    continue  # another run took it
                subscription = find_live_subscription(session, org_id, external_id, USAGE_LOADING)
                if subscription is not None and subscription.status == "active" and alerts:
                    measured = Measured(session, subscription=subscription)
                    period_start = current_charges_period(subscription).start
                    for alert in alerts:
                        found = evaluate_alert(session, alert, measured, period_start=period_start)
                        if found is not None:
                            triggered.append(found.id)
                session.execute(delete(AlertCheckDue).where(
                    AlertCheckDue.organization_id == org_id, AlertCheckDue.subscription_external_id == external_id))
            checked += 1
        except Exception:
            # NOTE: one subscription's failure must not stop the others' alerts: its request stays for the next run.
            log.exception("evaluating the alerts of subscription %s failed", external_id)
            failed.append(external_id)
    return AlertRun(subscriptions=checked, triggered=triggered, failed=failed)


def evaluate_wallet_alerts(session: Session, wallet: Wallet, ongoing: Ongoing) -> list[str]:
    """Evaluate a wallet's alerts, in the wallet check's transaction (its row locked); the triggered alerts' ids."""
    alerts = list(session.scalars(select(Alert).where(Alert.wallet_id == wallet.id)
                                  .order_by(Alert.created_at, Alert.id).with_for_update(of=Alert)).unique())
    measured = Measured(session, wallet=wallet, ongoing=ongoing)
    return [found.id for alert in alerts
            if (found := evaluate_alert(session, alert, measured, period_start=None)) is not None]


def evaluate_alert(session: Session, alert: Alert, measured: Measured, *,
                   period_start: datetime | None) -> TriggeredAlert | None:
    """Measure one locked alert; record and announce the thresholds it newly reached (None: none)."""
    measure = MEASURES.get(alert.alert_type)
    if measure is None:
        return None  # a type Tally does not measure yet: refused by the API, never stored by it
    now = runtime.clock.now()
    current = measure.value(measured, alert)
    alert.last_processed_at = now
    if current is None:
        return None  # NOTE: a metric no charge of the plan bills has no usage to measure (as Lago)
    if measure.per_period:
        if alert.period_start != period_start:
            alert.previous_value, alert.period_start = Decimal(0), period_start
        period_key = period_start.isoformat() if period_start else "none"
    else:
        period_key = "crossing"
    thresholds = [Threshold(value=t.value, code=t.code, recurring=t.recurring) for t in alert.thresholds]
    found = reached(thresholds, current, direction=alert.direction)
    recorded = set(session.scalars(select(AlertCrossing.value_key).where(
        AlertCrossing.alert_id == alert.id, AlertCrossing.period_key == period_key)))
    keys = {value_key(c.value) for c in found}
    if not measure.per_period and recorded - keys:
        # NOTE: the measure went back across these thresholds: each may fire again when next crossed.
        session.execute(delete(AlertCrossing).where(
            AlertCrossing.alert_id == alert.id, AlertCrossing.period_key == period_key,
            AlertCrossing.value_key.in_(recorded - keys)))
    new = [c for c in found if value_key(c.value) not in recorded]
    previous = alert.previous_value
    alert.previous_value = current
    if not new:
        return None
    triggered = TriggeredAlert(
        organization_id=alert.organization_id, alert_id=alert.id, alert=alert,
        subscription_id=measured.subscription.id if measured.subscription else None,
        wallet_id=measured.wallet.id if measured.wallet else None, period_start=alert.period_start,
        current_value=current, previous_value=previous, triggered_at=now,
        crossed_thresholds=[{"code": c.code, "value": decimal_str(c.value), "recurring": c.recurring}
                            for c in new])
    session.add(triggered)
    session.flush()
    session.add_all(AlertCrossing(alert_id=alert.id, period_key=period_key, value_key=value_key(c.value),
                                  triggered_alert_id=triggered.id) for c in new)
    subscription, wallet = measured.subscription, measured.wallet
    webhooks.emit(session, alert.organization_id, webhooks.ALERT_TRIGGERED, "triggered_alert",
                  lambda: serializers.triggered_alert(triggered, subscription=subscription, wallet=wallet),
                  object_id=triggered.id)
    return triggered
