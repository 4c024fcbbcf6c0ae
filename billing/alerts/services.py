"""Alerts of a subscription (by its external id) and of a wallet: create one or many, update, delete, read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing.alerts import evaluation
from billing.alerts.models import (
    METRIC_ALERT_TYPES,
    SUBSCRIPTION_ALERT_TYPES,
    WALLET_ALERT_TYPES,
    Alert,
    AlertThreshold,
)
from billing.audit.services import record
from billing.catalog.models import BillableMetric
from billing.customers.models import Customer
from billing.db import read_only, unit_of_work
from billing.errors import NotFound, ValidationFailed
from billing.pagination import Page, paginate
from billing.ports import runtime
from billing.subscriptions.models import Subscription
from billing.validation import Checker
from billing.wallets import ledger
from billing.wallets.models import Wallet

# NOTE: Lago's soft limit of thresholds per alert (lago-api AlertThreshold::SOFT_LIMIT).
MAX_THRESHOLDS = 20
SUBSCRIPTION_STATUSES = ("active", "pending", "terminated", "canceled")


# ---------------------------------------------------------------- what an alert belongs to


def _subscription(session: Session, organization_id: str, external_id: str, status: str | None) -> Subscription:
    """The subscription the path names: the latest in `subscription_status` (Lago's query parameter), `active`
    unless given."""
    status = status or "active"
    if status not in SUBSCRIPTION_STATUSES:
        raise ValidationFailed({"subscription_status": ["value_is_invalid"]})
    found = session.scalars(select(Subscription).where(
        Subscription.organization_id == organization_id, Subscription.external_id == external_id,
        Subscription.status == status).order_by(Subscription.created_at.desc())).first()
    if found is None:
        raise NotFound("subscription")
    return found


def _wallet(session: Session, organization_id: str, external_customer_id: str, wallet_code: str) -> Wallet:
    customer_id = session.scalar(select(Customer.id).where(
        Customer.organization_id == organization_id, Customer.external_id == external_customer_id,
        Customer.deleted_at.is_(None)))
    if customer_id is None:
        raise NotFound("customer")
    wallet = session.scalars(select(Wallet).where(
        Wallet.organization_id == organization_id, Wallet.customer_id == customer_id, Wallet.code == wallet_code,
    ).order_by(Wallet.status, Wallet.created_at.desc())).first()  # "active" sorts before "terminated"
    if wallet is None:
        raise NotFound("wallet")
    return wallet


def _subscription_alerts(organization_id: str, external_id: str):
    return select(Alert).where(Alert.organization_id == organization_id,
                               Alert.subscription_external_id == external_id).order_by(Alert.created_at, Alert.id)


def _wallet_alerts(wallet: Wallet):
    return select(Alert).where(Alert.wallet_id == wallet.id).order_by(Alert.created_at, Alert.id)


def _one(session: Session, query, code: str, *, lock: bool = False) -> Alert:
    query = query.where(Alert.code == code)
    alert = session.scalars(query.with_for_update(of=Alert) if lock else query).unique().one_or_none()
    if alert is None:
        raise NotFound("alert")
    return alert


# ---------------------------------------------------------------- input


def _thresholds(check: Checker, raw: object) -> list[AlertThreshold] | None:
    """Lago's thresholds: [{value, code, recurring}], at least one, at most MAX_THRESHOLDS, one recurring at most."""
    if raw is None or raw == []:
        check.fail("thresholds", "thresholds_must_be_present")
        return None
    if not isinstance(raw, list) or not all(isinstance(item, Mapping) for item in raw):
        check.fail("thresholds", "invalid_type")
        return None
    if len(raw) > MAX_THRESHOLDS:
        check.fail("thresholds", "too_many_thresholds")
        return None
    made = []
    for index, item in enumerate(raw):
        one = Checker(item)
        value = one.decimal("value", required=True)
        code = one.string("code")
        recurring = one.boolean("recurring")
        if value is not None and recurring and value <= 0:
            one.fail("value", "value_is_out_of_range")  # a recurring step of 0 would never move on
        for field, reasons in one.errors.items():
            for reason in reasons:
                check.fail(f"thresholds.{index}.{field}", reason)
        if not one.errors:
            made.append(AlertThreshold(value=value, code=code, recurring=bool(recurring)))
    if len(made) != len(raw):
        return None
    if sum(1 for t in made if t.recurring) > 1:
        check.fail("thresholds", "only_one_recurring_threshold")
        return None
    keys = [(t.value.normalize(), t.recurring) for t in made]
    if len(set(keys)) != len(keys):
        check.fail("thresholds", "duplicate_threshold_values")
        return None
    return made


def _metric(session: Session, check: Checker, organization_id: str, alert_type: str | None) -> BillableMetric | None:
    code = check.string("billable_metric_code")
    if alert_type not in METRIC_ALERT_TYPES:
        if code is not None:
            check.fail("billable_metric_code", "value_must_be_blank")
        return None
    if code is None:
        check.fail("billable_metric_code", "value_is_mandatory")
        return None
    metric = session.scalar(select(BillableMetric).where(
        BillableMetric.organization_id == organization_id, BillableMetric.code == code,
        BillableMetric.deleted_at.is_(None)))
    if metric is None:
        raise NotFound("billable_metric")
    return metric


def _alert_type(check: Checker, allowed: tuple[str, ...]) -> str | None:
    alert_type = check.choice("alert_type", allowed, required=True)
    if alert_type is not None and alert_type not in evaluation.MEASURES:
        check.fail("alert_type", "not_supported_yet")  # a type Lago has that Tally does not measure yet
        return None
    return alert_type


def _new_alert(session: Session, organization_id: str, data: object, *, subscription: Subscription | None,
               wallet: Wallet | None, taken: list[Alert]) -> Alert:
    check = Checker(data)
    if not isinstance(data, Mapping):
        check.fail("alert", "invalid_type")
        check.done()
    alert_type = _alert_type(check, SUBSCRIPTION_ALERT_TYPES if subscription is not None else WALLET_ALERT_TYPES)
    code = check.string("code", required=True)
    name = check.string("name")
    thresholds = _thresholds(check, data.get("thresholds"))
    metric = _metric(session, check, organization_id, alert_type) if subscription is not None else None
    if wallet is not None and "billable_metric_code" in data and data["billable_metric_code"] is not None:
        check.fail("billable_metric_code", "value_must_be_blank")
    if code is not None and any(a.code == code for a in taken):
        check.fail("code", "value_already_exist")
    metric_id = metric.id if metric is not None else None
    if alert_type is not None and any(a.alert_type == alert_type and a.billable_metric_id == metric_id for a in taken):
        # NOTE: one alert per type (per metric) and subscription or wallet, as Lago's unique indexes.
        check.fail("alert_type", "value_already_exist")
    check.done()
    return Alert(organization_id=organization_id, subscription_external_id=subscription.external_id
                 if subscription is not None else None, wallet_id=wallet.id if wallet is not None else None,
                 wallet=wallet, billable_metric=metric, billable_metric_id=metric_id, alert_type=alert_type,
                 code=code, name=name, direction="decreasing" if wallet is not None else "increasing",
                 previous_value=Decimal(0), thresholds=thresholds)


def _create(session: Session, organization_id: str, items: Sequence[object], *, subscription: Subscription | None,
            wallet: Wallet | None, existing: list[Alert], batch: bool) -> list[Alert]:
    """Every alert or none: a batch's reasons are keyed by each refused alert's index (as events' batches)."""
    taken = list(existing)
    made: list[Alert] = []
    errors: dict[str, object] = {}
    for index, data in enumerate(items):
        try:
            alert = _new_alert(session, organization_id, data, subscription=subscription, wallet=wallet, taken=taken)
        except ValidationFailed as failed:
            if not batch:
                raise
            errors[str(index)] = failed.details
            continue
        taken.append(alert)
        made.append(alert)
    if errors:
        raise ValidationFailed(errors)
    session.add_all(made)
    try:
        session.flush()
    except IntegrityError:
        # A concurrent request took one of the codes first: nothing of this one is written.
        raise ValidationFailed({"code": ["value_already_exist"]}) from None
    for alert in made:
        _record(session, alert, "created", None, _terms(alert))
    return made


def _terms(alert: Alert) -> dict[str, object]:
    return {"alert_type": alert.alert_type, "code": alert.code, "name": alert.name,
            "billable_metric_code": alert.billable_metric.code if alert.billable_metric else None,
            "thresholds": {str(n): {"value": str(t.value), "code": t.code, "recurring": t.recurring}
                           for n, t in enumerate(alert.thresholds, 1)}}


def _record(session: Session, alert: Alert, action: str, before: dict | None, after: dict | None) -> None:
    session.flush()
    record(session, organization_id=alert.organization_id, action=action, object_type="alert", object_id=alert.id,
           object_label=alert.name or alert.code, before=before, after=after)


def _update(session: Session, alert: Alert, data: Mapping[str, object], *, taken: list[Alert]) -> Alert:
    """Lago's update: the name, the code, the metric and the thresholds (replaced as a whole) when sent."""
    check = Checker(data)
    before = _terms(alert)
    if "code" in data:
        code = check.string("code", required=True)
        if code is not None and code != alert.code and any(a.code == code for a in taken if a.id != alert.id):
            check.fail("code", "value_already_exist")
        elif code is not None:
            alert.code = code
    if "name" in data:
        alert.name = check.string("name")
    if "billable_metric_code" in data:
        if alert.wallet_id is not None:
            if data["billable_metric_code"] is not None:
                check.fail("billable_metric_code", "value_must_be_blank")
        else:
            metric = _metric(session, check, alert.organization_id, alert.alert_type)
            if metric is not None and any(a.alert_type == alert.alert_type and a.billable_metric_id == metric.id
                                          for a in taken if a.id != alert.id):
                check.fail("alert_type", "value_already_exist")
            elif metric is not None:
                alert.billable_metric, alert.billable_metric_id = metric, metric.id
    if "thresholds" in data:
        thresholds = _thresholds(check, data.get("thresholds"))
        if thresholds is not None:
            alert.thresholds = thresholds
    check.done()
    try:
        session.flush()
    except IntegrityError:
        raise ValidationFailed({"code": ["value_already_exist"]}) from None
    _record(session, alert, "updated", before, _terms(alert))
    return alert


def _measure_soon(uow, alert: Alert, wallet: Wallet | None) -> None:
    """A new or changed alert is evaluated by the next run, whatever the usage does meanwhile."""
    if wallet is not None:
        ledger.request_check(uow.session, customer_id=wallet.customer_id, organization_id=wallet.organization_id)
        uow.after_commit(lambda: runtime.dispatcher.enqueue("check_wallet_thresholds",
                                                            job_id="check-wallet-thresholds"))
    else:
        evaluation.request_check(uow.session, organization_id=alert.organization_id,
                                 subscription_external_id=alert.subscription_external_id)
        uow.after_commit(evaluation.request_run)


# ---------------------------------------------------------------- subscription alerts


def create_subscription_alerts(*, organization_id: str, external_id: str, items: Sequence[object], batch: bool,
                               subscription_status: str | None = None) -> list[Alert]:
    """Create one alert, or a batch all or none (its reasons keyed by each refused alert's index)."""
    with unit_of_work() as uow:
        session = uow.session
        subscription = _subscription(session, organization_id, external_id, subscription_status)
        if subscription.status != "active":
            raise ValidationFailed({"status": ["subscription_must_be_active"]})  # as Lago
        existing = list(session.scalars(_subscription_alerts(organization_id, external_id)).unique())
        made = _create(session, organization_id, items, subscription=subscription, wallet=None,
                       existing=existing, batch=batch)
        if made:
            _measure_soon(uow, made[0], None)
        return made


def list_subscription_alerts(*, organization_id: str, external_id: str, subscription_status: str | None = None,
                             page: int = 1, per_page: int = 20) -> Page:
    with read_only() as session:
        _subscription(session, organization_id, external_id, subscription_status)
        return paginate(session, _subscription_alerts(organization_id, external_id), page=page, per_page=per_page)


def get_subscription_alert(*, organization_id: str, external_id: str, code: str,
                           subscription_status: str | None = None) -> Alert:
    with read_only() as session:
        _subscription(session, organization_id, external_id, subscription_status)
        return _one(session, _subscription_alerts(organization_id, external_id), code)


def update_subscription_alert(*, organization_id: str, external_id: str, code: str, data: Mapping[str, object],
                              subscription_status: str | None = None) -> Alert:
    with unit_of_work() as uow:
        session = uow.session
        _subscription(session, organization_id, external_id, subscription_status)
        alert = _one(session, _subscription_alerts(organization_id, external_id), code, lock=True)
        taken = list(session.scalars(_subscription_alerts(organization_id, external_id)).unique())
        _update(session, alert, data, taken=taken)
        _measure_soon(uow, alert, None)
        return alert


def delete_subscription_alert(*, organization_id: str, external_id: str, code: str,
                              subscription_status: str | None = None) -> Alert:
    with unit_of_work() as uow:
        session = uow.session
        _subscription(session, organization_id, external_id, subscription_status)
        alert = _one(session, _subscription_alerts(organization_id, external_id), code, lock=True)
        _delete(session, [alert])
        return alert


def delete_subscription_alerts(*, organization_id: str, external_id: str,
                               subscription_status: str | None = None) -> int:
    with unit_of_work() as uow:
        session = uow.session
        _subscription(session, organization_id, external_id, subscription_status)
        alerts = list(session.scalars(_subscription_alerts(organization_id, external_id)
                                      .with_for_update(of=Alert)).unique())
        return _delete(session, alerts)


def _delete(session: Session, alerts: list[Alert]) -> int:
    for alert in alerts:
        _record(session, alert, "deleted", _terms(alert), None)
        session.delete(alert)  # its thresholds with it; what it triggered and crossed by the foreign keys
    session.flush()
    return len(alerts)


# ---------------------------------------------------------------- wallet alerts


def create_wallet_alerts(*, organization_id: str, external_customer_id: str, wallet_code: str,
                         items: Sequence[object], batch: bool) -> list[Alert]:
    """Create one wallet alert, or a batch all or none."""
    with unit_of_work() as uow:
        session = uow.session
        wallet = _wallet(session, organization_id, external_customer_id, wallet_code)
        if wallet.status != "active":
            raise ValidationFailed({"wallet": ["wallet_is_terminated"]})
        existing = list(session.scalars(_wallet_alerts(wallet)).unique())
        made = _create(session, organization_id, items, subscription=None, wallet=wallet, existing=existing,
                       batch=batch)
        if made:
            _measure_soon(uow, made[0], wallet)
        return made


def list_wallet_alerts(*, organization_id: str, external_customer_id: str, wallet_code: str,
                       page: int = 1, per_page: int = 20) -> Page:
    with read_only() as session:
        wallet = _wallet(session, organization_id, external_customer_id, wallet_code)
        return paginate(session, _wallet_alerts(wallet), page=page, per_page=per_page)


def get_wallet_alert(*, organization_id: str, external_customer_id: str, wallet_code: str, code: str) -> Alert:
    with read_only() as session:
        wallet = _wallet(session, organization_id, external_customer_id, wallet_code)
        return _one(session, _wallet_alerts(wallet), code)


def update_wallet_alert(*, organization_id: str, external_customer_id: str, wallet_code: str, code: str,
                        data: Mapping[str, object]) -> Alert:
    with unit_of_work() as uow:
        session = uow.session
        wallet = _wallet(session, organization_id, external_customer_id, wallet_code)
        alert = _one(session, _wallet_alerts(wallet), code, lock=True)
        _update(session, alert, data, taken=list(session.scalars(_wallet_alerts(wallet)).unique()))
        _measure_soon(uow, alert, wallet)
        return alert


def delete_wallet_alert(*, organization_id: str, external_customer_id: str, wallet_code: str, code: str) -> Alert:
    with unit_of_work() as uow:
        session = uow.session
        wallet = _wallet(session, organization_id, external_customer_id, wallet_code)
        alert = _one(session, _wallet_alerts(wallet), code, lock=True)
        _delete(session, [alert])
        return alert


def delete_wallet_alerts(*, organization_id: str, external_customer_id: str, wallet_code: str) -> int:
    with unit_of_work() as uow:
        session = uow.session
        wallet = _wallet(session, organization_id, external_customer_id, wallet_code)
        return _delete(session, list(session.scalars(_wallet_alerts(wallet).with_for_update(of=Alert)).unique()))
