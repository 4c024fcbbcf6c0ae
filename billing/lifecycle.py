"""What spans the domain packages: a subscription's life as it reaches invoicing.

Ending a subscription (`end_subscription`: mark it ended, credit the unused days of its advance fee,
bill what it still owes) is written once here and used by every way a subscription ends: a
termination, an upgrade, an `ending_at` that has come, a downgrade taking over and the deletion of
its customer. This module sits above `billing.subscriptions`, `billing.customers` and
`billing.invoicing` (the layers contract in .importlinter): those packages never import it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import select

from billing.catalog.services import find_plan
from billing.customers.models import Customer
from billing.customers.services import ensure_customer, get_customer_in, require_currency
from billing.db import UnitOfWork, read_only, unit_of_work, utcnow
from billing.errors import NotFound, ValidationFailed
from billing.invoicing import failures
from billing.invoicing.runs import bill_termination
from billing.invoicing.termination import credit_unused_advance_fee
from billing.ports import runtime
from billing.subscriptions.models import LIVE_STATUSES, Subscription
from billing.subscriptions.periods import current_period
from billing.subscriptions.services import (
    apply_overrides,
    emit_subscription,
    find_live_subscription,
    mark_ended,
    next_subscription,
    override_plan,
    record_overrides,
    record_subscription,
    set_termination_options,
    subscription_terms,
    termination_options,
)
from billing.validation import Checker
from billing.webhooks import services as webhooks


def end_subscription(uow: UnitOfWork, subscription: Subscription, at: datetime, *, upgrade: bool = False,
                     at_period_end: bool = False) -> None:
    """End the subscription at `at` and bill what it still owes: a pending one is only canceled.

    `upgrade`: ended by a plan upgrade (its unused days are always credited, the change day included).
    `at_period_end`: a downgrade taking over as its period ends: no unused day to credit.
    """
    mark_ended(uow, subscription, at)
    if subscription.status != "terminated":
        return
    uow.session.flush()
    if not at_period_end:
        # NOTE: the credit comes first, so the final invoice (its usage) already takes it (as Lago). An
        # upgrade credits the unused days of an advance fee, the change day included (the new plan bills
        # it), always as credit (Lago's TerminateService with `upgrade: true`; docs/billing.md, Subscriptions).
        credit_unused_advance_fee(uow, subscription, upgrade=upgrade)
    bill_termination(uow, subscription)


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
                    apply_overrides(uow, existing, overrides)
                return existing  # same subscription sent again: nothing else to change (idempotent retry)
            return _change_plan(uow, existing, plan, overrides=overrides, name=name, now=now)
        customer = ensure_customer(uow.session, organization_id, external_customer_id)
        require_currency(customer, plan.amount_currency)
        base_plan = plan
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
        record_subscription(uow.session, subscription, "subscription.created", None, subscription_terms(subscription))
        if overrides:
            record_overrides(uow.session, subscription, base_plan, subscription.plan)
        if subscription.status == "active":
            emit_subscription(uow.session, subscription, webhooks.SUBSCRIPTION_STARTED)
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
    """Upgrade now, or downgrade at the end of the current period (docs/billing.md, Subscriptions).

    NOTE: the direction is decided on yearly amounts (monthly × 12, weekly × 52, ...); equal or
    higher is an upgrade (docs/billing.md; Lago's plan change rules).
    """
    session = uow.session
    before = subscription_terms(current)
    if current.status == "pending":
        # Not started yet: the plan simply changes (Lago replaces a pending subscription's plan).
        current.plan = override_plan(session, plan, overrides) if overrides else plan
        session.flush()
        record_subscription(session, current, "subscription.plan_changed", before, subscription_terms(current))
        return current
    require_currency(current.customer, plan.amount_currency)
    successor = next_subscription(session, current)
    if plan.yearly_amount_cents >= current.plan.yearly_amount_cents:
        if successor is not None:
            successor.status, successor.canceled_at = "canceled", now
        end_subscription(uow, current, now, upgrade=True)
        upgraded = Subscription(
            organization_id=current.organization_id, customer=current.customer,
            plan=override_plan(session, plan, overrides) if overrides else plan, external_id=current.external_id,
            name=name or current.name, billing_time=current.billing_time, subscription_at=now, started_at=now,
            status="active", ending_at=current.ending_at, previous_subscription_id=current.id)
        session.add(upgraded)
        session.flush()
        session.refresh(upgraded)
        record_subscription(session, upgraded, "subscription.upgraded", before, subscription_terms(upgraded))
        emit_subscription(session, upgraded, webhooks.SUBSCRIPTION_STARTED)
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
    record_subscription(session, current, "subscription.downgrade_scheduled", {"next_plan": None},
                        {"next_plan": plan.code, "next_plan_at": period.end})
    return current


def activate_pending_subscriptions(*, organization_id: str | None = None, at: datetime,
                                   subscription_ids: Sequence[str] | None = None) -> failures.Outcome:
    """Start every pending subscription whose `subscription_at` has come (run by the billing clock).

    Each in its own transaction: one that fails is recorded (`billing_failures`) and the others start.
    """
    query = select(Subscription.id).where(Subscription.status == "pending", Subscription.subscription_at <= at)
    if organization_id:
        query = query.where(Subscription.organization_id == organization_id)
    if subscription_ids is not None:
        query = query.where(Subscription.id.in_(list(subscription_ids)))
    with read_only() as session:
        due = list(session.scalars(query.order_by(Subscription.subscription_at, Subscription.id)))
    still_due = (Subscription.status == "pending", Subscription.subscription_at <= at)
    return _each_in_its_own_transaction(due, still_due, failures.ACTIVATION, _activate)


def _each_in_its_own_transaction(due: Sequence[str], still_due: tuple, step: str,
                                 act: Callable[[UnitOfWork, Subscription], None]) -> failures.Outcome:
    """Run `act` on each due subscription in its own transaction, locked and checked still due.

    One that fails is recorded (`billing_failures`, its `step`) and the others go on; one that succeeds
    resolves what an earlier run recorded. A subscription another run took meanwhile is skipped.
    """
    outcome, errors = failures.Outcome(), {}
    for subscription_id in due:
        try:
            with unit_of_work() as uow:
                subscription = uow.session.scalar(select(Subscription).where(
                    Subscription.id == subscription_id, *still_due).with_for_update(of=Subscription))
                if subscription is None:
                    continue  # another run took it
                act(uow, subscription)
                failures.resolve_failures(uow.session, [subscription_id], step=step)
            outcome.done.append(subscription_id)
        except Exception as error:
            errors[subscription_id] = error
    failures.record_failures(errors, step=step)
    outcome.failed.update({i: failures.reason_of(e) for i, e in errors.items()})
    return outcome


def _activate(uow: UnitOfWork, subscription: Subscription) -> None:
    previous = (uow.session.get(Subscription, subscription.previous_subscription_id)
                if subscription.previous_subscription_id else None)
    if previous is not None and previous.status == "active":
        # A downgrade takes over at the end of the period: the old plan's last period is
        # billed as it ends, then the new plan starts.
        end_subscription(uow, previous, subscription.subscription_at, at_period_end=True)
    subscription.status = "active"
    subscription.started_at = subscription.subscription_at
    uow.session.flush()
    emit_subscription(uow.session, subscription, webhooks.SUBSCRIPTION_STARTED)
    _bill_advance_fee_now(uow, subscription)


def terminate_subscription(*, organization_id: str, external_id: str, at: datetime | None = None,
                           options: Mapping[str, object] | None = None) -> Subscription:
    """End a subscription now: an active one is billed for its partial period at once; a pending one is canceled.

    `options`: Lago's `on_termination_credit_note` (credit, refund, skip: what happens to the unused days
    of an advance fee) and `on_termination_invoice` (generate, skip: the final invoice).
    """
    credit_note, invoice = termination_options(options or {})
    at = at or runtime.clock.now()
    with unit_of_work() as uow:
        subscription = find_live_subscription(uow.session, organization_id, external_id)
        if subscription is None:
            raise NotFound("subscription")
        uow.session.execute(select(Subscription.id).where(Subscription.id == subscription.id)
                            .with_for_update())  # lock it before changing its state
        successor = next_subscription(uow.session, subscription)
        if successor is not None:
            mark_ended(uow, successor, at)  # a downgrade that will not happen: canceled
        if subscription.status == "active":
            set_termination_options(subscription, credit_note, invoice)
        before = subscription_terms(subscription)
        end_subscription(uow, subscription, at)
        record_subscription(uow.session, subscription, "subscription.terminated", before,
                            subscription_terms(subscription))
        return subscription


def end_due_subscriptions(*, at: datetime, subscription_ids: Sequence[str] | None = None) -> failures.Outcome:
    """Terminate subscriptions whose `ending_at` has passed and bill what they still owe (`done`: their ids).

    Each in its own transaction: one that fails is recorded (`billing_failures`) and the others end.
    """
    query = select(Subscription.id).where(Subscription.status == "active", Subscription.ending_at.is_not(None),
                                          Subscription.ending_at <= at)
    if subscription_ids is not None:
        query = query.where(Subscription.id.in_(list(subscription_ids)))
    with read_only() as session:
        due = list(session.scalars(query.order_by(Subscription.ending_at, Subscription.id)))
    still_due = (Subscription.status == "active", Subscription.ending_at <= at)
    return _each_in_its_own_transaction(
        due, still_due, failures.ENDING, lambda uow, subscription: end_subscription(uow, subscription,
                                                                                   subscription.ending_at))


def delete_customer(*, organization_id: str, external_id: str) -> Customer:
    """Soft-delete the customer and terminate its live subscriptions (as Lago), keeping its invoices."""
    with unit_of_work() as uow:
        customer = get_customer_in(uow.session, organization_id, external_id)
        now = runtime.clock.now()
        live = select(Subscription).where(Subscription.customer_id == customer.id,
                                          Subscription.status.in_(LIVE_STATUSES))
        for subscription in uow.session.scalars(live.with_for_update(of=Subscription)):
            end_subscription(uow, subscription, now)
        customer.deleted_at = utcnow()
        return customer
