"""Subscriptions the clock could not bill (or start, or end): recorded, listed for account managers, retried.

A failure is written in its own transaction, after the one that failed was rolled back, one row per
subscription and step (`billing`, `activation`, `ending`): the period it was billing, the reason, when it
first and last failed and how many times. The transaction that later bills (starts, ends) the
subscription marks it resolved, so the list shows only what still needs someone.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, func, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Mapped, Session, mapped_column

from billing.db import Base, new_id, read_only, unit_of_work, utcnow
from billing.errors import NotFound
from billing.subscriptions.models import Subscription

log = logging.getLogger(__name__)

BILLING, ACTIVATION, ENDING = "billing", "activation", "ending"
STEPS = (BILLING, ACTIVATION, ENDING)
REASON_LENGTH = 500


class BillingFailure(Base):
    __tablename__ = "billing_failures"
    __table_args__ = (
        UniqueConstraint("subscription_id", "step", name="uq_billing_failures_subscription_step"),
        Index("ix_billing_failures_org_open", "organization_id", "resolved_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(16))
    # The period whose billing failed (None when even the subscription's terms could not be worked out).
    period_from: Mapped[datetime | None]
    period_to: Mapped[datetime | None]
    reason: Mapped[str] = mapped_column(String(REASON_LENGTH))
    first_failed_at: Mapped[datetime]
    last_failed_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=1)
    resolved_at: Mapped[datetime | None]


def reason_of(error: BaseException) -> str:
    """The exception's class and message, on one line, trimmed to fit the column."""
    message = " ".join(str(error).replace("\x00", "").split())
    text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return text if len(text) <= REASON_LENGTH else text[:REASON_LENGTH - 1] + "…"


def is_transient(error: BaseException) -> bool:
    """Whether trying again soon may succeed (the database or the network failed), unlike bad data."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, (OperationalError, InterfaceError, ConnectionError, TimeoutError))


def _failing_period(session: Session, subscription: Subscription, at: datetime) -> tuple[datetime, datetime] | None:
    """The first billing of the subscription due by `at` and not issued yet: the one that failed."""
    from billing.invoicing.models import InvoiceSubscription
    from billing.invoicing.services import terms_of
    from billing.subscriptions.schedule import billings

    try:
        billed = set(session.scalars(select(InvoiceSubscription.boundary).where(
            InvoiceSubscription.subscription_id == subscription.id)))
        for billing in billings(terms_of(subscription), at, after=max(billed, default=None)):
            if billing.boundary not in billed:
                start = billing.fee.start if billing.fee else (billing.charges or (billing.boundary,))[0]
                return start, billing.boundary
    except Exception:  # the terms themselves are what fails: no period to name
        return None
    return None


def record_failures(errors: Mapping[str, BaseException], *, step: str, at: datetime | None = None) -> None:
    """Record (or count again) each subscription's failure, in a transaction of its own; never raises."""
    if not errors:
        return
    now = utcnow()
    for subscription_id, error in errors.items():
        log.error("could not %s subscription %s: %s", "bill" if step == BILLING else f"run the {step} of",
                  subscription_id, reason_of(error))
        try:
            _record(subscription_id, step, reason_of(error), at or now, now)
        except Exception:
            log.exception("the failure of subscription %s could not be recorded", subscription_id)


def _record(subscription_id: str, step: str, reason: str, at: datetime, now: datetime) -> None:
    for _ in range(2):  # a concurrent run may insert the same row first: then it is counted again
        try:
            with unit_of_work() as uow:
                session = uow.session
                subscription = session.get(Subscription, subscription_id)
                if subscription is None:
                    return
                period = _failing_period(session, subscription, at) if step == BILLING else None
                failure = session.scalar(select(BillingFailure).where(
                    BillingFailure.subscription_id == subscription_id, BillingFailure.step == step)
                    .with_for_update())
                if failure is None:
                    session.add(BillingFailure(
                        organization_id=subscription.organization_id, subscription_id=subscription_id, step=step,
                        period_from=period and period[0], period_to=period and period[1], reason=reason,
                        first_failed_at=now, last_failed_at=now, attempts=1))
                    return
                if failure.resolved_at is not None or (period and period[1] != failure.period_to):
                    # A new failure (another period, or after it was resolved): counted from now.
                    failure.first_failed_at, failure.attempts, failure.resolved_at = now, 0, None
                failure.period_from, failure.period_to = (period or (failure.period_from, failure.period_to))
                failure.reason, failure.last_failed_at = reason, now
                failure.attempts += 1
            return
        except IntegrityError:
            continue


def resolve_failures(session: Session, subscription_ids: Sequence[str], *, step: str) -> None:
    """Mark the open failures of these subscriptions resolved, in the transaction that just succeeded."""
    if subscription_ids:
        session.execute(update(BillingFailure).where(
            BillingFailure.subscription_id.in_(list(subscription_ids)), BillingFailure.step == step,
            BillingFailure.resolved_at.is_(None)).values(resolved_at=utcnow())
            .execution_options(synchronize_session=False))


def failing_subscriptions(subscription_ids: Sequence[str], *, step: str = BILLING) -> set[str]:
    """Which of these subscriptions failed last time and are not resolved yet."""
    if not subscription_ids:
        return set()
    with read_only() as session:
        return set(session.scalars(select(BillingFailure.subscription_id).where(
            BillingFailure.subscription_id.in_(list(subscription_ids)), BillingFailure.step == step,
            BillingFailure.resolved_at.is_(None))))


# ---------------------------------------------------------------- what the operator and account managers see


@dataclass
class Outcome:
    """What a clock step did to each subscription: `done` (ids), `failed` (id → reason, recorded)."""

    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CouldNotBill:
    """A subscription that failed, named as people know it."""

    id: str | None  # the recorded failure's id (None: not recorded)
    organization_id: str
    subscription_id: str
    external_subscription_id: str
    subscription_name: str | None
    customer_id: str
    external_customer_id: str
    customer_name: str | None
    step: str
    reason: str
    period_from: datetime | None = None
    period_to: datetime | None = None
    first_failed_at: datetime | None = None
    last_failed_at: datetime | None = None
    attempts: int = 0


def _named(rows) -> list[CouldNotBill]:
    return [CouldNotBill(
        id=failure.id, organization_id=failure.organization_id, subscription_id=subscription.id,
        external_subscription_id=subscription.external_id, subscription_name=subscription.name,
        customer_id=subscription.customer_id, external_customer_id=subscription.customer.external_id,
        customer_name=subscription.customer.name, step=failure.step, reason=failure.reason,
        period_from=failure.period_from, period_to=failure.period_to, first_failed_at=failure.first_failed_at,
        last_failed_at=failure.last_failed_at, attempts=failure.attempts) for failure, subscription in rows]


def describe(failed: Mapping[str, tuple[str, str]]) -> list[CouldNotBill]:
    """Name each failed subscription (step, reason) as people know it, with what is recorded of it."""
    from billing.customers.models import Customer

    with read_only() as session:
        rows = session.execute(select(Subscription, Customer).join(
            Customer, Customer.id == Subscription.customer_id).where(Subscription.id.in_(list(failed)))).all()
        recorded = {(f.subscription_id, f.step): f for f in session.scalars(select(BillingFailure).where(
            BillingFailure.subscription_id.in_(list(failed))))}
    named = {}
    for subscription, customer in rows:
        step, reason = failed[subscription.id]
        record = recorded.get((subscription.id, step))
        named[subscription.id] = CouldNotBill(
            id=record.id if record else None, organization_id=subscription.organization_id,
            subscription_id=subscription.id, external_subscription_id=subscription.external_id,
            subscription_name=subscription.name, customer_id=customer.id, external_customer_id=customer.external_id,
            customer_name=customer.name, step=step, reason=reason,
            period_from=record.period_from if record else None, period_to=record.period_to if record else None,
            first_failed_at=record.first_failed_at if record else None,
            last_failed_at=record.last_failed_at if record else None, attempts=record.attempts if record else 0)
    return [named[i] for i in failed if i in named]


def open_failures(*, organization_id: str | None = None,
                  subscription_ids: Sequence[str] | None = None) -> list[CouldNotBill]:
    """The failures not resolved yet, oldest first: of one organization (the admin), or of some subscriptions."""
    query = select(BillingFailure, Subscription).join(
        Subscription, Subscription.id == BillingFailure.subscription_id).where(BillingFailure.resolved_at.is_(None))
    if organization_id is not None:
        query = query.where(BillingFailure.organization_id == organization_id)
    if subscription_ids is not None:
        query = query.where(BillingFailure.subscription_id.in_(list(subscription_ids)))
    with read_only() as session:
        return _named(session.execute(query.order_by(BillingFailure.first_failed_at, BillingFailure.id)).unique())


def count_open_failures(*, organization_id: str) -> int:
    with read_only() as session:
        return session.scalar(select(func.count()).select_from(BillingFailure).where(
            BillingFailure.organization_id == organization_id, BillingFailure.resolved_at.is_(None)))


@dataclass(frozen=True)
class Retried:
    resolved: bool
    invoices: list[str]
    reason: str | None = None  # why it failed again


def retry_failure(*, organization_id: str, failure_id: str, at: datetime | None = None) -> Retried:
    """Run the step that failed again for that one subscription (an account manager's "Retry now")."""
    from billing.errors import NotAllowed
    from billing.invoicing.services import BillingFailed, bill_subscriptions
    from billing.subscriptions.services import activate_pending_subscriptions, end_due_subscriptions

    with read_only() as session:
        failure = session.scalar(select(BillingFailure).where(
            BillingFailure.id == failure_id, BillingFailure.organization_id == organization_id))
        if failure is None:
            raise NotFound("billing_failure")
        subscription_id, step = failure.subscription_id, failure.step
        if failure.resolved_at is not None:  # billed meanwhile (a later run, another tab): nothing to do
            return Retried(True, [])
    if step not in STEPS:
        raise NotAllowed("unknown_step")
    at = at or utcnow()
    if step == BILLING:
        try:
            return Retried(True, bill_subscriptions(subscription_ids=[subscription_id], at=at))
        except BillingFailed as failed:
            return Retried(False, failed.created, failed.reasons.get(subscription_id))
    run = (activate_pending_subscriptions if step == ACTIVATION else end_due_subscriptions)
    outcome = run(at=at, subscription_ids=[subscription_id])
    reason = outcome.failed.get(subscription_id)
    return Retried(reason is None, [], reason)
