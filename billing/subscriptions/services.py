"""Subscriptions: find, read and change them; mark one ended.

The use cases that also bill (create with a plan change, activate, terminate, end) live in
`billing.lifecycle`, above invoicing; the periods in `billing.subscriptions.periods`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from billing import serializers
from billing.audit.services import record
from billing.catalog.child_plans import create_child_plan
from billing.catalog.models import Plan
from billing.catalog.services import audited_terms
from billing.customers.models import Customer
from billing.db import UnitOfWork, read_only, unit_of_work
from billing.errors import NotFound, ValidationFailed
from billing.pagination import Page, paginate
from billing.ports import runtime
from billing.subscriptions.models import LIVE_STATUSES, Subscription
from billing.subscriptions.periods import current_period, local_date
from billing.validation import Checker
from billing.webhooks import services as webhooks


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


def emit_subscription(session: Session, subscription: Subscription, webhook_type: str) -> None:
    """Report the subscription as the API shows it, in the transaction that changed it."""

    def payload():
        session.flush()
        period = current_period(subscription) if subscription.status == "active" else None
        return serializers.subscription(subscription, period=period, change=_plan_change(session, subscription))

    webhooks.emit(session, subscription.organization_id, webhook_type, "subscription", payload,
                  object_id=subscription.id)


def override_plan(session: Session, plan, overrides: Mapping[str, object], previous=None):
    """A child plan of `plan` carrying one subscription's overrides (docs/billing.md: plan overrides).

    Charges are copied with a link to their parent charge; an override of a charge names the
    parent charge's id (Lago's `plan_overrides.charges[].id`).
    """
    return create_child_plan(session, plan, overrides, previous)


def subscription_terms(subscription: Subscription) -> dict[str, object]:
    """What the audit trail compares of a subscription (its plan by the catalog's code)."""
    plan = subscription.plan
    return {"plan": (plan.parent or plan).code if plan.parent_id else plan.code, "status": subscription.status,
            "name": subscription.name, "subscription_at": subscription.subscription_at,
            "ending_at": subscription.ending_at, "terminated_at": subscription.terminated_at}


def record_subscription(session: Session, subscription: Subscription, action: str, before: dict | None,
                        after: dict | None, *, currency: str | None = None) -> None:
    """Append a subscription's change to the audit trail, in the caller's transaction."""
    record(session, organization_id=subscription.organization_id, action=action, object_type="subscription",
           object_id=subscription.id, object_label=subscription.external_id, before=before, after=after,
           currency=currency)


def record_overrides(session: Session, subscription: Subscription, before: Plan, after: Plan) -> None:
    """The subscription's price terms before and after its plan overrides changed (charges and amounts)."""
    record_subscription(session, subscription, "subscription.overrides_changed", audited_terms(before),
                        audited_terms(after), currency=after.amount_currency)


def apply_overrides(uow: UnitOfWork, subscription: Subscription, overrides: Mapping[str, object]) -> None:
    current = subscription.plan
    before = audited_terms(current)
    base = current if current.parent_id is None else current.parent
    subscription.plan = override_plan(uow.session, base, overrides,
                                      previous=current if current.parent_id is not None else None)
    uow.session.flush()
    uow.session.refresh(subscription)
    record_subscription(uow.session, subscription, "subscription.overrides_changed", before,
                        audited_terms(subscription.plan), currency=subscription.plan.amount_currency)


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
    credit_note, invoice = termination_options(data)
    now = runtime.clock.now()
    with unit_of_work() as uow:
        subscription = find_live_subscription(uow.session, organization_id, external_id)
        if subscription is None:
            raise NotFound("subscription")
        set_termination_options(subscription, credit_note, invoice)
        before = subscription_terms(subscription)
        if overrides:
            apply_overrides(uow, subscription, overrides)
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
        if subscription_terms(subscription) != before:
            record_subscription(uow.session, subscription, "subscription.updated", before,
                                subscription_terms(subscription))
        return subscription


ON_TERMINATION_CREDIT_NOTE = ("credit", "refund", "offset", "skip")
ON_TERMINATION_INVOICE = ("generate", "skip")


def termination_options(data: Mapping[str, object]) -> tuple[str | None, str | None]:
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


def set_termination_options(subscription: Subscription, credit_note: str | None, invoice: str | None) -> None:
    # NOTE: the credit-note choice only means something for a pay-in-advance plan: Lago keeps it null
    # on arrears plans (ignored when sent) and `credit` on advance plans terminated without one.
    if subscription.plan.pay_in_advance and credit_note is not None:
        subscription.on_termination_credit_note = credit_note
    if invoice is not None:
        subscription.on_termination_invoice = invoice


def mark_ended(uow: UnitOfWork, subscription: Subscription, at: datetime) -> None:
    """Cancel a pending subscription, or terminate a live one at `at`, and report it (billing.lifecycle bills it)."""
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
    emit_subscription(uow.session, subscription, webhooks.SUBSCRIPTION_TERMINATED)


def get_subscription(*, organization_id: str, external_id: str) -> Subscription:
    with read_only() as session:
        subscription = find_subscription(session, organization_id, external_id)
        if subscription is None:
            raise NotFound("subscription")
        return subscription


def list_subscriptions(*, organization_id: str, external_customer_id: str | None = None,
                       plan_code: str | None = None, statuses: list[str] | None = None,
                       page: int = 1, per_page: int = 20) -> Page:
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


def customer_subscriptions(session: Session, customer_id: str, options: Sequence = ()) -> list[Subscription]:
    """The customer's subscriptions, newest first; `options`: what to load with them (e.g. usage's plan and charges)."""
    return list(session.execute(select(Subscription).where(Subscription.customer_id == customer_id)
                                .order_by(Subscription.created_at.desc()).options(*options)).unique().scalars())

