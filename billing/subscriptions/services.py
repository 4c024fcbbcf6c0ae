"""Subscription lifecycle: create (active or pending), activate, terminate; and their billing periods."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from billing import serializers
from billing.catalog.services import find_plan
from billing.customers.services import ensure_customer, require_currency
from billing.db import UnitOfWork, read_only, unit_of_work
from billing.errors import NotFound, ValidationFailed
from billing.pagination import Page, paginate
from billing.ports import runtime
from billing.subscriptions.models import LIVE_STATUSES, Subscription
from billing.subscriptions.periods import Period, local_date, period_containing
from billing.subscriptions.schedule import charges_billed_monthly
from billing.validation import Checker
from billing.webhooks import services as webhooks

if TYPE_CHECKING:
    from billing.invoicing.failures import Outcome


def billing_anchor(subscription: Subscription):
    """The local date periods are anchored to (the subscription date, for anniversary billing)."""
    return local_date(subscription.subscription_at, subscription.customer.applicable_timezone)


def period_at(subscription: Subscription, moment: datetime) -> Period:
    """The full billing period of `subscription` that contains `moment`."""
    return period_containing(moment, interval=subscription.plan.interval, billing_time=subscription.billing_time,
                             anchor=billing_anchor(subscription), timezone=subscription.customer.applicable_timezone)


def current_charges_period(subscription: Subscription, now: datetime | None = None) -> Period:
    """The period the subscription's usage is billed for: its plan period, or a month when the plan
    bills its charges monthly."""
    if not charges_billed_monthly(subscription.plan):
        return current_period(subscription, now)
    return period_containing(_clamped_now(subscription, now), interval="monthly",
                             billing_time=subscription.billing_time,
                             anchor=billing_anchor(subscription), timezone=subscription.customer.applicable_timezone)


def charges_period_at(subscription: Subscription, moment: datetime) -> Period:
    """The full period of the subscription's usage that contains `moment` (a month when charges are billed monthly)."""
    if not charges_billed_monthly(subscription.plan):
        return period_at(subscription, moment)
    return period_containing(moment, interval="monthly", billing_time=subscription.billing_time,
                             anchor=billing_anchor(subscription), timezone=subscription.customer.applicable_timezone)


def _clamped_now(subscription: Subscription, now: datetime | None) -> datetime:
    now = now or runtime.clock.now()
    if subscription.terminated_at is not None:
        now = min(now, subscription.terminated_at)
    if subscription.started_at is not None:
        now = max(now, subscription.started_at)
    return now


def current_period(subscription: Subscription, now: datetime | None = None) -> Period:
    return period_at(subscription, _clamped_now(subscription, now))


def find_live_subscription(session: Session, organization_id: str, external_id: str,
                           options: Sequence = ()) -> Subscription | None:
    """The active subscription with this external_id, else a pending one (not yet started).

    `options`: loader options of the caller (e.g. not loading relationships it does not need).
    """
    # An active subscription may have a pending successor under the same external_id (a
    # downgrade waiting for the period end): the active one is the subscription until then.
    # unique(): the caller's options may load collections in the same statement (joined eager loads).
    return session.execute(select(Subscription).where(
        Subscription.organization_id == organization_id, Subscription.external_id == external_id,
        Subscription.status.in_(LIVE_STATUSES),
    ).order_by((Subscription.status == "active").desc(), Subscription.created_at.desc())
        .options(*options)).unique().scalars().first()


def recurring_since(subscription: Subscription) -> datetime:
    """Since when a recurring metric's units count for this subscription (seats carried across plan changes).

    NOTE: an upgrade or downgrade makes a new subscription under the same external id, and the events
    stay keyed by it: the seats added before the change are still held after it, so a recurring metric
    counts from the start of the first subscription of that chain (as Lago dates a plan change's
    subscription from its `initial_started_at`, the earliest start under the same external id; lago-api
    `Subscription#initial_started_at`). Metered metrics still reset with each period. One query per
    earlier plan, none without a plan change (docs/billing.md, Subscriptions).
    """
    since = subscription.started_at
    previous_id = subscription.previous_subscription_id
    session = object_session(subscription)
    while previous_id is not None and session is not None:
        previous = session.get(Subscription, previous_id)
        if previous is None or previous.external_id != subscription.external_id or previous.started_at is None:
            break
        since = min(since, previous.started_at)
        previous_id = previous.previous_subscription_id
    return since


def next_subscription(session: Session, subscription: Subscription) -> Subscription | None:
    """The pending subscription that replaces this one at the end of its period (a downgrade)."""
    return session.scalar(select(Subscription).where(
        Subscription.previous_subscription_id == subscription.id, Subscription.status == "pending"))


def find_subscription(session: Session, organization_id: str, external_id: str,
                      options: Sequence = ()) -> Subscription | None:
    """The live subscription with this external_id, else the latest ended one."""
    live = find_live_subscription(session, organization_id, external_id, options)
    if live is not None:
        return live
    return session.execute(select(Subscription).where(
        Subscription.organization_id == organization_id, Subscription.external_id == external_id,
    ).order_by(Subscription.created_at.desc()).options(*options)).unique().scalars().first()


@dataclass(frozen=True)
class PlanChange:
    previous_plan_code: str | None
    next_plan_code: str | None
    downgrade_plan_date: date | None


def plan_change_of(subscription: Subscription) -> PlanChange:
    """What came before this subscription, and the downgrade waiting to replace it, if any."""
    with read_only() as session:
        return _plan_change(session, subscription)


def _plan_change(session: Session, subscription: Subscription) -> PlanChange:
    previous = (session.get(Subscription, subscription.previous_subscription_id)
                if subscription.previous_subscription_id else None)
    successor = next_subscription(session, subscription)
    return PlanChange(
        previous_plan_code=previous.plan.code if previous else None,
        next_plan_code=successor.plan.code if successor else None,
        downgrade_plan_date=(local_date(successor.subscription_at, subscription.customer.applicable_timezone)
                             if successor else None))


def _emit_subscription(session: Session, subscription: Subscription, webhook_type: str) -> None:
    """Report the subscription as the API shows it, in the transaction that changed it."""

    def payload():
        session.flush()
        period = current_period(subscription) if subscription.status == "active" else None
        return serializers.subscription(subscription, period=period, change=_plan_change(session, subscription))

    webhooks.emit(session, subscription.organization_id, webhook_type, "subscription", payload,
                  object_id=subscription.id)


def create_subscription(*, organization_id: str, data: Mapping[str, object]) -> Subscription:
    """Subscribe a customer (created if unknown, as Lago) to a plan, now or at `subscription_at`."""
    check = Checker(data)
    external_customer_id = check.string("external_customer_id", required=True)
    plan_code = check.string("plan_code", required=True)
    external_id = check.string("external_id") or external_customer_id
    name = check.string("name")
    billing_time = check.choice("billing_time", ("calendar", "anniversary")) or "calendar"
    subscription_at = check.datetime("subscription_at")
    ending_at = check.datetime("ending_at")
    overrides = data.get("plan_overrides")
    if overrides is not None and not isinstance(overrides, Mapping):
        check.fail("plan_overrides", "invalid_type")
    check.done()
    now = runtime.clock.now()
    subscription_at = subscription_at or now
    if ending_at is not None and ending_at <= max(subscription_at, now):
        raise ValidationFailed({"ending_at": ["invalid_date"]})
    with unit_of_work() as uow:
        plan = find_plan(uow.session, organization_id, plan_code)
        if plan is None:
            raise NotFound("plan")
        existing = find_live_subscription(uow.session, organization_id, external_id)
        if existing is not None:
            if existing.customer.external_id != external_customer_id:
                raise ValidationFailed({"external_id": ["value_already_exist"]})
            if existing.plan_id == plan.id or existing.plan.parent_id == plan.id:
                if overrides:
                    _apply_overrides(uow, existing, overrides)
                return existing  # same subscription sent again: nothing else to change (idempotent retry)
            return _change_plan(uow, existing, plan, overrides=overrides, name=name, now=now)
        customer = ensure_customer(uow.session, organization_id, external_customer_id)
        require_currency(customer, plan.amount_currency)
        if overrides:
            plan = override_plan(uow.session, plan, overrides)
        subscription = Subscription(
            organization_id=organization_id, customer=customer, plan=plan, external_id=external_id, name=name,
            billing_time=billing_time, subscription_at=subscription_at, ending_at=ending_at, status="pending")
        if subscription_at <= now:
            subscription.status = "active"
            subscription.started_at = subscription_at
        uow.session.add(subscription)
        uow.session.flush()
        uow.session.refresh(subscription)
        if subscription.status == "active":
            _emit_subscription(uow.session, subscription, webhooks.SUBSCRIPTION_STARTED)
            _bill_advance_fee_now(uow, subscription)
        return subscription


def _bill_advance_fee_now(uow: UnitOfWork, subscription: Subscription) -> None:
    if subscription.plan.pay_in_advance:
        # An advance fee is due the moment the subscription starts (Lago bills it at once).
        subscription_id = subscription.id
        uow.after_commit(lambda: runtime.dispatcher.enqueue(
            "bill_subscription", job_id=f"bill-{subscription_id}-start", subscription_id=subscription_id,
            at=runtime.clock.now().isoformat()))


def _change_plan(uow: UnitOfWork, current: Subscription, plan, *, overrides, name: str | None,
                 now: datetime) -> Subscription:
    """Upgrade now, or downgrade at the end of the current period (BILLING.md, Subscriptions).

    NOTE: the direction is decided on yearly amounts (monthly × 12, weekly × 52, ...); equal or
    higher is an upgrade (BILLING.md; Lago's plan change rules).
    """
    from billing.invoicing.services import bill_termination
    from billing.invoicing.termination import credit_unused_advance_fee

    session = uow.session
    if current.status == "pending":
        # Not started yet: the plan simply changes (Lago replaces a pending subscription's plan).
        current.plan = override_plan(session, plan, overrides) if overrides else plan
        return current
    require_currency(current.customer, plan.amount_currency)
    successor = next_subscription(session, current)
    if plan.yearly_amount_cents >= current.plan.yearly_amount_cents:
        if successor is not None:
            successor.status, successor.canceled_at = "canceled", now
        _terminate(uow, current, now)
        session.flush()
        # NOTE: an upgrade credits the unused days of an advance fee, the change day included (the new
        # plan bills it), always as credit (Lago's TerminateService with `upgrade: true`).
        credit_unused_advance_fee(uow, current, upgrade=True)
        bill_termination(uow, current)
        upgraded = Subscription(
            organization_id=current.organization_id, customer=current.customer,
            plan=override_plan(session, plan, overrides) if overrides else plan, external_id=current.external_id,
            name=name or current.name, billing_time=current.billing_time, subscription_at=now, started_at=now,
            status="active", ending_at=current.ending_at, previous_subscription_id=current.id)
        session.add(upgraded)
        session.flush()
        session.refresh(upgraded)
        _emit_subscription(session, upgraded, webhooks.SUBSCRIPTION_STARTED)
        _bill_advance_fee_now(uow, upgraded)
        return upgraded
    period = current_period(current, now)
    if successor is None:
        successor = Subscription(
            organization_id=current.organization_id, customer=current.customer, external_id=current.external_id,
            billing_time=current.billing_time, status="pending", previous_subscription_id=current.id,
            ending_at=current.ending_at, subscription_at=period.end, name=name or current.name, plan=plan)
        session.add(successor)
    successor.plan = override_plan(session, plan, overrides) if overrides else plan
    successor.subscription_at = period.end
    session.flush()
    session.refresh(current)
    return current


def override_plan(session: Session, plan, overrides: Mapping[str, object], previous=None):
    """A child plan of `plan` carrying one subscription's overrides (BILLING.md: plan overrides).

    Charges are copied with a link to their parent charge; an override of a charge names the
    parent charge's id (Lago's `plan_overrides.charges[].id`).
    """
    from billing.catalog.services import create_child_plan

    return create_child_plan(session, plan, overrides, previous)


def _apply_overrides(uow: UnitOfWork, subscription: Subscription, overrides: Mapping[str, object]) -> None:
    current = subscription.plan
    base = current if current.parent_id is None else current.parent
    subscription.plan = override_plan(uow.session, base, overrides,
                                      previous=current if current.parent_id is not None else None)
    uow.session.flush()
    uow.session.refresh(subscription)


def update_subscription(*, organization_id: str, external_id: str, data: Mapping[str, object]) -> Subscription:
    """Change a live subscription's name, `ending_at`, plan overrides, or (while pending) its `subscription_at`."""
    check = Checker(data)
    name = check.string("name")
    ending_at = check.datetime("ending_at")
    subscription_at = check.datetime("subscription_at")
    overrides = data.get("plan_overrides")
    if overrides is not None and not isinstance(overrides, Mapping):
        check.fail("plan_overrides", "invalid_type")
    check.done()
    credit_note, invoice = _termination_options(data)
    now = runtime.clock.now()
    with unit_of_work() as uow:
        subscription = find_live_subscription(uow.session, organization_id, external_id)
        if subscription is None:
            raise NotFound("subscription")
        _set_termination_options(subscription, credit_note, invoice)
        if overrides:
            _apply_overrides(uow, subscription, overrides)
        if subscription_at is not None:
            if subscription.status != "pending":
                raise ValidationFailed({"subscription_at": ["cannot_change_once_started"]})
            subscription.subscription_at = subscription_at
        if "ending_at" in data:
            if ending_at is not None and ending_at <= max(now, subscription.subscription_at):
                raise ValidationFailed({"ending_at": ["invalid_date"]})
            subscription.ending_at = ending_at
        if "name" in data:
            subscription.name = name
        return subscription


def activate_pending_subscriptions(*, organization_id: str | None = None, at: datetime,
                                   subscription_ids: Sequence[str] | None = None) -> Outcome:
    """Start every pending subscription whose `subscription_at` has come (run by the billing clock).

    Each in its own transaction: one that fails is recorded (`billing_failures`) and the others start.
    """
    from billing.invoicing import failures

    query = select(Subscription.id).where(Subscription.status == "pending", Subscription.subscription_at <= at)
    if organization_id:
        query = query.where(Subscription.organization_id == organization_id)
    if subscription_ids is not None:
        query = query.where(Subscription.id.in_(list(subscription_ids)))
    with read_only() as session:
        due = list(session.scalars(query.order_by(Subscription.subscription_at, Subscription.id)))
    outcome, errors = failures.Outcome(), {}
    for subscription_id in due:
        try:
            with unit_of_work() as uow:
                subscription = uow.session.scalar(select(Subscription).where(
                    Subscription.id == subscription_id, Subscription.status == "pending",
                    Subscription.subscription_at <= at).with_for_update(of=Subscription))
                if subscription is None:
                    continue  # another run started it
                _activate(uow, subscription)
                failures.resolve_failures(uow.session, [subscription_id], step=failures.ACTIVATION)
            outcome.done.append(subscription_id)
        except Exception as error:
            errors[subscription_id] = error
    failures.record_failures(errors, step=failures.ACTIVATION)
    outcome.failed.update({i: failures.reason_of(e) for i, e in errors.items()})
    return outcome


def _activate(uow: UnitOfWork, subscription: Subscription) -> None:
    from billing.invoicing.services import bill_termination

    previous = (uow.session.get(Subscription, subscription.previous_subscription_id)
                if subscription.previous_subscription_id else None)
    if previous is not None and previous.status == "active":
        # A downgrade takes over at the end of the period: the old plan's last period is
        # billed as it ends, then the new plan starts.
        _terminate(uow, previous, subscription.subscription_at)
        uow.session.flush()
        bill_termination(uow, previous)
    subscription.status = "active"
    subscription.started_at = subscription.subscription_at
    uow.session.flush()
    _emit_subscription(uow.session, subscription, webhooks.SUBSCRIPTION_STARTED)
    _bill_advance_fee_now(uow, subscription)


ON_TERMINATION_CREDIT_NOTE = ("credit", "refund", "offset", "skip")
ON_TERMINATION_INVOICE = ("generate", "skip")


def _termination_options(data: Mapping[str, object]) -> tuple[str | None, str | None]:
    """`on_termination_credit_note` and `on_termination_invoice` as sent (None: not sent; "" means the default).

    NOTE: Lago's values: credit note `credit` (default), `refund`, `offset`, `skip`; invoice `generate`
    (default), `skip`; anything else is 422 `invalid_value` (lago-api's subscriptions request spec).
    """
    errors: dict[str, list[str]] = {}
    found: list[str | None] = []
    for name, allowed, default in (("on_termination_credit_note", ON_TERMINATION_CREDIT_NOTE, "credit"),
                                   ("on_termination_invoice", ON_TERMINATION_INVOICE, "generate")):
        value = data.get(name)
        if value is None:
            found.append(None)
        elif value == "":
            found.append(default)
        elif value not in allowed:
            errors[name] = ["invalid_value"]
        else:
            found.append(str(value))
    if errors:
        raise ValidationFailed(errors)
    return found[0], found[1]


def _set_termination_options(subscription: Subscription, credit_note: str | None, invoice: str | None) -> None:
    # NOTE: the credit-note choice only means something for a pay-in-advance plan: Lago keeps it null
    # on arrears plans (ignored when sent) and `credit` on advance plans terminated without one.
    if subscription.plan.pay_in_advance and credit_note is not None:
        subscription.on_termination_credit_note = credit_note
    if invoice is not None:
        subscription.on_termination_invoice = invoice


def terminate_subscription(*, organization_id: str, external_id: str, at: datetime | None = None,
                           options: Mapping[str, object] | None = None) -> Subscription:
    """End a subscription now: an active one is billed for its partial period at once; a pending one is canceled.

    `options`: Lago's `on_termination_credit_note` (credit, refund, skip: what happens to the unused days
    of an advance fee) and `on_termination_invoice` (generate, skip: the final invoice).
    """
    from billing.invoicing.services import bill_termination
    from billing.invoicing.termination import credit_unused_advance_fee

    credit_note, invoice = _termination_options(options or {})
    at = at or runtime.clock.now()
    with unit_of_work() as uow:
        subscription = find_live_subscription(uow.session, organization_id, external_id)
        if subscription is None:
            raise NotFound("subscription")
        uow.session.execute(select(Subscription.id).where(Subscription.id == subscription.id)
                            .with_for_update())  # lock it before changing its state
        successor = next_subscription(uow.session, subscription)
        if successor is not None:
            _terminate(uow, successor, at)  # a downgrade that will not happen: canceled
        if subscription.status == "active":
            _set_termination_options(subscription, credit_note, invoice)
        _terminate(uow, subscription, at)
        if subscription.status == "terminated":
            # The credit comes first, so the final invoice (its usage) already takes it (as Lago).
            credit_unused_advance_fee(uow, subscription)
            bill_termination(uow, subscription)
        return subscription


def _terminate(uow: UnitOfWork, subscription: Subscription, at: datetime) -> None:
    if subscription.status == "pending":
        subscription.status = "canceled"
        subscription.canceled_at = at
    else:
        subscription.status = "terminated"
        subscription.terminated_at = max(at, subscription.started_at or at)
        if subscription.plan.pay_in_advance and subscription.on_termination_credit_note is None:
            subscription.on_termination_credit_note = "credit"  # what it was terminated with (Lago's default)
    # A pending subscription ended before it started is reported as terminated too: its payload's
    # status (`canceled`) tells the two apart.
    _emit_subscription(uow.session, subscription, webhooks.SUBSCRIPTION_TERMINATED)


def terminate_subscriptions_of_customer(uow: UnitOfWork, customer) -> None:
    from billing.invoicing.services import bill_termination
    from billing.invoicing.termination import credit_unused_advance_fee

    now = runtime.clock.now()
    live = select(Subscription).where(Subscription.customer_id == customer.id,
                                      Subscription.status.in_(LIVE_STATUSES))
    for subscription in uow.session.scalars(live.with_for_update(of=Subscription)):
        _terminate(uow, subscription, now)
        if subscription.status == "terminated":
            credit_unused_advance_fee(uow, subscription)
            bill_termination(uow, subscription)


def end_due_subscriptions(*, at: datetime, subscription_ids: Sequence[str] | None = None) -> Outcome:
    """Terminate subscriptions whose `ending_at` has passed and bill what they still owe (`done`: their ids).

    Each in its own transaction: one that fails is recorded (`billing_failures`) and the others end.
    """
    from billing.invoicing import failures
    from billing.invoicing.services import bill_termination
    from billing.invoicing.termination import credit_unused_advance_fee

    query = select(Subscription.id).where(Subscription.status == "active", Subscription.ending_at.is_not(None),
                                          Subscription.ending_at <= at)
    if subscription_ids is not None:
        query = query.where(Subscription.id.in_(list(subscription_ids)))
    with read_only() as session:
        due = list(session.scalars(query.order_by(Subscription.ending_at, Subscription.id)))
    outcome, errors = failures.Outcome(), {}
    for subscription_id in due:
        try:
            with unit_of_work() as uow:
                subscription = uow.session.scalar(select(Subscription).where(
                    Subscription.id == subscription_id, Subscription.status == "active",
                    Subscription.ending_at <= at).with_for_update(of=Subscription))
                if subscription is None:
                    continue  # another run ended it
                _terminate(uow, subscription, subscription.ending_at)
                credit_unused_advance_fee(uow, subscription)
                bill_termination(uow, subscription)
                failures.resolve_failures(uow.session, [subscription_id], step=failures.ENDING)
            outcome.done.append(subscription_id)
        except Exception as error:
            errors[subscription_id] = error
    failures.record_failures(errors, step=failures.ENDING)
    outcome.failed.update({i: failures.reason_of(e) for i, e in errors.items()})
    return outcome


def get_subscription(*, organization_id: str, external_id: str) -> Subscription:
    with read_only() as session:
        subscription = find_subscription(session, organization_id, external_id)
        if subscription is None:
            raise NotFound("subscription")
        return subscription


def list_subscriptions(*, organization_id: str, external_customer_id: str | None = None,
                       plan_code: str | None = None, statuses: list[str] | None = None,
                       page: int = 1, per_page: int = 20) -> Page:
    from billing.catalog.models import Plan
    from billing.customers.models import Customer

    query = select(Subscription).where(Subscription.organization_id == organization_id)
    if external_customer_id:
        query = query.join(Customer, Subscription.customer_id == Customer.id).where(
            Customer.external_id == external_customer_id, Customer.deleted_at.is_(None))
    if plan_code:
        query = query.join(Plan, Subscription.plan_id == Plan.id).where(Plan.code == plan_code)
    query = query.where(Subscription.status.in_(statuses or ["active"]))
    with read_only() as session:
        return paginate(session, query.order_by(Subscription.created_at.desc(), Subscription.id),
                        page=page, per_page=per_page)


def customer_subscriptions(session: Session, customer_id: str) -> list[Subscription]:
    return list(session.scalars(select(Subscription).where(Subscription.customer_id == customer_id)
                                .order_by(Subscription.created_at.desc())))

