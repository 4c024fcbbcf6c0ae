"""Progressive billing: a subscription whose lifetime usage crosses a usage threshold is invoiced at once.

`check_usage_thresholds` (the job asked for after events are rolled up) follows the events by id, like the
wallet threshold check, and evaluates each subscription they moved whose plan has usage thresholds:
`evaluate_usage_thresholds` locks the subscription, reads its lifetime usage, and when it passed a threshold
level not billed yet, issues one `progressive_billing` invoice for the period's usage so far, less what earlier
progressive invoices of the period billed, and reports `subscription.usage_threshold_reached`. The period's own
invoice then deducts what they billed (`period_progressive_credit`). docs/billing.md, Progressive billing.

Exactly once: each crossing is a row of `applied_usage_thresholds`, unique on (subscription, threshold, level),
written with its invoice in one transaction; a killed job leaves nothing or everything, and a rerun (or a
concurrent run) finds the crossing billed, or collides on the constraint and rolls back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import billing.models  # noqa: F401  (every mapper, so the job runs in any process)
from billing import serializers
from billing.catalog.models import UsageThreshold
from billing.catalog.usage_thresholds import plan_thresholds
from billing.db import UnitOfWork, read_only, unit_of_work
from billing.invoicing.amounts import check_amounts
from billing.invoicing.discounts import ProgressiveCredit, apply_coupons_and_taxes, apply_credit_notes, compute_totals
from billing.invoicing.fees import add_charge_fees
from billing.invoicing.finalization import finalize
from billing.invoicing.lifetime_usage import LifetimeUsage, read_lifetime_usage
from billing.invoicing.models import AppliedUsageThreshold, CreditNote, Invoice
from billing.metering import rollups
from billing.metering.store import event_store
from billing.ports import runtime
from billing.subscriptions.models import Subscription
from billing.subscriptions.periods import current_period, local_date
from billing.webhooks import services as webhooks

log = logging.getLogger(__name__)

WATERMARK = "usage_thresholds"
INVOICE_TYPE = "progressive_billing"


@dataclass(frozen=True)
class Crossing:
    threshold: UsageThreshold
    level: int  # the lifetime usage level passed: the threshold's amount, or a multiple of a recurring one


def crossed_levels(thresholds: list[UsageThreshold], billed_cents: int, total_cents: int) -> list[Crossing]:
    """The threshold levels passed since what was billed: each level L with billed < L <= total.

    NOTE: a non-recurring threshold's level is its amount (it fires once); the recurring one's are the
    multiples of its amount beyond the largest non-recurring amount, and only the highest one passed is
    billed (one invoice covers them all). As lago-api LifetimeUsages::UsageThresholds::CheckService, where
    `billed` is the historical usage + the past periods' charge fees + what progressive invoices of the
    current period billed, and `total` is the lifetime usage.
    """
    fixed = [t for t in thresholds if not t.recurring]
    largest = max((t.amount_cents for t in fixed), default=0)
    crossings = [Crossing(t, t.amount_cents) for t in sorted(fixed, key=lambda t: t.amount_cents)
                 if billed_cents < t.amount_cents <= total_cents]
    recurring = next((t for t in thresholds if t.recurring), None)
    if recurring is not None and total_cents - largest >= recurring.amount_cents:
        level = largest + (total_cents - largest) // recurring.amount_cents * recurring.amount_cents
        if level > billed_cents:
            crossings.append(Crossing(recurring, level))
    return crossings


@dataclass
class PeriodBilling:
    """What the progressive invoices of one subscription period billed (net of their own progressive credits)."""

    amount_cents: int = 0
    latest: Invoice | None = None
    invoices: list[Invoice] = field(default_factory=list)
    # What the credit notes on them still hold (available): given back there, so not deducted again.
    credit_notes_cents: int = 0

    @property
    def to_credit_cents(self) -> int:
        return max(self.amount_cents - self.credit_notes_cents, 0)


def period_progressive_billing(session: Session, subscription: Subscription, period_start: datetime
                               ) -> PeriodBilling:
    """The finalized progressive billing invoices of the subscription's charges period starting at `period_start`."""
    invoice_ids = select(AppliedUsageThreshold.invoice_id).where(
        AppliedUsageThreshold.subscription_id == subscription.id, AppliedUsageThreshold.period_start == period_start)
    invoices = list(session.scalars(select(Invoice).where(
        Invoice.id.in_(invoice_ids), Invoice.status == "finalized").order_by(Invoice.created_at, Invoice.id)))
    result = PeriodBilling(invoices=invoices, latest=invoices[-1] if invoices else None)
    result.amount_cents = sum(i.fees_amount_cents - i.progressive_billing_credit_amount_cents for i in invoices)
    if invoices:
        # NOTE: as lago-api Subscriptions::ProgressiveBilledAmount, the available credit notes of the progressive
        # invoices come off what the period's invoice deducts (not off what the threshold check counts as billed).
        result.credit_notes_cents = session.scalar(select(func.coalesce(func.sum(CreditNote.credit_amount_cents), 0))
                                                   .where(CreditNote.invoice_id.in_([i.id for i in invoices]),
                                                          CreditNote.credit_status == "available")) or 0
    return result


def period_progressive_credit(session: Session, invoice: Invoice, subscription: Subscription
                              ) -> ProgressiveCredit | None:
    """What a subscription invoice takes off its charges for its period's progressive invoices (None: nothing).

    NOTE: the period's invoice (at its end, or at termination) deducts what the period's progressive billing
    invoices billed, before coupons and taxes (Lago's Credits::ProgressiveBillingService, shown as
    `progressive_billing_credit_amount_cents`); at most its charge fees (docs/billing.md, Progressive billing).
    """
    link = invoice.invoice_subscriptions[0] if invoice.invoice_subscriptions else None
    if link is None or link.charges_from_datetime is None:
        return None
    return _credit(period_progressive_billing(session, subscription, link.charges_from_datetime))


def _credit(billed: PeriodBilling) -> ProgressiveCredit | None:
    if billed.latest is None or billed.to_credit_cents <= 0:
        return None
    return ProgressiveCredit(amount_cents=billed.to_credit_cents, invoice_id=billed.latest.id,
                             invoice_number=billed.latest.number)


# ---------------------------------------------------------------- the check


@dataclass(frozen=True)
class ThresholdCheck:
    subscriptions: int
    invoices: list[str]
    failed: list[str]


def check_usage_thresholds() -> ThresholdCheck:
    """Evaluate the subscriptions with usage thresholds whose events arrived since the last check.

    Follows the events by id with its own watermark (and the rollup job's insert barrier); the watermark moves
    only once every subscription found was evaluated, so a job killed midway evaluates them again (harmless:
    a crossing bills once). A subscription that fails is logged and evaluated again at its next event.
    """
    store = event_store()
    high = store.settled_high_id()
    with read_only() as session:
        low = rollups.watermark(session, name=WATERMARK)
        if high <= low:
            return ThresholdCheck(subscriptions=0, invoices=[], failed=[])
        moved = store.subscriptions_with_events(session, low, high)
        subscription_ids = list(session.scalars(
            select(Subscription.id).join(UsageThreshold, and_(UsageThreshold.plan_id == Subscription.plan_id,
                                                              UsageThreshold.deleted_at.is_(None)))
            .where(tuple_(Subscription.organization_id, Subscription.external_id).in_(list(moved)),
                   Subscription.status == "active")
            .distinct().order_by(Subscription.id))) if moved else []
    invoices: list[str] = []
    failed: list[str] = []
    for subscription_id in subscription_ids:
        try:
            invoice = evaluate_usage_thresholds(subscription_id=subscription_id)
        except Exception:
            log.exception("checking the usage thresholds of subscription %s failed", subscription_id)
            failed.append(subscription_id)
            continue
        if invoice is not None:
            invoices.append(invoice.id)
    with unit_of_work() as uow:
        current = rollups.watermark(uow.session, name=WATERMARK, for_update=True)
        if high > current:
            rollups.move_watermark(uow.session, name=WATERMARK, to=high)
    return ThresholdCheck(subscriptions=len(subscription_ids), invoices=invoices, failed=failed)


def evaluate_usage_thresholds(*, subscription_id: str, at: datetime | None = None) -> Invoice | None:
    """Issue the progressive billing invoice of the thresholds the subscription passed and did not bill yet.

    Returns the invoice, or None when no new level was passed (or the crossing was billed concurrently).
    """
    try:
        with unit_of_work() as uow:
            session = uow.session
            subscription = session.scalar(select(Subscription).where(Subscription.id == subscription_id)
                                          .with_for_update(of=Subscription))
            if subscription is None or subscription.status != "active":
                return None
            thresholds = plan_thresholds(subscription.plan)
            if not thresholds:
                return None
            usage = read_lifetime_usage(session, subscription, at)
            billed = period_progressive_billing(session, subscription, usage.period_start)
            billed_cents = usage.historical_usage_amount_cents + usage.invoiced_usage_amount_cents + billed.amount_cents
            crossings = crossed_levels(thresholds, billed_cents, usage.total_amount_cents)
            done = {(row.usage_threshold_id, row.crossed_amount_cents) for row in session.execute(
                select(AppliedUsageThreshold.usage_threshold_id, AppliedUsageThreshold.crossed_amount_cents)
                .where(AppliedUsageThreshold.subscription_id == subscription.id))}
            crossings = [c for c in crossings if (c.threshold.id, c.level) not in done]
            if not crossings:
                return None
            return _issue(uow, subscription, usage, billed, crossings)
    except IntegrityError:
        # A concurrent run billed this crossing: nothing of this run was kept.
        log.info("the usage thresholds of subscription %s were billed concurrently", subscription_id)
        return None


def _issue(uow: UnitOfWork, subscription: Subscription, usage: LifetimeUsage, billed: PeriodBilling,
           crossings: list[Crossing]) -> Invoice:
    session = uow.session
    customer = subscription.customer
    now = usage.at
    invoice = Invoice(
        organization_id=subscription.organization_id, customer=customer, invoice_type=INVOICE_TYPE,
        status="draft", payment_status="pending", currency=subscription.plan.amount_currency,
        number=f"{customer.organization.document_number_prefix}-DRAFT",
        issuing_date=local_date(now, customer.applicable_timezone),
        net_payment_term=customer.applicable_net_payment_term, fees=[], credits=[], applied_taxes=[])
    invoice.payment_due_date = invoice.issuing_date + timedelta(days=invoice.net_payment_term)
    session.add(invoice)
    session.flush()
    for crossing in crossings:
        session.add(AppliedUsageThreshold(
            organization_id=subscription.organization_id, invoice_id=invoice.id, subscription_id=subscription.id,
            usage_threshold_id=crossing.threshold.id, crossed_amount_cents=crossing.level,
            lifetime_usage_amount_cents=usage.total_amount_cents, period_start=usage.period_start))
    session.flush()  # a crossing billed concurrently collides here: the whole transaction rolls back
    # NOTE: the period's usage so far of the charges billed in arrears, no minimum true-up (Lago's
    # Invoices::ProgressiveBillingService bills charge fees only), less the period's earlier progressive billing.
    add_charge_fees(session, invoice, subscription, usage.period_start, usage.period_end, true_ups=False)
    check_amounts(invoice.fees, subscription.id)
    apply_coupons_and_taxes(session, invoice, subscription, progressive=_credit(billed))
    apply_credit_notes(session, invoice)
    compute_totals(invoice)
    check_amounts([invoice], subscription.id)
    session.flush()
    finalize(uow, invoice)  # at once, whatever the grace period (Lago finalizes it at once); wallets pay it
    for crossing in crossings:
        _emit_threshold_reached(session, subscription, crossing.threshold)
    return invoice


def _emit_threshold_reached(session: Session, subscription: Subscription, threshold: UsageThreshold) -> None:
    """`subscription.usage_threshold_reached`: the subscription with its plan, customer and the threshold."""

    def payload():
        session.flush()
        return {**serializers.subscription(subscription, period=current_period(subscription)),
                "plan": serializers.plan(subscription.plan), "customer": serializers.customer(subscription.customer),
                "usage_threshold": serializers.usage_threshold(threshold),
                "applicable_usage_thresholds": [serializers.applicable_usage_threshold(t)
                                                for t in plan_thresholds(subscription.plan)]}

    webhooks.emit(session, subscription.organization_id, webhooks.SUBSCRIPTION_USAGE_THRESHOLD_REACHED, "subscription",
                  payload, object_id=subscription.id)


def request_threshold_check() -> None:
    """Ask for the usage threshold check (one waiting run at a time; it evaluates every event past its watermark)."""
    runtime.dispatcher.enqueue("check_usage_thresholds", job_id="check-usage-thresholds")
