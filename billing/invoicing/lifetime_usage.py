"""A subscription's lifetime usage (Lago's lifetime usage): what its usage amounted to since it started.

Lifetime usage = the historical usage sent through the API (usage billed before Tally) + the charge fees of its
past periods' invoices + the usage of its current period so far (before taxes). Usage thresholds compare against
it (`billing.invoicing.progressive`); docs/billing.md, Progressive billing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing.audit.services import record
from billing.catalog.models import UsageThreshold
from billing.catalog.usage_thresholds import plan_thresholds
from billing.db import read_snapshot, unit_of_work
from billing.errors import NotFound
from billing.invoicing.models import AppliedUsageThreshold, Fee, Invoice
from billing.metering.period_usage import usage_between
from billing.ports import runtime
from billing.subscriptions.models import Subscription
from billing.subscriptions.periods import current_charges_period
from billing.subscriptions.services import find_subscription
from billing.validation import Checker

# NOTE: Lago counts the charge fees of `subscription` invoices that are finalized or draft (lago-api
# LifetimeUsages::CalculateService#calculate_invoiced_usage_amount_cents); progressive billing invoices are not
# among them: their usage is the current period's until the period's own invoice bills it.
_INVOICED_STATUSES = ("finalized", "draft")
MAX_RECURRING_LINES = 100


@dataclass(frozen=True)
class LifetimeUsage:
    subscription: Subscription
    historical_usage_amount_cents: int
    invoiced_usage_amount_cents: int
    current_usage_amount_cents: int
    period_start: datetime  # the current charges period's start (its usage is the current usage)
    period_end: datetime
    at: datetime

    @property
    def total_amount_cents(self) -> int:
        return self.historical_usage_amount_cents + self.invoiced_usage_amount_cents + self.current_usage_amount_cents


def read_lifetime_usage(session: Session, subscription: Subscription, at: datetime | None = None) -> LifetimeUsage:
    """The subscription's lifetime usage now (or at `at`): its parts, read in the caller's session."""
    at = at or runtime.clock.now()
    period = current_charges_period(subscription, at)
    start = max(period.start, subscription.started_at or period.start)
    current = 0
    if subscription.status == "active" and subscription.started_at is not None:
        current = usage_between(session, subscription, start, period.end).amount_cents
    invoiced = session.scalar(
        select(func.coalesce(func.sum(Fee.amount_cents), 0)).join(Invoice, Invoice.id == Fee.invoice_id).where(
            Fee.subscription_id == subscription.id, Fee.fee_type == "charge", Fee.from_datetime < start,
            Invoice.invoice_type == "subscription", Invoice.status.in_(_INVOICED_STATUSES))) or 0
    return LifetimeUsage(subscription=subscription,
                         historical_usage_amount_cents=subscription.historical_usage_amount_cents or 0,
                         invoiced_usage_amount_cents=int(invoiced), current_usage_amount_cents=current,
                         period_start=start, period_end=period.end, at=at)


def lifetime_usage_amount_cents(session: Session, subscription: Subscription) -> int:
    """The subscription's lifetime usage amount now, in minor units (before taxes)."""
    return read_lifetime_usage(session, subscription).total_amount_cents


@dataclass(frozen=True)
class ThresholdProgress:
    """One line of Lago's lifetime usage `usage_thresholds`: a level, how far usage is to it, when it was reached."""

    amount_cents: int
    completion_ratio: float
    reached_at: datetime | None


def threshold_progress(thresholds: Sequence[UsageThreshold], total: int,
                       reached: dict[tuple[str, int], datetime], now: datetime) -> list[ThresholdProgress]:
    """Each threshold's progress at lifetime usage `total` (`reached`: when each (threshold, level) was billed).

    NOTE: as Lago's LifetimeUsages::UsageThresholdsCompletionService: the non-recurring thresholds passed are
    complete; the next one's ratio counts from the last one passed; later ones are at 0; the recurring one is
    listed once per multiple passed beyond the largest non-recurring threshold, then with the ratio to the next
    multiple (after the non-recurring ones are all passed) or at 0 beyond the largest of them.
    """
    fixed = sorted((t for t in thresholds if not t.recurring), key=lambda t: t.amount_cents)
    recurring = next((t for t in thresholds if t.recurring), None)
    largest = fixed[-1].amount_cents if fixed else 0
    passed = [t for t in fixed if t.amount_cents <= total]
    pending = [t for t in fixed if t.amount_cents > total]
    lines = [ThresholdProgress(t.amount_cents, 1.0, reached.get((t.id, t.amount_cents), now)) for t in passed]
    last = passed[-1].amount_cents if passed else 0
    if pending:
        first = pending[0]
        lines.append(ThresholdProgress(first.amount_cents, (total - last) / (first.amount_cents - last), None))
        lines.extend(ThresholdProgress(t.amount_cents, 0.0, None) for t in pending[1:])
        if recurring is not None:
            lines.append(ThresholdProgress(largest + recurring.amount_cents, 0.0, None))
    elif recurring is not None:
        step = recurring.amount_cents
        times = (total - largest) // step
        billed = sorted((level, moment) for (threshold_id, level), moment in reached.items()
                        if threshold_id == recurring.id)
        # NOTE: at most the last MAX_RECURRING_LINES multiples passed are listed (a small recurring amount
        # against a large usage would otherwise list millions).
        for index in range(max(1, times - MAX_RECURRING_LINES + 1), times + 1):
            level = largest + index * step
            # A crossing billed at a higher multiple reached the lower ones it passed at the same time.
            moment = next((m for billed_level, m in billed if billed_level >= level), now)
            lines.append(ThresholdProgress(level, 1.0, moment))
        rest = (total - largest) - times * step
        lines.append(ThresholdProgress(largest + (times + 1) * step, rest / step, None))
    return lines


def lifetime_progress(session: Session, usage: LifetimeUsage) -> list[ThresholdProgress]:
    """The progress of the subscription's plan's thresholds at its lifetime usage."""
    thresholds = plan_thresholds(usage.subscription.plan)
    if not thresholds:
        return []
    reached = {(row.usage_threshold_id, row.crossed_amount_cents): row.created_at
               for row in session.scalars(select(AppliedUsageThreshold).where(
                   AppliedUsageThreshold.subscription_id == usage.subscription.id))}
    return threshold_progress(thresholds, usage.total_amount_cents, reached, usage.at)


# ---------------------------------------------------------------- use cases


@dataclass(frozen=True)
class LifetimeUsageReport:
    usage: LifetimeUsage
    progress: list[ThresholdProgress]


def _subscription(session: Session, organization_id: str, external_id: str) -> Subscription:
    subscription = find_subscription(session, organization_id, external_id)
    if subscription is None:
        raise NotFound("subscription")
    return subscription


def get_lifetime_usage(*, organization_id: str, external_id: str) -> LifetimeUsageReport:
    """The subscription's lifetime usage and its thresholds' progress (Lago's GET lifetime_usage)."""
    with read_snapshot() as session:
        subscription = _subscription(session, organization_id, external_id)
        usage = read_lifetime_usage(session, subscription)
        return LifetimeUsageReport(usage=usage, progress=lifetime_progress(session, usage))


def update_lifetime_usage(*, organization_id: str, external_id: str, data: Mapping[str, object]
                          ) -> LifetimeUsageReport:
    """Set the usage billed before Tally (`external_historical_usage_amount_cents`), counted in lifetime usage.

    The subscription's thresholds are evaluated again after commit: lifetime usage may now pass one.
    """
    check = Checker(data)
    amount = check.amount_cents("external_historical_usage_amount_cents", required=True)
    check.done()
    with unit_of_work() as uow:
        subscription = _subscription(uow.session, organization_id, external_id)
        subscription = uow.session.scalar(select(Subscription).where(Subscription.id == subscription.id)
                                          .with_for_update(of=Subscription))
        before = subscription.historical_usage_amount_cents
        subscription.historical_usage_amount_cents = amount
        record(uow.session, organization_id=organization_id, action="subscription.updated",
               object_type="subscription", object_id=subscription.id,
               object_label=subscription.name or subscription.external_id,
               before={"historical_usage_amount_cents": before}, after={"historical_usage_amount_cents": amount},
               currency=subscription.plan.amount_currency)
        uow.session.flush()
        usage = read_lifetime_usage(uow.session, subscription)
        report = LifetimeUsageReport(usage=usage, progress=lifetime_progress(uow.session, usage))
        subscription_id = subscription.id
        if plan_thresholds(subscription.plan):
            uow.after_commit(lambda: runtime.dispatcher.enqueue(
                "evaluate_usage_thresholds", job_id=f"usage-thresholds-{subscription_id}",
                subscription_id=subscription_id))
        return report
